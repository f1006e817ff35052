// Knative's request breaker: at most `capacity` requests at the app, at most `queueDepth` more
// waiting (Knative sizes it 10 × containerConcurrency); anything beyond is refused at once.
// A waiter that gives up (client gone) leaves the queue without ever taking a slot.

export interface Waiter {
  /** Called once, when a slot is granted. */
  grant(): void;
}

export class Breaker {
  private inFlight = 0;
  private readonly waiting: Array<Waiter | undefined> = [];
  private head = 0;
  private queued = 0;

  constructor(
    readonly capacity: number,
    readonly queueDepth: number,
  ) {}

  /** Requests at the app plus requests waiting. */
  get pending(): number {
    return this.inFlight + this.queued;
  }

  get active(): number {
    return this.inFlight;
  }

  get queueLength(): number {
    return this.queued;
  }

  /**
   * 'granted': go ahead now (call release() when done). 'queued': grant() will be called later
   * unless cancel() is called first. 'rejected': the queue is full.
   */
  acquire(waiter: Waiter): 'granted' | 'queued' | 'rejected' {
    if (this.inFlight < this.capacity) {
      this.inFlight++;
      return 'granted';
    }
    if (this.queued >= this.queueDepth) return 'rejected';
    this.waiting.push(waiter);
    this.queued++;
    return 'queued';
  }

  /** Withdraws a queued waiter; returns false when it was already granted (then release() it). */
  cancel(waiter: Waiter): boolean {
    for (let i = this.head; i < this.waiting.length; i++) {
      if (this.waiting[i] === waiter) {
        this.waiting[i] = undefined;
        this.queued--;
        this.compact();
        return true;
      }
    }
    return false;
  }

  release(): void {
    while (this.head < this.waiting.length) {
      const next = this.waiting[this.head];
      this.waiting[this.head++] = undefined;
      if (next !== undefined) {
        this.queued--;
        this.compact();
        next.grant();
        return;
      }
    }
    this.compact();
    this.inFlight--;
  }

  private compact(): void {
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }
}
