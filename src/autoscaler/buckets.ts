// Time-bucketed window averages, as Knative's collector keeps them: values recorded into buckets
// of `granularity`; the average divides the window's total by the number of buckets that have
// seen data (from the first write, capped at the window), dropping buckets that aged out.
// Pure: callers pass the time in milliseconds.

export class WindowedBuckets {
  private readonly buckets: number[];
  private total = 0;
  private firstWrite = Number.NaN;
  private lastWrite = Number.NaN;

  constructor(
    private readonly windowMs: number,
    private readonly granularityMs: number,
  ) {
    this.buckets = new Array<number>(Math.ceil(windowMs / granularityMs)).fill(0);
  }

  private truncate(t: number): number {
    return t - (t % this.granularityMs);
  }

  private index(t: number): number {
    return Math.floor(t / this.granularityMs);
  }

  record(now: number, value: number): void {
    const bucketTime = this.truncate(now);
    if (bucketTime !== this.lastWrite) {
      // Older than the window: dropped.
      if (!Number.isNaN(this.lastWrite) && bucketTime + this.windowMs <= this.lastWrite) return;
      if (Number.isNaN(this.firstWrite) || this.firstWrite > bucketTime) this.firstWrite = bucketTime;
      if (Number.isNaN(this.lastWrite) || bucketTime > this.lastWrite) {
        if (!Number.isNaN(this.lastWrite) && bucketTime - this.lastWrite >= this.windowMs) {
          this.firstWrite = bucketTime;
          this.buckets.fill(0);
          this.total = 0;
        } else if (!Number.isNaN(this.lastWrite)) {
          for (let i = this.index(this.lastWrite) + 1; i <= this.index(now); i++) {
            const at = i % this.buckets.length;
            this.total -= this.buckets[at]!;
            this.buckets[at] = 0;
          }
        }
        this.lastWrite = bucketTime;
      }
    }
    this.buckets[this.index(now) % this.buckets.length]! += value;
    this.total += value;
  }

  /**
   * Nothing recorded within the window: no data, which is not zero demand (Knative's IsEmpty, but
   * from the same bucket on which `average` drops to 0, where Knative's `>` leaves one bucket that
   * reads as zero demand).
   */
  isEmpty(now: number): boolean {
    return Number.isNaN(this.lastWrite) || this.truncate(now) - this.lastWrite >= this.windowMs;
  }

  /** The window's average at `now`; 0 when nothing was recorded for a whole window. */
  average(now: number): number {
    if (Number.isNaN(this.lastWrite)) return 0;
    const t = this.truncate(now);
    const sinceWrite = t - this.lastWrite;
    const seen = (this.lastWrite - this.firstWrite) / this.granularityMs + 1;
    if (sinceWrite <= 0) return round(this.total / Math.min(seen, this.buckets.length));
    if (sinceWrite >= this.windowMs) return 0;
    const start = this.index(this.lastWrite);
    const end = this.index(t);
    let total = this.total;
    for (let i = start + 1; i <= end; i++) total -= this.buckets[i % this.buckets.length]!;
    return round(total / Math.min(seen, this.buckets.length - (end - start)));
  }
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
