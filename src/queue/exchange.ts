// One proxied request, from arrival to the end of its response. The base class owns what every
// request shares — breaker slot, stats, timeouts, client disconnect — and the two subclasses own
// the upstream protocol: HTTP/1.1 through an undici Pool, HTTP/2 cleartext through one h2 session.
import type { Breaker, Waiter } from './breaker.js';
import type { DeadlineTicker, Watched } from './deadlines.js';
import type { RequestStats } from './stats.js';

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
export interface ExchangeContext {
  breaker: Breaker | undefined;
  stats: RequestStats;
  ticker: DeadlineTicker;
  timeouts: ExchangeTimeouts;
  userAddress: string;
  record(statusCode: number, durationMs: number): void;
}

export const TIMEOUT_BODY = 'request timeout';
export const QUEUE_FULL_BODY = 'pending request queue full';

const EXCHANGE = Symbol('exchange');

function onClientClose(this: OutboundResponse): void {
  (this as unknown as { [EXCHANGE]: Exchange })[EXCHANGE].clientClosed();
}

export abstract class Exchange implements Waiter, Watched {
  protected readonly startedAt = Date.now();
  protected lastActivity = this.startedAt;
  protected responseStarted = false;
  private state: 'new' | 'queued' | 'active' | 'done' = 'new';
  private holdsSlot = false;
  private statusCode = 0;

  constructor(
    protected readonly ctx: ExchangeContext,
    protected readonly req: InboundRequest,
    protected readonly res: OutboundResponse,
    private readonly proxied: boolean,
  ) {
    (res as unknown as { [EXCHANGE]: Exchange })[EXCHANGE] = this;
    res.once('close', onClientClose);
  }

  begin(): void {
    this.ctx.stats.requestIn(this.startedAt, this.proxied);
    if (this.hasTimeouts()) this.ctx.ticker.add(this);
    const verdict = this.ctx.breaker ? this.ctx.breaker.acquire(this) : 'granted';
    if (verdict === 'granted') {
      this.holdsSlot = this.ctx.breaker !== undefined;
      this.start();
    } else if (verdict === 'queued') {
      this.state = 'queued';
    } else {
      this.replyError(503, QUEUE_FULL_BODY);
    }
  }

  /** The breaker hands us a slot after waiting in its queue. */
  grant(): void {
    this.holdsSlot = true;
    if (this.state === 'done') {
      this.releaseSlot();
      return;
    }
    this.start();
  }

  private start(): void {
    this.state = 'active';
    this.forward();
  }

  private hasTimeouts(): boolean {
    const t = this.ctx.timeouts;
    return t.revisionMs > 0 || t.responseStartMs > 0 || t.idleMs > 0;
  }

  onTick(now: number): boolean {
    if (this.state === 'done') return false;
    const t = this.ctx.timeouts;
    const expired =
      (t.revisionMs > 0 && now - this.startedAt >= t.revisionMs) ||
      (t.responseStartMs > 0 && !this.responseStarted && now - this.startedAt >= t.responseStartMs) ||
      (t.idleMs > 0 && now - this.lastActivity >= t.idleMs);
    if (!expired) return true;
    // Answer first: aborting the upstream reports an error that must not become a 502.
    if (this.responseStarted) this.fail();
    else this.replyError(504, TIMEOUT_BODY);
    this.abortUpstream();
    return false;
  }

  protected get finished(): boolean {
    return this.state === 'done';
  }

  clientClosed(): void {
    if (this.state === 'done') return;
    // The client left before the response ended: free the slot at once and stop the app's work.
    this.finish();
    this.abortUpstream();
  }

  protected touch(): void {
    this.lastActivity = Date.now();
  }

  /** Sends a short plain-text error unless the response has begun; then ends the exchange. */
  protected replyError(statusCode: number, body: string): void {
    if (!this.res.headersSent && !this.res.destroyed) {
      this.statusCode = statusCode;
      this.res.writeHead(statusCode, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body) + 1) });
      this.res.end(body + '\n');
    }
    this.finish();
  }

  protected markResponseStart(statusCode: number): void {
    this.responseStarted = true;
    this.statusCode = statusCode;
    this.touch();
  }

  /** The response can't be completed: cut the connection so the client sees it. */
  protected fail(): void {
    this.res.destroy();
    this.finish();
  }

  protected finish(): void {
    if (this.state === 'done') return;
    const wasQueued = this.state === 'queued';
    this.state = 'done';
    if (this.hasTimeouts()) this.ctx.ticker.delete(this);
    if (wasQueued && this.ctx.breaker && !this.holdsSlot) {
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

  protected abstract forward(): void;
  protected abstract abortUpstream(): void;
}
