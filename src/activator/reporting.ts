// Knative's concurrency reporter: per revision, the requests this activator holds (waiting or at a
// pod), pushed to the autoscaler every second. The first request for an idle revision is pushed at
// once as one request, so a revision at zero starts scaling without waiting for the next report,
// and that report leaves the one out, so each request is counted once. (Pushing every arrival
// instead summed 1 + 2 + … + n into one second of the autoscaler's window.)
import type { WireStat } from '../stats/wire.js';
import { RequestStats } from '../stats/request-stats.js';
import type { StatPusher } from './stat-pusher.js';

const REPORTING_PERIOD_MS = 1000;

export class ConcurrencyReporter {
  private readonly stats = new Map<string, RequestStats>();
  private readonly pushedFirst = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  /**
   * `exists`: whether the revision is still known; the stats of one that is not go once idle.
   * `afterReport`: called after each report, when such stats are gone (other per-revision state may follow).
   */
  constructor(
    private readonly podName: string,
    private readonly pusher: StatPusher | undefined,
    private readonly exists: (key: string) => boolean,
    private readonly afterReport: () => void = () => {},
  ) {
    this.timer = setInterval(() => this.report(Date.now()), REPORTING_PERIOD_MS);
    this.timer.unref();
  }

  /** A request for `key` arrived: its stats (the caller counts it in and out), pushed at once if it is the first. */
  arrived(key: string): RequestStats {
    let s = this.stats.get(key);
    if (!s) this.stats.set(key, (s = new RequestStats(Date.now())));
    if (s.inFlight === 0 && this.pusher && !this.pushedFirst.has(key)) {
      this.pushedFirst.add(key);
      this.pusher.push([this.wireStat(key, 1, 1)]);
    }
    return s;
  }

  /** Whether the revision still has stats here (in flight, or not yet forgotten). */
  has(key: string): boolean {
    return this.stats.has(key);
  }

  get size(): number {
    return this.stats.size;
  }

  get inFlight(): number {
    let n = 0;
    for (const s of this.stats.values()) n += s.inFlight;
    return n;
  }

  private report(now: number): void {
    const out: WireStat[] = [];
    for (const [key, s] of this.stats) {
      const period = s.report(now);
      const first = this.pushedFirst.delete(key) ? 1 : 0;
      const concurrency = Math.max(0, period.averageConcurrency - first);
      const count = Math.max(0, period.requestCount - first);
      if (concurrency > 0 || count > 0) out.push(this.wireStat(key, concurrency, count));
    }
    this.pusher?.push(out);
    for (const [key, s] of this.stats) if (s.inFlight === 0 && !this.exists(key)) this.stats.delete(key);
    for (const key of this.pushedFirst) if (!this.stats.has(key)) this.pushedFirst.delete(key);
    this.afterReport();
  }

  private wireStat(key: string, averageConcurrentRequests: number, requestCount: number): WireStat {
    const [namespace, revision] = key.split('/') as [string, string];
    return {
      namespace,
      name: revision,
      stat: {
        podName: this.podName,
        averageConcurrentRequests,
        averageProxiedConcurrentRequests: 0,
        requestCount,
        proxiedRequestCount: 0,
        processUptime: 0,
        timestamp: Math.floor(Date.now() / 1000),
      },
    };
  }

  close(): void {
    clearInterval(this.timer);
  }
}
