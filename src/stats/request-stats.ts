// Per-period request statistics, computed as Knative's queue-proxy does: concurrency is averaged
// over time (each level weighted by how long it lasted), counts are requests that arrived in the
// period. Pure: the caller passes the time in milliseconds. Kept per pod by the queue-proxy and per
// revision by the activator.

export interface PeriodStat {
  averageConcurrency: number;
  averageProxiedConcurrency: number;
  requestCount: number;
  proxiedRequestCount: number;
}

export class RequestStats {
  private concurrency = 0;
  private proxiedConcurrency = 0;
  private requestCount = 0;
  private proxiedCount = 0;
  private concurrencyArea = 0;
  private proxiedArea = 0;
  private lastChange: number;
  private periodStart: number;

  constructor(now: number) {
    this.lastChange = now;
    this.periodStart = now;
  }

  get inFlight(): number {
    return this.concurrency;
  }

  private advance(now: number): void {
    if (now > this.lastChange) {
      const elapsed = now - this.lastChange;
      this.concurrencyArea += this.concurrency * elapsed;
      this.proxiedArea += this.proxiedConcurrency * elapsed;
      this.lastChange = now;
    }
  }

  requestIn(now: number, proxied: boolean): void {
    this.advance(now);
    this.concurrency++;
    this.requestCount++;
    if (proxied) {
      this.proxiedConcurrency++;
      this.proxiedCount++;
    }
  }

  requestOut(now: number, proxied: boolean): void {
    this.advance(now);
    this.concurrency--;
    if (proxied) this.proxiedConcurrency--;
  }

  /** Closes the period ending at `now` and starts the next one. */
  report(now: number): PeriodStat {
    this.advance(now);
    const span = now - this.periodStart;
    const stat: PeriodStat = {
      averageConcurrency: span > 0 ? this.concurrencyArea / span : this.concurrency,
      averageProxiedConcurrency: span > 0 ? this.proxiedArea / span : this.proxiedConcurrency,
      requestCount: this.requestCount,
      proxiedRequestCount: this.proxiedCount,
    };
    this.concurrencyArea = 0;
    this.proxiedArea = 0;
    this.requestCount = 0;
    this.proxiedCount = 0;
    this.periodStart = now;
    return stat;
  }
}
