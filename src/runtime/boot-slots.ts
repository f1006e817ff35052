// How many pods may boot at once. Booting Node and an app is CPU-bound: on one machine, dozens of
// pods booting together take the cores from the data plane (gateway, activators, autoscaler) and
// make every boot slower. Pods beyond the limit wait their turn, first come first served.

export class BootSlots {
  private booting = 0;
  private readonly waiting: Array<(release: () => void) => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(`the number of pods booting at once must be a whole number, 1 or more (got ${limit})`);
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
    if (this.booting < this.limit) {
      this.grant(onGrant);
      return () => {};
    }
    this.waiting.push(onGrant);
    return () => {
      const i = this.waiting.indexOf(onGrant);
      if (i !== -1) this.waiting.splice(i, 1);
    };
  }

  private grant(onGrant: (release: () => void) => void): void {
    this.booting++;
    let released = false;
    onGrant(() => {
      if (released) return;
      released = true;
      this.booting--;
      const next = this.waiting.shift();
      if (next) this.grant(next);
    });
  }
}
