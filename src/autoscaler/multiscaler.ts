// Runs the decider for every watched revision: a collector scrapes each revision's ready pods
// once a second (Knative's scrape tick) and the activators push their own stats; on each decider
// tick the windowed metrics are decided on, the serving mode switched and the resulting scale
// asked of the runtime. The decider stays pure; the clock, scraping and both side effects arrive
// through narrow interfaces.
import type { Logger } from '../log/logger.js';
import type { Endpoint, RevisionMode } from '../model/desired.js';
import { applyScale, decide, INITIAL_STATE, servingMode, type Decision, type DeciderState } from './decider.js';
import { RevisionMetrics } from './revision-metrics.js';
import { scrapeRevision, type ScrapeResult } from './scraper.js';
import type { DeciderSpec } from '../model/autoscaling.js';
import type { Stat } from '../model/stat.js';

/** Knative scrapes every second, whatever the decider's tick: each bucket gets one scrape. */
const SCRAPE_MS = 1000;
/**
 * Activators push each second; a push younger than this still says requests wait there. Older,
 * the activator is late or gone, and its requests with it.
 */
export const ACTIVATOR_STAT_FRESH_MS = 3000;

export interface PodScaler {
  scale(revisionKey: string, pods: number): void;
  /** Ready pods' queue-proxy metrics endpoints. */
  readyMetricsEndpoints(revisionKey: string): Endpoint[];
}

export interface ServingModeSwitch {
  /** Puts the activator in (proxy) or out of (serve) the path; for proxy, confirms it is really there. */
  setMode(revisionKey: string, mode: RevisionMode): Promise<{ confirmed: boolean; reason?: string }>;
}

export interface RevisionScaleStatus {
  revision: string;
  desiredPods: number;
  actualPods: number;
  stable: number;
  panic: number;
  panicking: boolean;
  excessBurstCapacity: number;
  mode: RevisionMode;
  /** Requests the activators said they hold (their latest fresh pushes, summed). */
  heldAtActivators: number;
  reason: string;
}

interface Watched {
  spec: DeciderSpec;
  metrics: RevisionMetrics;
  state: DeciderState;
  mode: RevisionMode | undefined;
  proxyConfirmedAt: number | undefined;
  confirmationError: string | undefined;
  switching: boolean;
  status: RevisionScaleStatus;
  /** The step under way, if any; `again` asks it to run once more when it ends. */
  ticking: Promise<void> | undefined;
  again: boolean;
  /** Knative's "scale target initialised": the revision once had initial-scale ready pods. */
  initialised: boolean;
  collecting: boolean;
  /** Why the last scrape found nothing, when it did not. */
  scrapeError: string | undefined;
  /** Each activator's recent pushes (by its pod name): when each arrived and the requests it held. */
  activators: Map<string, Array<{ at: number; held: number }>>;
}

export interface MultiscalerOptions {
  tickMs?: number;
  /** How often ready pods are scraped (default 1000 ms, as Knative). */
  scrapeMs?: number;
  now?: () => number;
  scaler: PodScaler;
  modeSwitch: ServingModeSwitch;
  scrape?: (endpoints: Endpoint[]) => Promise<ScrapeResult>;
  log: Logger;
}

export class Multiscaler {
  private readonly revisions = new Map<string, Watched>();
  private readonly timers: NodeJS.Timeout[];
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly o: MultiscalerOptions) {
    this.now = o.now ?? Date.now;
    this.timers = [
      setInterval(() => void this.collectAll(), o.scrapeMs ?? SCRAPE_MS),
      setInterval(() => void this.tickAll(), o.tickMs ?? 1000),
    ];
    for (const timer of this.timers) timer.unref();
  }

  /** Starts deciding for a revision; its pods start at initial-scale (at least min-scale). */
  watch(key: string, spec: DeciderSpec): void {
    const existing = this.revisions.get(key);
    if (existing) {
      existing.spec = spec;
      return;
    }
    const initial = Math.max(spec.initialScale, spec.minScale);
    this.revisions.set(key, {
      spec,
      metrics: new RevisionMetrics(spec.stableWindowMs, spec.panicWindowMs),
      state: INITIAL_STATE,
      mode: undefined,
      proxyConfirmedAt: undefined,
      confirmationError: undefined,
      switching: false,
      ticking: undefined,
      again: false,
      initialised: initial === 0,
      collecting: false,
      scrapeError: undefined,
      activators: new Map(),
      status: {
        revision: key,
        desiredPods: initial,
        actualPods: 0,
        stable: 0,
        panic: 0,
        panicking: false,
        excessBurstCapacity: 0,
        mode: 'proxy',
        heldAtActivators: 0,
        reason: `initial scale ${initial}`,
      },
    });
    this.o.scaler.scale(key, initial);
  }

  unwatch(key: string): void {
    this.revisions.delete(key);
  }

  /** An activator's push. Demand for a revision at zero is acted on at once (Knative's Poke). */
  recordActivatorStat(key: string, stat: Stat): void {
    const w = this.revisions.get(key);
    if (!w) return;
    const now = this.now();
    const at = sentAt(stat, now, w.spec.stableWindowMs);
    w.metrics.record(at, stat);
    const pushes = w.activators.get(stat.podName) ?? [];
    pushes.push({ at, held: stat.averageConcurrentRequests });
    w.activators.set(stat.podName, pushes);
    // Demand at zero, or more held at one activator than the current scale serves: decide now
    // rather than at the next tick (up to tickMs later), so a burst's scale-up starts while its
    // first pods boot. Scaling down still waits for the tick.
    const asks = Math.ceil(stat.averageConcurrentRequests / w.spec.targetValue);
    if (stat.averageConcurrentRequests > 0 && (w.status.desiredPods === 0 || asks > w.status.desiredPods))
      void this.tick(key);
  }

  /**
   * Requests the activators hold for the revision: each one's most among its fresh pushes (its
   * immediate push of a first request counts 1, and its next report leaves that 1 out).
   */
  private heldAtActivators(w: Watched, now: number): number {
    let held = 0;
    for (const [name, pushes] of w.activators) {
      const fresh = pushes.filter((p) => now - p.at <= ACTIVATOR_STAT_FRESH_MS);
      if (fresh.length === 0) w.activators.delete(name);
      else w.activators.set(name, fresh);
      held += Math.max(0, ...fresh.map((p) => p.held));
    }
    return held;
  }

  private async collectAll(): Promise<void> {
    await Promise.all([...this.revisions.keys()].map((k) => this.collect(k)));
  }

  /** One scrape of the revision's ready pods into its windows; a failed scrape records nothing. */
  async collect(key: string): Promise<void> {
    const w = this.revisions.get(key);
    if (!w || w.collecting || this.closed) return;
    const endpoints = this.o.scaler.readyMetricsEndpoints(key);
    if (endpoints.length === 0) return; // nothing to scrape: the activators' pushes are the only data
    w.collecting = true;
    try {
      const scraped = await (this.o.scrape ?? scrapeRevision)(endpoints);
      if (scraped.stat) w.metrics.record(this.now(), scraped.stat);
      w.scrapeError = scraped.stat
        ? undefined
        : `no pod answered the scrape (${scraped.failed[0]?.error ?? 'none sampled'})`;
    } catch (err) {
      w.scrapeError = (err as Error).message;
    } finally {
      w.collecting = false;
    }
  }

  status(): RevisionScaleStatus[] {
    return [...this.revisions.values()].map((w) => ({ ...w.status }));
  }

  private async tickAll(): Promise<void> {
    await Promise.all([...this.revisions.keys()].map((k) => this.tick(k)));
  }

  /**
   * Decides for one revision. A call while a step is under way does not start a second one: it
   * has that step run once more when it ends (so newer metrics are never dropped) and resolves then.
   */
  tick(key: string): Promise<void> {
    const w = this.revisions.get(key);
    if (!w || this.closed) return Promise.resolve();
    if (w.ticking) {
      w.again = true;
      return w.ticking;
    }
    w.ticking = (async () => {
      do {
        w.again = false;
        await this.step(key, w);
      } while (w.again && !this.closed);
      w.ticking = undefined;
    })();
    return w.ticking;
  }

  private async step(key: string, w: Watched): Promise<void> {
    try {
      const readyPods = this.o.scaler.readyMetricsEndpoints(key).length;
      const now = this.now();
      const held = this.heldAtActivators(w, now);
      if (!w.metrics.hasData(w.spec.metric, now)) {
        // Knative: no data is an invalid result, and an invalid result changes nothing. A failed
        // scrape or a late activator must not read as zero demand.
        const why = readyPods > 0 ? (w.scrapeError ?? 'no scrape yet') : 'no ready pod to scrape and no activator stat';
        const reason =
          w.status.desiredPods === 0 && readyPods === 0
            ? 'at zero: no demand'
            : `keeping ${w.status.desiredPods}: no metrics in the last ${w.spec.stableWindowMs / 1000} s (${why})`;
        w.status = { ...w.status, actualPods: readyPods, heldAtActivators: held, reason };
        return;
      }
      const observed = w.metrics.stableAndPanic(w.spec.metric, now);
      const step = decide(w.spec, { readyPods, ...observed }, w.state, now);
      w.state = step.state;
      await this.switchMode(key, w, step.decision, now);
      let scale = applyScale(
        w.spec,
        step.decision.desiredPods,
        {
          proxyConfirmedAt: w.proxyConfirmedAt,
          confirmationError: w.confirmationError,
          atZero: w.status.desiredPods === 0 && readyPods === 0,
        },
        now,
      );
      // Until the revision first reaches its initial scale, it never asks for fewer pods (Knative).
      const initial = Math.max(w.spec.initialScale, w.spec.minScale);
      if (!w.initialised && readyPods >= initial) w.initialised = true;
      if (!w.initialised && scale.pods < initial)
        scale = { pods: initial, reason: `waiting for the first ${initial} pod(s) to be ready (initial scale)` };
      // Requests waiting at an activator are demand until answered, whatever the windows say.
      if (scale.pods === 0 && held > 0)
        scale = { pods: 1, reason: `not scaling to zero: the activators hold ${round2(held)} request(s)` };
      if (scale.pods !== w.status.desiredPods)
        this.o.log.info('scale decision', {
          revision: key,
          from: w.status.desiredPods,
          to: scale.pods,
          reason: scale.reason,
          ...observed,
          heldAtActivators: held,
          readyPods,
          panicking: step.decision.panicking,
        });
      w.status = {
        revision: key,
        desiredPods: scale.pods,
        actualPods: readyPods,
        stable: observed.stable,
        panic: observed.panic,
        panicking: step.decision.panicking,
        excessBurstCapacity: step.decision.excessBurstCapacity,
        mode: w.mode ?? 'proxy',
        heldAtActivators: held,
        reason: scale.reason,
      };
      // A step that was under way when the autoscaler closed decides nothing any more.
      if (!this.closed) this.o.scaler.scale(key, scale.pods);
    } catch (err) {
      this.o.log.error('scaling step failed', { revision: key, error: (err as Error).message });
    }
  }

  private async switchMode(key: string, w: Watched, decision: Decision, now: number): Promise<void> {
    // Like Knative, the mode follows the bounded scale: min-scale pods are never "at zero".
    const bounded = Math.max(decision.desiredPods, w.spec.minScale);
    const wanted: RevisionMode =
      w.spec.targetBurstCapacity === -1 ? 'proxy' : servingMode(bounded, decision.excessBurstCapacity);
    // Re-confirm an unconfirmed proxy mode while the decider wants zero.
    const retry = wanted === 'proxy' && w.proxyConfirmedAt === undefined && decision.desiredPods === 0;
    if (wanted === w.mode && !retry) return;
    const result = await this.o.modeSwitch.setMode(key, wanted);
    w.mode = wanted;
    if (wanted === 'serve') {
      w.proxyConfirmedAt = undefined;
      w.confirmationError = undefined;
    } else if (result.confirmed) {
      w.proxyConfirmedAt ??= now;
      w.confirmationError = undefined;
    } else {
      w.proxyConfirmedAt = undefined;
      w.confirmationError = result.reason ?? 'not confirmed';
    }
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
  }
}

/**
 * The second an activator's stat describes: its own timestamp when that is plausible (not ahead
 * of us, within the window), else the time it arrived. Pushes that queued up while this process
 * was busy then land in the seconds they were sent, one per second each, instead of summing in
 * the second they were read (which once counted 20 waiting requests as 46).
 */
export function sentAt(stat: Stat, now: number, windowMs: number): number {
  const sent = stat.timestamp * 1000;
  return sent > 0 && sent <= now && now - sent < windowMs ? sent : now;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
