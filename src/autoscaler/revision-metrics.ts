// One revision's windowed metrics: stable and panic averages of concurrency and rps. Requests the
// activator forwarded are counted by the activator's own push (which reports them as ordinary
// requests), so the pods' proxied share is subtracted to avoid counting them twice, as Knative's
// collector does.
import { WindowedBuckets } from './buckets.js';
import type { Stat } from '../model/stat.js';

const BUCKET_MS = 1000;

export class RevisionMetrics {
  private readonly stableConcurrency: WindowedBuckets;
  private readonly panicConcurrency: WindowedBuckets;
  private readonly stableRps: WindowedBuckets;
  private readonly panicRps: WindowedBuckets;

  constructor(stableWindowMs: number, panicWindowMs: number) {
    this.stableConcurrency = new WindowedBuckets(stableWindowMs, BUCKET_MS);
    this.panicConcurrency = new WindowedBuckets(panicWindowMs, BUCKET_MS);
    this.stableRps = new WindowedBuckets(stableWindowMs, BUCKET_MS);
    this.panicRps = new WindowedBuckets(panicWindowMs, BUCKET_MS);
  }

  /** A revision-wide scrape of the pods, or one activator's push. */
  record(now: number, stat: Stat): void {
    const concurrency = stat.averageConcurrentRequests - stat.averageProxiedConcurrentRequests;
    const rps = stat.requestCount - stat.proxiedRequestCount;
    this.stableConcurrency.record(now, concurrency);
    this.panicConcurrency.record(now, concurrency);
    this.stableRps.record(now, rps);
    this.panicRps.record(now, rps);
  }

  /** Whether the stable window holds any data: without it there is nothing to decide on (Knative's ErrNoData). */
  hasData(metric: 'concurrency' | 'rps', now: number): boolean {
    return !(metric === 'rps' ? this.stableRps : this.stableConcurrency).isEmpty(now);
  }

  stableAndPanic(metric: 'concurrency' | 'rps', now: number): { stable: number; panic: number } {
    return metric === 'rps'
      ? { stable: this.stableRps.average(now), panic: this.panicRps.average(now) }
      : { stable: this.stableConcurrency.average(now), panic: this.panicConcurrency.average(now) };
  }
}
