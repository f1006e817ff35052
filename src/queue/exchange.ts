// One request through the queue-proxy, from arrival to the end of its response: breaker slot,
// stats and Knative's timeouts. The bytes (HTTP/1.1 through an undici Pool, HTTP/2 cleartext
// through one h2 session) are moved by the shared proxy exchange.
import type { Breaker, Waiter } from './breaker.js';
import { ProxyExchange, withoutHeader, type ExchangeSettings, type Upstream } from '../http/exchange.js';
import { upstreamRequestHeaders } from '../http/forward-headers.js';
import { H_UNPROCESSED } from '../model/headers.js';
import type { RequestStats } from '../stats/request-stats.js';

export type { InboundRequest, OutboundResponse } from '../http/auto-codec.js';
import type { InboundRequest, OutboundResponse } from '../http/auto-codec.js';

export interface ExchangeTimeouts {
  /** Whole request. */
  revisionMs: number;
  /** Until the app starts its response. */
  responseStartMs: number;
  /** Without a byte from the app (Knative's idle timeout). */
  idleMs: number;
}

/** Everything a request needs from its queue-proxy; one instance per server. */
export interface ExchangeContext extends ExchangeSettings {
  breaker: Breaker | undefined;
  stats: RequestStats;
  timeouts: ExchangeTimeouts;
  userAddress: string;
  /** The app over HTTP/1.1 (requests that came as HTTP/1.1) and over h2c (those that came as HTTP/2). */
  h1: Upstream;
  h2: Upstream;
  record(statusCode: number, durationMs: number): void;
}

export const TIMEOUT_BODY = 'request timeout';
export const QUEUE_FULL_BODY = 'pending request queue full';

export class QueueExchange extends ProxyExchange implements Waiter {
  private readonly startedAt: number;
  private state: 'new' | 'queued' | 'active' = 'new';
  private holdsSlot = false;
  private statusCode = 0;

  constructor(
    private readonly ctx: ExchangeContext,
    req: InboundRequest,
    res: OutboundResponse,
    private readonly proxied: boolean,
  ) {
    const now = Date.now();
    super(ctx, req, res, now);
    this.startedAt = now;
  }

  begin(): void {
    this.ctx.stats.requestIn(this.startedAt, this.proxied);
    if (this.hasTimeouts()) this.watch();
    const verdict = this.ctx.breaker ? this.ctx.breaker.acquire(this) : 'granted';
    if (verdict === 'granted') {
      this.holdsSlot = this.ctx.breaker !== undefined;
      this.forward();
    } else if (verdict === 'queued') {
      this.state = 'queued';
    } else {
      this.replyError(503, QUEUE_FULL_BODY);
    }
  }

  /** The breaker hands us a slot after waiting in its queue. */
  grant(): void {
    this.holdsSlot = true;
    if (this.ended) return this.releaseSlot();
    this.forward();
  }

  private forward(): void {
    this.state = 'active';
    const req = this.req;
    const h2 = req.httpVersionMajor === 2;
    this.send(h2 ? this.ctx.h2 : this.ctx.h1, upstreamRequestHeaders(req.rawHeaders, req.socket?.remoteAddress, h2));
  }

  private hasTimeouts(): boolean {
    const t = this.ctx.timeouts;
    return t.revisionMs > 0 || t.responseStartMs > 0 || t.idleMs > 0;
  }

  protected override deadlines(now: number): boolean {
    const t = this.ctx.timeouts;
    const expired =
      (t.revisionMs > 0 && now - this.startedAt >= t.revisionMs) ||
      (t.responseStartMs > 0 && !this.responseStarted && now - this.startedAt >= t.responseStartMs) ||
      (t.idleMs > 0 && now - this.lastActivity >= t.idleMs);
    if (!expired) return true;
    if (!this.responseStarted) this.statusCode = 504;
    this.timedOut(504, TIMEOUT_BODY + '\n');
    return false;
  }

  private replyError(statusCode: number, body: string): void {
    if (!this.res.headersSent) this.statusCode = statusCode;
    this.reply(statusCode, body + '\n');
  }

  // An app's own X-Gatehouse-Unprocessed is not this queue-proxy's word: it would have the request sent again.
  protected override responseHeaders(flat: string[]): string[] {
    return withoutHeader(flat, H_UNPROCESSED);
  }

  protected override upstreamResponded(status: number): void {
    this.statusCode = status;
  }

  protected upstreamFailed(err: NodeJS.ErrnoException): void {
    if (err.code === 'ECONNREFUSED') {
      // Nothing reached the app: whoever sent the request may give it to another pod.
      if (!this.res.headersSent) this.res.setHeader(H_UNPROCESSED, 'app-refused');
      this.replyError(502, `the app is not reachable at ${this.ctx.userAddress}: connection refused`);
    } else this.replyError(502, `the app failed to answer: ${err.message}`);
  }

  protected finished(): void {
    if (this.state === 'queued' && this.ctx.breaker && !this.holdsSlot) {
      if (!this.ctx.breaker.cancel(this)) this.holdsSlot = true;
    }
    this.releaseSlot();
    const now = Date.now();
    this.ctx.stats.requestOut(now, this.proxied);
    this.ctx.record(this.statusCode, now - this.startedAt);
  }

  private releaseSlot(): void {
    if (this.holdsSlot) {
      this.holdsSlot = false;
      this.ctx.breaker!.release();
    }
  }
}
