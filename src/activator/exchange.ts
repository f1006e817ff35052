// One request through the activator: a slot at a pod from the revision's throttler (waiting while
// pods start), the request forwarded there with K-Proxy-Request, the slot released at the end.
// A pod that refuses the connection, or whose queue-proxy says its app did (a 502 with
// X-Gatehouse-Unprocessed), never saw the request, so the request waits for another. A
// kept-alive connection the pod reset before answering may have been closing as the request was
// written: a request without a body that cannot change anything (GET, HEAD, OPTIONS) is sent once
// more, as Go's transport under Knative's activator does for a reused connection.
import type { InboundRequest, OutboundResponse } from '../http/auto-codec.js';
import { ProxyExchange, type ExchangeSettings, type Upstream } from '../http/exchange.js';
import { upstreamRequestHeaders } from '../http/forward-headers.js';
import { H_PROXY_REQUEST } from '../model/headers.js';
import type { RequestStats } from '../stats/request-stats.js';
import type { FailureReason } from './metrics.js';
import type { PodTracker, RevisionThrottler, SlotWaiter } from './throttler.js';

export const ACTIVATOR_TIMEOUT_BODY = 'activator request timeout';

const IDEMPOTENT_WITHOUT_BODY = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Times a request goes to another pod after answers that its app saw nothing (as Envoy's num_retries). */
const MAX_UNPROCESSED_RESENDS = 2;
/** The pod's end closed (reset or FIN) before any of the response: undici's and the socket's codes. */
const CONNECTION_CLOSED = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** What a request needs from its activator; one instance per activator. */
export interface ActivatorContext extends ExchangeSettings {
  /** The pod over HTTP/1.1, or over h2c for requests that came as HTTP/2 (gRPC keeps its trailers). */
  upstreamFor(pod: PodTracker, h2: boolean): Upstream;
  countProxied(key: string): void;
  countFailure(key: string, reason: FailureReason): void;
  /** Why no more requests may wait (the 503 body), or undefined while there is room. */
  queueFull(key: string, throttler: RevisionThrottler): string | undefined;
  /** The 503 body for a request whose throttler closed while it waited. */
  abandonedBody(key: string): string;
}

export class ActivatorExchange extends ProxyExchange implements SlotWaiter {
  private pod: PodTracker | undefined;
  private deadline = 0;
  /** Once it had a pod, a request may always wait again (that pod refused it); the queue limit is for newcomers. */
  private admitted = false;
  private resent = false;
  private unprocessedResends = 0;

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
    if (this.throttler.acquire(this) === 'rejected') {
      this.ctx.countFailure(this.key, 'queue_full');
      this.reply(503, this.ctx.queueFull(this.key, this.throttler)!);
    }
  }

  mayQueue(): boolean {
    return this.admitted || this.ctx.queueFull(this.key, this.throttler) === undefined;
  }

  abandon(): void {
    if (this.ended) return;
    this.ctx.countFailure(this.key, 'abandoned');
    this.reply(503, this.ctx.abandonedBody(this.key));
  }

  grant(pod: PodTracker): void {
    if (this.ended) return this.throttler.release(pod);
    this.admitted = true;
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

  // The pod's queue-proxy answered that its app refused the connection: as if the pod had. The pod
  // leaves the ready set whatever becomes of this request; the request waits for another pod if it
  // can be sent again, a few times at most (an app that sends such answers itself must not loop it).
  protected override unprocessed(replayable: boolean): boolean {
    if (!this.pod) return false;
    this.throttler.markUnready(this.pod);
    return replayable && ++this.unprocessedResends <= MAX_UNPROCESSED_RESENDS;
  }

  protected override resendUnprocessed(): void {
    this.waitForAnotherSlot();
  }

  protected upstreamFailed(err: NodeJS.ErrnoException): void {
    if (err.code === 'ECONNREFUSED') return this.waitForAnotherPod();
    const pod = this.pod!;
    this.releasePod();
    if (CONNECTION_CLOSED.has(err.code ?? '') && !this.resent && this.safeToResend()) {
      this.resent = true;
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

  /** Nothing of the request is lost by sending it again: an idempotent method and no body. */
  private safeToResend(): boolean {
    const { method, headers } = this.req;
    if (!IDEMPOTENT_WITHOUT_BODY.has(method ?? '') || this.bodyReceived > 0) return false;
    const length = headers['content-length'];
    return headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
  }

  /** The pod never saw the request: it leaves the ready set until probed again, and the request waits for a slot. */
  private waitForAnotherPod(): void {
    this.throttler.markUnready(this.pod!);
    this.waitForAnotherSlot();
  }

  /** Gives the pod's slot back and waits for a slot again, as a request that was never sent. */
  private waitForAnotherSlot(): void {
    this.releasePod();
    this.throttler.acquire(this);
  }

  private releasePod(): void {
    this.throttler.release(this.pod!);
    this.pod = undefined;
  }
}
