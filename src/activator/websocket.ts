// WebSocket (any HTTP/1.1 Upgrade) through the activator: a slot at a pod from the revision's
// throttler, waiting at most the revision's timeout like any request, then the connection spliced
// to the pod, which it keeps as long as its two ends keep it. One object per connection, its
// listeners shared: nothing is allocated per connection but the object and its timer.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { rawResponse } from '../http/exchange.js';
import { rawRequestHead } from '../http/forward-headers.js';
import { spliceUpgrade, type UpgradeHooks } from '../http/upgrade.js';
import { H_PROXY_REQUEST } from '../model/headers.js';
import type { RequestStats } from '../stats/request-stats.js';
import { ACTIVATOR_TIMEOUT_BODY, type ActivatorContext } from './exchange.js';
import type { PodTracker, RevisionThrottler, SlotWaiter } from './throttler.js';

const UPGRADE = Symbol('upgrade');
type Tagged = Duplex & { [UPGRADE]: ActivatorUpgrade };

function onClientError(this: Duplex): void {
  this.destroy();
}
function onClientClose(this: Tagged): void {
  this[UPGRADE].clientClosed();
}
function onDeadline(upgrade: ActivatorUpgrade): void {
  upgrade.timedOut();
}

/** Refuses an upgrade before any revision is known (404 and the like). */
export function refuseUpgrade(client: Duplex, status: number, reason: string, body: string): void {
  client.on('error', onClientError);
  client.end(rawResponse(status, reason, body));
}

export class ActivatorUpgrade implements SlotWaiter, UpgradeHooks {
  private clientGone = false;
  private holding: PodTracker | undefined;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ActivatorContext,
    private readonly req: IncomingMessage,
    private readonly client: Duplex,
    private readonly head: Buffer,
    private readonly key: string,
    private readonly throttler: RevisionThrottler,
    private readonly stats: RequestStats,
  ) {
    (client as Tagged)[UPGRADE] = this;
    client.on('error', onClientError);
  }

  begin(timeoutMs: number): void {
    this.stats.requestIn(Date.now(), false);
    this.deadline = setTimeout(onDeadline, timeoutMs, this);
    this.client.once('close', onClientClose);
    if (this.throttler.acquire(this) === 'rejected') {
      this.ctx.countFailure(this.key, 'queue_full');
      this.refuse(503, 'Service Unavailable', this.ctx.queueFull(this.key, this.throttler)!);
    }
  }

  grant(pod: PodTracker): void {
    clearTimeout(this.deadline);
    if (this.clientGone) return this.throttler.release(pod);
    this.holding = pod;
    const head = rawRequestHead(this.req.method, this.req.url, [...this.req.rawHeaders, H_PROXY_REQUEST, 'activator']);
    spliceUpgrade(
      this.client,
      this.head,
      pod.endpoint.host,
      pod.endpoint.port,
      head,
      rawResponse(502, 'Bad Gateway', `the pod at ${pod.address} is not reachable\n`),
      this,
    );
  }

  abandon(): void {
    this.ctx.countFailure(this.key, 'abandoned');
    this.refuse(503, 'Service Unavailable', this.ctx.abandonedBody(this.key));
  }

  mayQueue(): boolean {
    return this.ctx.queueFull(this.key, this.throttler) === undefined;
  }

  /** The pod accepted the connection. */
  opened(): void {
    this.ctx.countProxied(this.key);
  }

  timedOut(): void {
    this.throttler.cancel(this);
    this.ctx.countFailure(this.key, 'timeout');
    this.refuse(504, 'Gateway Timeout', ACTIVATOR_TIMEOUT_BODY + '\n');
  }

  clientClosed(): void {
    clearTimeout(this.deadline);
    this.clientGone = true;
    if (this.holding) this.throttler.release(this.holding);
    else this.throttler.cancel(this);
    this.stats.requestOut(Date.now(), false);
  }

  private refuse(status: number, reason: string, body: string): void {
    clearTimeout(this.deadline);
    this.client.end(rawResponse(status, reason, body));
  }
}
