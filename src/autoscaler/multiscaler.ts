// Runs the decider for every watched revision on a tick: scrape its pods, add the activators'
// pushes, decide, switch the serving mode, and ask the runtime for the resulting scale. The
// decider stays pure; the clock, scraping and both side effects arrive through narrow interfaces.
import type { Logger } from '../log/logger.js';
import type { Endpoint, RevisionMode } from '../model/desired.js';
import { applyScale, decide, INITIAL_STATE, servingMode, type Decision, type DeciderState } from './decider.js';
import { RevisionMetrics } from './revision-metrics.js';
import { scrapeRevision, type ScrapeResult } from './scraper.js';
import type { DeciderSpec } from './settings.js';
import type { Stat } from './stat.js';

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
  ticking: boolean;
  /** Knative's "scale target initialised": the revision once had initial-scale ready pods. */
  initialised: boolean;
}

export interface MultiscalerOptions {
  tickMs?: number;
  now?: () => number;
  scaler: PodScaler;
  modeSwitch: ServingModeSwitch;
  scrape?: (endpoints: Endpoint[]) => Promise<ScrapeResult>;
  log: Logger;
}

export class Multiscaler {
  private readonly revisions = new Map<string, Watched>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly o: MultiscalerOptions) {
    this.now = o.now ?? Date.now;
    this.timer = setInterval(() => void this.tickAll(), o.tickMs ?? 1000);
    this.timer.unref();
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
      ticking: false,
      initialised: initial === 0,
      status: { revision: key, desiredPods: initial, actualPods: 0, stable: 0, panic: 0, panicking: false, excessBurstCapacity: 0, mode: 'proxy', reason: `initial scale ${initial}` },
    });
    this.o.scaler.scale(key, initial);
  }

  unwatch(key: string): void {
    this.revisions.delete(key);
  }

  /** An activator's push. Demand for a revision with no ready pod is acted on at once. */
  recordActivatorStat(key: string, stat: Stat): void {
    const w = this.revisions.get(key);
    if (!w) return;
    w.metrics.record(this.now(), stat);
    if (stat.averageConcurrentRequests > 0 && this.o.scaler.readyMetricsEndpoints(key).length === 0) void this.tick(key);
  }

  status(): RevisionScaleStatus[] {
    return [...this.revisions.values()].map((w) => ({ ...w.status }));
  }

  private async tickAll(): Promise<void> {
    await Promise.all([...this.revisions.keys()].map((k) => this.tick(k)));
  }

  async tick(key: string): Promise<void> {
    const w = this.revisions.get(key);
    if (!w || w.ticking || this.closed) return;
    w.ticking = true;
    try {
      const endpoints = this.o.scaler.readyMetricsEndpoints(key);
      const scraped = endpoints.length > 0 ? await (this.o.scrape ?? scrapeRevision)(endpoints) : undefined;
      const now = this.now();
      if (scraped?.stat) w.metrics.record(now, scraped.stat);
      const observed = w.metrics.stableAndPanic(w.spec.metric, now);
      const step = decide(w.spec, { readyPods: endpoints.length, ...observed }, w.state, now);
      w.state = step.state;
      await this.switchMode(key, w, step.decision, now);
      let scale = applyScale(w.spec, step.decision.desiredPods, { proxyConfirmedAt: w.proxyConfirmedAt, confirmationError: w.confirmationError, atZero: w.status.desiredPods === 0 && endpoints.length === 0 }, now);
      // Until the revision first reaches its initial scale, it never asks for fewer pods (Knative).
      const initial = Math.max(w.spec.initialScale, w.spec.minScale);
      if (!w.initialised && endpoints.length >= initial) w.initialised = true;
      if (!w.initialised && scale.pods < initial) scale = { pods: initial, reason: `waiting for the first ${initial} pod(s) to be ready (initial scale)` };
      if (scale.pods !== w.status.desiredPods) this.o.log.info('scale decision', { revision: key, from: w.status.desiredPods, to: scale.pods, reason: scale.reason, ...observed, panicking: step.decision.panicking });
      w.status = {
        revision: key,
        desiredPods: scale.pods,
        actualPods: endpoints.length,
        stable: observed.stable,
        panic: observed.panic,
        panicking: step.decision.panicking,
        excessBurstCapacity: step.decision.excessBurstCapacity,
        mode: w.mode ?? 'proxy',
        reason: scale.reason,
      };
      // A step that was under way when the autoscaler closed decides nothing any more.
      if (!this.closed) this.o.scaler.scale(key, scale.pods);
    } catch (err) {
      this.o.log.error('scaling step failed', { revision: key, error: (err as Error).message });
    } finally {
      w.ticking = false;
    }
  }

  private async switchMode(key: string, w: Watched, decision: Decision, now: number): Promise<void> {
    // Like Knative, the mode follows the bounded scale: min-scale pods are never "at zero".
    const bounded = Math.max(decision.desiredPods, w.spec.minScale);
    const wanted: RevisionMode = w.spec.targetBurstCapacity === -1 ? 'proxy' : servingMode(bounded, decision.excessBurstCapacity);
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
    clearInterval(this.timer);
  }
}
