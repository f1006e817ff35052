// Graceful drain as Knative's queue-proxy does it: once draining starts, wait until a quiet period
// has passed with no new request (each request restarts the wait), then let the server close. The
// wait only gives routing time to stop sending here; when whatever routed here has stopped (a whole
// `gatehouse up` shutting down), the quiet period can end at once.

export class Drainer {
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  private quiet: Promise<void> | undefined;
  private readonly started: Promise<void>;
  private startedResolve!: () => void;

  constructor(private readonly quietMs: number) {
    this.started = new Promise((resolve) => (this.startedResolve = resolve));
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Resolves as soon as drain starts (what /wait-for-drain blocks on). */
  whenStarted(): Promise<void> {
    return this.started;
  }

  /** An ordinary request arrived: while draining, the quiet period starts over. */
  touch(): void {
    if (this.timer) this.timer.refresh();
  }

  /** Starts draining (once); resolves when a full quiet period has passed without requests. */
  drain(): Promise<void> {
    if (!this.quiet) {
      this.draining = true;
      this.startedResolve();
      this.quiet = new Promise((resolve) => {
        this.endQuiet = resolve;
        this.timer = setTimeout(() => this.endQuietPeriod(), this.quietMs);
      });
    }
    return this.quiet;
  }

  /**
   * No request will come any more (whatever routed here has stopped): drain starts if it had not, and its quiet
   * period is over at once.
   */
  endQuietPeriod(): void {
    void this.drain();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.endQuiet();
  }

  private endQuiet: () => void = () => {};
}
