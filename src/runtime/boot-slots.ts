// How many pods may boot at once. Booting Node and an app is CPU-bound: on one machine, dozens of
// pods booting together take the cores from the data plane (gateway, activators, autoscaler) and
// make every boot slower, the first ones too. Pods beyond the limit wait their turn, first come
// first served. But a boot is often mostly waiting (an app that sleeps or connects before it
// listens): while the cores go unused (see spare-cpu.ts) one more pod may start, up to a cap
// (SPARE_CAP_FACTOR × the limit) on all those booting.

/** Booting pods at most, counting those started on spare CPU, per pod of the limit. */
export const SPARE_CAP_FACTOR = 4;

export class BootSlots {
  private booting = 0;
  private readonly waiting: Array<(release: () => void) => void> = [];
  /** Booting pods at most, those started on spare CPU included. */
  readonly cap: number;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(`the number of pods booting at once must be a whole number, 1 or more (got ${limit})`);
    this.cap = limit * SPARE_CAP_FACTOR;
  }

  /** Pods booting now. */
  get inUse(): number {
    return this.booting;
  }

  /** Pods waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Calls `onGrant` with a release function once a slot is free (at once when one is). Returns a
   * cancel function for a pod that stops before its turn. Releasing twice frees one slot.
   */
  acquire(onGrant: (release: () => void) => void): () => void {
    this.waiting.push(onGrant);
    while (this.booting < this.limit && this.grantNext());
    return () => {
      const i = this.waiting.indexOf(onGrant);
      if (i !== -1) this.waiting.splice(i, 1);
    };
  }

  /** The cores went partly unused lately: one more waiting pod boots, if the cap allows. Whether one did. */
  spareCpu(): boolean {
    return this.booting < this.cap && this.grantNext();
  }

  private grantNext(): boolean {
    const onGrant = this.waiting.shift();
    if (!onGrant) return false;
    this.booting++;
    let released = false;
    onGrant(() => {
      if (released) return;
      released = true;
      this.booting--;
      while (this.booting < this.limit && this.grantNext());
    });
    return true;
  }
}
