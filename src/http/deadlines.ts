// One coarse shared tick for every request's timeouts instead of a native timer per request.
// The tick runs only while some request is being watched (and one period after), so an idle
// queue-proxy costs nothing.
//
// The watched requests are a list linked through the requests themselves, not a Set. With a Set,
// every request came and went through a hash table that lives as long as the process, and ended
// requests survived scavenges and were promoted (most likely through the tables V8 leaves behind
// in the old generation when it rehashes that Set, which still point at them): at c=50 the
// activator's old generation grew 2.5 MB per scavenge, and its CPU per request rose by a fifth to
// a third, mostly mark-compact. A removed request's links are cleared, so nothing points at it.

export interface Watched {
  /** Called on each tick with the current time; returns false to stop being watched. */
  onTick(now: number): boolean;
  /** The ticker's links: set and cleared by the ticker only, so an entry belongs to one ticker at a time. */
  tickerPrev: Watched | null;
  tickerNext: Watched | null;
}

export class DeadlineTicker {
  private head: Watched | null = null;
  private count = 0;
  private interval: NodeJS.Timeout | undefined;

  constructor(private readonly periodMs: number) {}

  get size(): number {
    return this.count;
  }

  /** Whether the shared timer is armed: it is while anything is watched, and stops a tick after the last leaves. */
  get ticking(): boolean {
    return this.interval !== undefined;
  }

  has(entry: Watched): boolean {
    return entry === this.head || entry.tickerPrev !== null;
  }

  add(entry: Watched): void {
    if (this.has(entry)) return;
    entry.tickerPrev = null;
    entry.tickerNext = this.head;
    if (this.head) this.head.tickerPrev = entry;
    this.head = entry;
    this.count++;
    if (!this.interval) {
      this.interval = setInterval(() => this.tick(), this.periodMs);
      this.interval.unref();
    }
  }

  delete(entry: Watched): void {
    if (!this.has(entry)) return;
    const { tickerPrev: prev, tickerNext: next } = entry;
    if (prev) prev.tickerNext = next;
    else this.head = next;
    if (next) next.tickerPrev = prev;
    entry.tickerPrev = null;
    entry.tickerNext = null;
    this.count--;
  }

  private tick(): void {
    // Stopped by a tick that finds nothing to watch, not by the last delete: at one request at a time
    // the timer would otherwise be armed and cleared for every request.
    if (this.count === 0) {
      clearInterval(this.interval);
      this.interval = undefined;
      return;
    }
    const now = Date.now();
    // A request's onTick can end others (a freed slot grants the next waiter, which may fail at once):
    // walk a copy, skip whoever left meanwhile, and leave whoever came meanwhile to the next tick.
    const entries: Watched[] = [];
    for (let entry = this.head; entry; entry = entry.tickerNext) entries.push(entry);
    for (const entry of entries) if (this.has(entry) && !entry.onTick(now)) this.delete(entry);
  }
}
