// Confirms that a gateway serves a route's current configuration, like Knative's ingress prober:
// for every host of the route, send `K-Network-Probe: probe` with `K-Network-Hash: override`; the
// gateway's probe route writes in the hash it has, the backend echoes it, and a 200 carrying the
// expected hash confirms that host. Failures back off from 50 ms to 30 s. A new hash restarts it.
import { Agent, request, type Dispatcher } from 'undici';
import type { Logger } from '../log/logger.js';
import {
  H_NETWORK_HASH,
  H_NETWORK_PROBE,
  HASH_PLACEHOLDER,
  PROBE_INGRESS,
  UA_INGRESS_PROBE,
} from '../model/headers.js';

export interface GatewayTarget {
  id: string;
  host: string;
  externalPort: number;
  localPort: number;
  /** The HTTPS listener's port, for tlsHosts. */
  httpsPort?: number;
}

export interface RouteExpectation {
  hash: string;
  externalHosts: string[];
  localHosts: string[];
  /** Probed over HTTPS with the host as SNI (certificates are not verified, as Knative's prober does not). */
  tlsHosts?: string[];
}

export const PROBE_BACKOFF = { initialMs: 50, maxMs: 30_000 } as const;
/** Probes in flight at once across all routes and gateways (Knative's prober runs 15 workers). */
export const PROBE_CONCURRENCY = 15;

/** Delay before the n-th retry (n ≥ 1): 50 ms doubling, capped at 30 s. */
export function probeDelay(attempt: number): number {
  return Math.min(PROBE_BACKOFF.maxMs, PROBE_BACKOFF.initialMs * 2 ** Math.max(0, attempt - 1));
}

interface Job {
  key: string;
  gateway: GatewayTarget;
  expectation: RouteExpectation;
  attempt: number;
  timer: unknown;
  lastError: string | undefined;
  cancelled: boolean;
  /** New config was acknowledged while a probe was in flight: a failure retries at once. */
  retryRequested: boolean;
}

/**
 * One probe: GET /healthz at address:port (over TLS when `tls`, the Host header's name as SNI) with
 * these headers; the status and the K-Network-Hash that came back. Rejects on a transport error.
 */
export type ProbeHttp = (probe: {
  address: string;
  port: number;
  tls: boolean;
  headers: Record<string, string>;
  timeoutMs: number;
}) => Promise<{ status: number; hash: string | undefined }>;

/** The timers the prober backs off with: injectable, so tests move time by hand. */
export interface ProberClock {
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: ProberClock = {
  setTimeout: (run, ms) => setTimeout(run, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Probes over HTTP/1.1 through keep-alive agents shared by all probes, one for plain HTTP and one for TLS. */
export function undiciProbeHttp(agents: { plain: Dispatcher; tls: Dispatcher }): ProbeHttp {
  return async ({ address, port, tls, headers, timeoutMs }) => {
    // Over TLS, undici sends the Host header's name as SNI, which picks the host's certificate.
    const url = `${tls ? 'https' : 'http'}://${address}:${port}/healthz`;
    const res = await request(url, {
      dispatcher: tls ? agents.tls : agents.plain,
      headers,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    await res.body.dump();
    const hash = res.headers[H_NETWORK_HASH];
    return { status: res.statusCode, hash: typeof hash === 'string' ? hash : undefined };
  };
}

export interface ProberOptions {
  /** Per probe (default 1 s). */
  timeoutMs?: number;
  http?: ProbeHttp;
  clock?: ProberClock;
}

export interface ProbeState {
  /** routeKey → gatewayId → the hash that gateway confirmed for it. */
  confirmed: Map<string, Map<string, string>>;
}

export class Prober {
  private readonly expectations = new Map<string, RouteExpectation>();
  private readonly jobs = new Map<string, Job>(); // `${route}\0${gateway}`
  private readonly confirmed = new Map<string, Map<string, string>>();
  private gateways: GatewayTarget[] = [];
  private readonly agents: { plain: Agent; tls: Agent } | undefined;
  private readonly http: ProbeHttp;
  private readonly clock: ProberClock;
  private readonly timeoutMs: number;
  private inFlight = 0;
  private readonly slotWaiters: Array<() => void> = [];

  constructor(
    private readonly log: Logger,
    private readonly onChange: (routeKey: string) => void,
    options: ProberOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.clock = options.clock ?? realClock;
    if (options.http) this.http = options.http;
    else {
      this.agents = {
        plain: new Agent({ connections: PROBE_CONCURRENCY, keepAliveTimeout: 10_000 }),
        tls: new Agent({
          connections: PROBE_CONCURRENCY,
          keepAliveTimeout: 10_000,
          connect: { rejectUnauthorized: false },
        }),
      };
      this.http = undiciProbeHttp(this.agents);
    }
  }

  /** Sets the routes and their current hashes; routes not listed are forgotten. */
  expect(routes: Map<string, RouteExpectation>): void {
    this.update(
      routes,
      [...this.expectations.keys()].filter((key) => !routes.has(key)),
    );
  }

  /**
   * Sets these routes' expectations and forgets those; the others stay as they are. Its cost follows
   * the change, not the number of routes (expect() compares them all).
   */
  update(set: ReadonlyMap<string, RouteExpectation>, remove: Iterable<string>): void {
    for (const key of remove) {
      this.expectations.delete(key);
      this.confirmed.delete(key);
      for (const g of this.gateways) this.dropJob(`${key}\0${g.id}`);
    }
    for (const [key, e] of set) {
      const previous = this.expectations.get(key);
      if (previous === e || (previous && previous.hash === e.hash && sameHosts(previous, e))) continue;
      this.expectations.set(key, e);
      this.scheduleRoute(key, e);
    }
  }

  /** The route's current expectation, as last given to expect(). */
  expectation(key: string): RouteExpectation | undefined {
    return this.expectations.get(key);
  }

  setGateways(gateways: GatewayTarget[]): void {
    const before = this.gateways.map(gatewayKey).sort().join('|');
    this.gateways = gateways;
    if (gateways.map(gatewayKey).sort().join('|') === before) return;
    for (const confirmations of this.confirmed.values())
      for (const id of [...confirmations.keys()]) if (!gateways.some((g) => g.id === id)) confirmations.delete(id);
    this.schedule();
  }

  /** Whether every gateway confirmed the route's current hash (routeState without building its message). */
  isReady(key: string): boolean {
    const e = this.expectations.get(key);
    if (!e || this.gateways.length === 0) return false;
    const confirmations = this.confirmed.get(key);
    return this.gateways.every((g) => confirmations?.get(g.id) === e.hash);
  }

  /** Whether every gateway confirmed the route's current hash, and if not, what is missing. */
  routeState(key: string): { ready: boolean; message?: string } {
    const e = this.expectations.get(key);
    if (!e) return { ready: false, message: 'not programmed' };
    if (this.gateways.length === 0) return { ready: false, message: 'no gateway is connected to the xDS server' };
    const confirmations = this.confirmed.get(key);
    const waiting = this.gateways.filter((g) => confirmations?.get(g.id) !== e.hash);
    if (waiting.length === 0) return { ready: true };
    const detail = waiting.map((g) => {
      const job = this.jobs.get(`${key}\0${g.id}`);
      return `${g.id}${job?.lastError ? ` (${job.lastError})` : ''}`;
    });
    return { ready: false, message: `waiting for ${detail.join(', ')} to serve hash ${e.hash.slice(0, 12)}` };
  }

  /**
   * A gateway acknowledged new config: probe its pending routes now instead of after their backoff
   * (every gateway's when the ACK cannot be tied to a gateway target).
   */
  retryNow(gatewayId?: string): void {
    for (const job of this.jobs.values()) {
      if (gatewayId !== undefined && job.gateway.id !== gatewayId) continue;
      if (job.timer === undefined) {
        job.retryRequested = true; // a probe is in flight; it may have raced the new config
        continue;
      }
      this.clock.clearTimeout(job.timer);
      job.timer = undefined;
      void this.run(job);
    }
  }

  state(): ProbeState {
    return { confirmed: this.confirmed };
  }

  /** Every route on every gateway: after the gateways changed. */
  private schedule(): void {
    const live = new Set(this.gateways.map((g) => g.id));
    for (const [id, job] of this.jobs) if (!live.has(job.gateway.id)) this.dropJob(id);
    for (const [key, e] of this.expectations) this.scheduleRoute(key, e);
  }

  /** Starts a probe of the route on each gateway that has not confirmed `e` and is not probing for it already. */
  private scheduleRoute(key: string, e: RouteExpectation): void {
    for (const g of this.gateways) {
      const id = `${key}\0${g.id}`;
      // Back to a hash this gateway confirmed already: a probe for the one in between is stale.
      if (this.confirmed.get(key)?.get(g.id) === e.hash) {
        this.dropJob(id);
        continue;
      }
      const job = this.jobs.get(id);
      if (job && job.expectation === e && gatewayKey(job.gateway) === gatewayKey(g)) continue;
      if (job) this.cancel(job);
      const fresh: Job = {
        key,
        gateway: g,
        expectation: e,
        attempt: 0,
        timer: undefined,
        lastError: undefined,
        cancelled: false,
        retryRequested: false,
      };
      this.jobs.set(id, fresh);
      void this.run(fresh);
    }
  }

  private dropJob(id: string): void {
    const job = this.jobs.get(id);
    if (!job) return;
    this.cancel(job);
    this.jobs.delete(id);
  }

  private cancel(job: Job): void {
    job.cancelled = true;
    if (job.timer !== undefined) this.clock.clearTimeout(job.timer);
  }

  private async run(job: Job): Promise<void> {
    if (job.cancelled) return;
    job.timer = undefined;
    job.retryRequested = false;
    const problem = await this.probeAll(job.gateway, job.expectation);
    if (job.cancelled) return;
    if (problem === undefined) {
      let confirmations = this.confirmed.get(job.key);
      if (!confirmations) this.confirmed.set(job.key, (confirmations = new Map<string, string>()));
      confirmations.set(job.gateway.id, job.expectation.hash);
      this.jobs.delete(`${job.key}\0${job.gateway.id}`);
      this.log.debug('route confirmed', {
        route: job.key,
        gateway: job.gateway.id,
        hash: job.expectation.hash.slice(0, 12),
        attempts: job.attempt + 1,
      });
      this.onChange(job.key);
      return;
    }
    job.lastError = problem;
    if (job.retryRequested) return void this.run(job);
    job.attempt++;
    job.timer = this.clock.setTimeout(() => void this.run(job), probeDelay(job.attempt));
  }

  /** undefined when every host answers with the hash; else the first problem. */
  private async probeAll(g: GatewayTarget, e: RouteExpectation): Promise<string | undefined> {
    const probes: Array<readonly [string, number, boolean]> = [
      ...e.externalHosts.map((h) => [h, g.externalPort, false] as const),
      ...e.localHosts.map((h) => [h, g.localPort, false] as const),
    ];
    for (const h of e.tlsHosts ?? []) {
      if (g.httpsPort === undefined) return `${h}: the gateway has no HTTPS port to probe`;
      probes.push([h, g.httpsPort, true]);
    }
    const results = await Promise.all(
      probes.map(([host, port, tls]) => this.probeOne(g.host, port, host, e.hash, tls)),
    );
    return results.find((r) => r !== undefined);
  }

  private async probeOne(
    address: string,
    port: number,
    host: string,
    hash: string,
    tls: boolean,
  ): Promise<string | undefined> {
    if (this.inFlight >= PROBE_CONCURRENCY) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.inFlight++;
    try {
      const headers = {
        host,
        [H_NETWORK_PROBE]: PROBE_INGRESS,
        [H_NETWORK_HASH]: HASH_PLACEHOLDER,
        'user-agent': UA_INGRESS_PROBE,
      };
      const res = await this.http({ address, port, tls, headers, timeoutMs: this.timeoutMs });
      if (res.status !== 200) return `${host}: status ${res.status}`;
      if (res.hash !== hash) return `${host}: serves hash ${String(res.hash ?? 'none').slice(0, 12)}`;
      return undefined;
    } catch (err) {
      return `${host}: ${(err as Error).message}`;
    } finally {
      this.inFlight--;
      this.slotWaiters.shift()?.();
    }
  }

  close(): void {
    for (const job of this.jobs.values()) this.cancel(job);
    this.jobs.clear();
    void this.agents?.plain.close();
    void this.agents?.tls.close();
  }
}

function gatewayKey(g: GatewayTarget): string {
  return `${g.id}@${g.host}:${g.externalPort}/${g.localPort}/${g.httpsPort ?? ''}`;
}

function sameHosts(a: RouteExpectation, b: RouteExpectation): boolean {
  return (
    a.externalHosts.join(',') === b.externalHosts.join(',') &&
    a.localHosts.join(',') === b.localHosts.join(',') &&
    (a.tlsHosts ?? []).join(',') === (b.tlsHosts ?? []).join(',')
  );
}
