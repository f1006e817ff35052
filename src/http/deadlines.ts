// One coarse shared tick for every request's timeouts instead of a native timer per request.
// The tick runs only while some request is being watched, so an idle queue-proxy costs nothing.

export interface Watched {
  /** Called on each tick with the current time; returns false to stop being watched. */
  onTick(now: number): boolean;
}

export class DeadlineTicker {
  private readonly watched = new Set<Watched>();
  private interval: NodeJS.Timeout | undefined;

  constructor(private readonly periodMs: number) {}

  add(entry: Watched): void {
    this.watched.add(entry);
    if (!this.interval) {
      this.interval = setInterval(() => this.tick(), this.periodMs);
      this.interval.unref();
    }
  }

  delete(entry: Watched): void {
    this.watched.delete(entry);
    if (this.watched.size === 0 && this.interval) {
      clearInterval(this.interval);
      this.interval = undefined;
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const entry of this.watched) if (!entry.onTick(now)) this.delete(entry);
  }
}
