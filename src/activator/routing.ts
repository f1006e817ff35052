// Which revision a request is for and the throttler that holds its pods: the gateway names the
// revision in two headers; a throttler is made on a revision's first request and follows the
// source's changes (pods, containerConcurrency) until the revision is gone. Pods no revision lists
// any more have their connections released.
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { H_SERVING_NAMESPACE, H_SERVING_REVISION } from '../model/headers.js';
import { revisionKey } from '../model/names.js';
import type { ActivatorCounters } from './metrics.js';
import type { PodConnections } from './pod-connections.js';
import { probePod } from './probing.js';
import type { RevisionSource } from './revision-source.js';
import { RevisionThrottler } from './throttler.js';

export interface RouterOptions {
  source: RevisionSource;
  connections: PodConnections;
  counters: ActivatorCounters;
  probeIntervalMs: number;
  activatorIndex: number;
  activatorCount: number;
  maxQueuedPerRevision: number;
  maxQueued: number;
}

export type Routed = { key: string; throttler: RevisionThrottler } | { status: number; body: string };

export class RevisionRouter {
  readonly throttlers = new Map<string, RevisionThrottler>();
  private readonly unsubscribe: () => void;

  constructor(private readonly o: RouterOptions) {
    this.unsubscribe = o.source.subscribe((key) => this.sync(key));
  }

  /** The revision a routed request is for, or the reply that says why there is none. */
  route(req: IncomingMessage | Http2ServerRequest): Routed {
    const namespace = req.headers[H_SERVING_NAMESPACE];
    const revision = req.headers[H_SERVING_REVISION];
    if (typeof namespace !== 'string' || typeof revision !== 'string')
      return {
        status: 404,
        body:
          'no Knative-Serving-Namespace / Knative-Serving-Revision headers: ' +
          'the activator only serves requests routed by the gateway\n',
      };
    const key = revisionKey(namespace, revision);
    const throttler = this.throttlerFor(key);
    if (throttler) return { key, throttler };
    this.o.counters.unknownRevision++;
    return { status: 404, body: `revision ${key} is unknown to the activator\n` };
  }

  /** The revision's timeout in milliseconds (Knative's default 300 s when unknown). */
  timeoutMs(key: string): number {
    return (this.o.source.get(key)?.timeoutSeconds ?? 300) * 1000;
  }

  /**
   * Why no more requests may wait for this revision (the 503 body, Knative's wording and which limit), or undefined
   * while there is room.
   */
  queueFull(key: string, throttler: RevisionThrottler): string | undefined {
    if (throttler.queued >= this.o.maxQueuedPerRevision)
      return (
        `pending request queue full: ${throttler.queued} requests already wait at this activator ` +
        `for revision ${key} (limit --max-queued-per-revision ${this.o.maxQueuedPerRevision})\n`
      );
    let total = 0;
    for (const t of this.throttlers.values()) total += t.queued;
    if (total >= this.o.maxQueued)
      return (
        `pending request queue full: ${total} requests already wait ` +
        `at this activator (limit --max-queued ${this.o.maxQueued})\n`
      );
    return undefined;
  }

  get pods(): number {
    let n = 0;
    for (const t of this.throttlers.values()) n += t.pods;
    return n;
  }

  private throttlerFor(key: string): RevisionThrottler | undefined {
    let throttler = this.throttlers.get(key);
    if (throttler) return throttler;
    const info = this.o.source.get(key);
    if (!info) return undefined;
    const o = this.o;
    throttler = new RevisionThrottler({
      containerConcurrency: info.containerConcurrency,
      probe: probePod,
      probeIntervalMs: o.probeIntervalMs,
      activatorIndex: o.activatorIndex,
      activatorCount: o.activatorCount,
    });
    this.throttlers.set(key, throttler);
    throttler.updatePods(info.pods);
    return throttler;
  }

  private sync(key: string): void {
    const throttler = this.throttlers.get(key);
    if (!throttler) return; // made on first request
    const info = this.o.source.get(key);
    if (!info) {
      this.throttlers.delete(key);
      this.forgetPods(throttler.close());
      return;
    }
    throttler.updateConcurrency(info.containerConcurrency);
    this.forgetPods(throttler.updatePods(info.pods));
  }

  /** Pods no revision lists any more: their connections go once the requests on them finish. */
  private forgetPods(addresses: string[]): void {
    for (const address of addresses) {
      let listed = false;
      for (const t of this.throttlers.values()) if ((listed = t.hasPod(address))) break;
      if (!listed) this.o.connections.release(address);
    }
  }

  /** Stops following the source; every request still waiting for a pod is answered (abandon). */
  close(): void {
    this.unsubscribe();
    for (const t of this.throttlers.values()) t.close();
    this.throttlers.clear();
  }
}
