// One revision's throttler: pods become usable once the source vouches for them (healthy: the
// runtime's readiness probe passed) or else once they answer the activator's probe; a
// request takes a slot on one pod (never more than containerConcurrency there) or waits in a queue
// bounded by its own deadline and by the caller's admission check. Capacity follows the pods as they
// come and go; waiting requests are never dropped by a change, only answered when the revision goes.
import type { Endpoint } from '../model/desired.js';
import { policyFor, type Picker, type PodSlot } from './lb-policy.js';
import type { PodEndpoint } from './revision-source.js';
import { assignSlice, revisionCapacity } from './subsetting.js';

export interface PodTracker extends PodSlot {
  endpoint: Endpoint;
  address: string;
  ready: boolean;
}

export interface SlotWaiter {
  /** Called once with the pod granted. */
  grant(pod: PodTracker): void;
  /** Called instead when the throttler closes (the revision is gone, the activator stops) before a pod was granted. */
  abandon(): void;
  /**
   * Asked before the waiter is queued (no pod free); false: it is not queued (acquire says 'rejected'). Default yes.
   */
  mayQueue?(): boolean;
}

export type PodProbe = (endpoint: Endpoint) => Promise<boolean>;

export interface ThrottlerOptions {
  containerConcurrency: number;
  probe: PodProbe;
  probeIntervalMs: number;
  /** This activator's index among all activators (−1: not yet listed) and their number. */
  activatorIndex: number;
  activatorCount: number;
}

export class RevisionThrottler {
  private readonly trackers = new Map<string, PodTracker>();
  private assigned: PodTracker[] = [];
  private readonly waiting: SlotWaiter[] = [];
  private pick: Picker<PodTracker>;
  private closed = false;
  private probesSent = 0;

  constructor(private o: ThrottlerOptions) {
    this.pick = policyFor<PodTracker>(o.containerConcurrency);
  }

  get queued(): number {
    return this.waiting.length;
  }

  get readyPods(): number {
    return this.assigned.length;
  }

  get inFlight(): number {
    let n = 0;
    for (const t of this.trackers.values()) n += t.inFlight;
    return n;
  }

  /** Capacity in requests at once: CC × assigned pods (Infinity when CC is 0 and there are pods). */
  get capacity(): number {
    return revisionCapacity(this.o.containerConcurrency, this.assigned.length);
  }

  updateConcurrency(containerConcurrency: number): void {
    if (containerConcurrency === this.o.containerConcurrency) return;
    this.o = { ...this.o, containerConcurrency };
    this.pick = policyFor<PodTracker>(containerConcurrency);
    for (const t of this.trackers.values()) t.capacity = containerConcurrency;
    this.dispatch();
  }

  /** Whether the pod at this address is one of the revision's (ready or not). */
  hasPod(address: string): boolean {
    return this.trackers.has(address);
  }

  /** Probes sent so far (pods the source vouched for need none). */
  get probes(): number {
    return this.probesSent;
  }

  get pods(): number {
    return this.trackers.size;
  }

  /**
   * The revision's current pods: new healthy ones take requests at once (waiting ones among them),
   * other new ones are probed first, gone ones stop taking requests. Returns the addresses of the
   * pods that are gone (requests already there still finish).
   */
  updatePods(endpoints: PodEndpoint[]): string[] {
    const wanted = new Set(endpoints.map((e) => `${e.host}:${e.port}`));
    const gone: string[] = [];
    for (const [address, tracker] of this.trackers) {
      if (!wanted.has(address)) {
        tracker.ready = false;
        this.trackers.delete(address);
        gone.push(address);
      }
    }
    for (const endpoint of endpoints) {
      const address = `${endpoint.host}:${endpoint.port}`;
      if (this.trackers.has(address)) continue;
      const ready = endpoint.healthy === true;
      const tracker: PodTracker = {
        endpoint: { host: endpoint.host, port: endpoint.port },
        address,
        ready,
        inFlight: 0,
        capacity: this.o.containerConcurrency,
      };
      this.trackers.set(address, tracker);
      if (!ready) void this.probeUntilReady(tracker);
    }
    this.reassign();
    return gone;
  }

  private async probeUntilReady(tracker: PodTracker): Promise<void> {
    while (!this.closed && this.trackers.get(tracker.address) === tracker) {
      this.probesSent++;
      if (await this.o.probe(tracker.endpoint)) {
        if (this.trackers.get(tracker.address) !== tracker) return;
        tracker.ready = true;
        this.reassign();
        return;
      }
      await new Promise((r) => setTimeout(r, this.o.probeIntervalMs));
    }
  }

  /** A pod refused a connection: stop using it until it answers the probe again. */
  markUnready(pod: PodTracker): void {
    if (this.trackers.get(pod.address) !== pod || !pod.ready) return;
    pod.ready = false;
    this.reassign();
    void this.probeUntilReady(pod);
  }

  private reassign(): void {
    const ready = [...this.trackers.values()]
      .filter((t) => t.ready)
      .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    this.assigned = assignSlice(ready, this.o.activatorIndex, this.o.activatorCount);
    this.dispatch();
  }

  /**
   * A pod right now ('granted'), or the waiter queued ('queued') if its `mayQueue` allows it, else
   * 'rejected' (nothing kept). A closed throttler abandons the waiter at once ('abandoned').
   */
  acquire(waiter: SlotWaiter): 'granted' | 'queued' | 'rejected' | 'abandoned' {
    if (this.closed) {
      waiter.abandon();
      return 'abandoned';
    }
    if (this.waiting.length === 0) {
      const pod = this.pick(this.assigned);
      if (pod) {
        pod.inFlight++;
        waiter.grant(pod);
        return 'granted';
      }
    }
    if (waiter.mayQueue && !waiter.mayQueue()) return 'rejected';
    this.waiting.push(waiter);
    return 'queued';
  }

  /** Withdraws a waiter (its deadline passed or its client left). */
  cancel(waiter: SlotWaiter): void {
    const at = this.waiting.indexOf(waiter);
    if (at >= 0) this.waiting.splice(at, 1);
  }

  release(pod: PodTracker): void {
    pod.inFlight--;
    this.dispatch();
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const pod = this.pick(this.assigned);
      if (!pod) return;
      pod.inFlight++;
      this.waiting.shift()!.grant(pod);
    }
  }

  /** Stops probing, answers every waiter (abandon) and returns the addresses of the pods it knew. */
  close(): string[] {
    this.closed = true;
    const pods = [...this.trackers.keys()];
    this.trackers.clear();
    this.assigned = [];
    for (const waiter of this.waiting.splice(0)) waiter.abandon();
    return pods;
  }
}
