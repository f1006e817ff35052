// One request through the activator: a slot at a pod from the revision's throttler (waiting while
// pods start), the request forwarded there with K-Proxy-Request, the slot released at the end.
// A pod that refuses the connection never saw the request, so the request waits for another.
import type { InboundRequest, OutboundResponse } from '../http/auto-codec.js';
import { ProxyExchange, type ExchangeSettings, type Upstream } from '../http/exchange.js';
import { upstreamRequestHeaders } from '../http/forward-headers.js';
import { H_PROXY_REQUEST } from '../model/headers.js';
import type { RequestStats } from '../queue/stats.js';
import type { PodTracker, RevisionThrottler, SlotWaiter } from './throttler.js';

export const ACTIVATOR_TIMEOUT_BODY = 'activator request timeout';

/** What a request needs from its activator; one instance per activator. */
export interface ActivatorContext extends ExchangeSettings {
  /** The pod over HTTP/1.1, or over h2c for requests that came as HTTP/2 (gRPC keeps its trailers). */
  upstreamFor(pod: PodTracker, h2: boolean): Upstream;
  countProxied(key: string): void;
  countFailure(key: string, reason: 'timeout' | 'pod_failed'): void;
}

export class ActivatorExchange extends ProxyExchange implements SlotWaiter {
  private pod: PodTracker | undefined;
  private deadline = 0;

  constructor(
    private readonly ctx: ActivatorContext,
    req: InboundRequest,
    res: OutboundResponse,
    private readonly key: string,
    private readonly throttler: RevisionThrottler,
    private readonly stats: RequestStats,
  ) {
    super(ctx, req, res, Date.now());
  }

  begin(timeoutMs: number): void {
    this.stats.requestIn(this.lastActivity, false);
    this.deadline = this.lastActivity + timeoutMs;
    this.watch();
    this.throttler.acquire(this);
  }

  grant(pod: PodTracker): void {
    if (this.ended) return this.throttler.release(pod);
    this.pod = pod;
    const req = this.req;
    const h2 = req.httpVersionMajor === 2;
    const headers = upstreamRequestHeaders(req.rawHeaders, req.socket?.remoteAddress, h2, h2);
    headers.push(H_PROXY_REQUEST, 'activator');
    this.send(this.ctx.upstreamFor(pod, h2), headers);
  }

  protected override deadlines(now: number): boolean {
    if (now < this.deadline) return true;
    this.ctx.countFailure(this.key, 'timeout');
    this.timedOut(504, ACTIVATOR_TIMEOUT_BODY + '\n');
    return false;
  }

  protected override upstreamResponded(): void {
    this.ctx.countProxied(this.key);
  }

  protected upstreamFailed(err: NodeJS.ErrnoException): void {
    const pod = this.pod!;
    this.releasePod();
    if (err.code === 'ECONNREFUSED') {
      this.throttler.markUnready(pod);
      this.throttler.acquire(this);
      return;
    }
    this.ctx.countFailure(this.key, 'pod_failed');
    this.reply(502, `the pod at ${pod.address} failed: ${err.message}\n`);
  }

  protected finished(): void {
    if (this.pod) this.releasePod();
    else this.throttler.cancel(this);
    this.stats.requestOut(Date.now(), false);
  }

  private releasePod(): void {
    this.throttler.release(this.pod!);
    this.pod = undefined;
  }
}
