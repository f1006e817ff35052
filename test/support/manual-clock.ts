// Timers a test moves by hand, for parts that take an injected clock (the prober's ProberClock).
import type { ProberClock } from '../../src/prober/prober.js';

/** Timers that fire only when the test advances time; remembers every delay asked for. */
export class ManualClock implements ProberClock {
  now = 0;
  readonly delays: number[] = [];
  private readonly timers = new Map<number, { at: number; run: () => void }>();
  private next = 1;
  setTimeout(run: () => void, ms: number): unknown {
    this.delays.push(ms);
    const id = this.next++;
    this.timers.set(id, { at: this.now + ms, run });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  pending(): number {
    return this.timers.size;
  }
  async advance(ms: number): Promise<void> {
    this.now += ms;
    for (const [id, t] of [...this.timers].sort(([, a], [, b]) => a.at - b.at)) {
      if (t.at > this.now) continue;
      this.timers.delete(id);
      t.run();
    }
    await settle();
  }
}

/** Lets the prober's promise chains run to their next wait. */
export const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};
