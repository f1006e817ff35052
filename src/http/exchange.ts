// One proxied request, written once for the gateway, the activator and the queue-proxy. The object
// is undici's dispatch handler for HTTP/1.1 upstreams and the listener target of an HTTP/2
// upstream stream, so forwarding allocates no closures. This class owns the bytes — request body,
// response head, body and trailers, backpressure, ending both sides — and subclasses own the
// decisions: where the request goes, what a failure answers, which slot is released at the end.
import type { ServerResponse } from 'node:http';
import http2, {
  type ClientHttp2Stream,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { InboundRequest, OutboundResponse } from './auto-codec.js';
import type { DeadlineTicker, Watched } from './deadlines.js';
import { downstreamResponseHeaders, firstHeaderValue } from './forward-headers.js';
import { H_UNPROCESSED } from '../model/headers.js';
import type { H2Upstream } from './h2-upstream.js';
import type { HttpLimits } from './limits.js';

type Controller = Dispatcher.DispatchController;
type HeaderObject = Record<string, string | string[] | undefined>;

/** Where a request can go: an undici Pool (HTTP/1.1) or one shared h2c session. */
export interface Upstream {
  pool?: Dispatcher | undefined;
  h2?: H2Upstream | undefined;
}

/** Limits every exchange of one server shares (one object per server, not per request). */
export interface ExchangeSettings extends Pick<HttpLimits, 'bodyIdleTimeoutMs' | 'drainMs'> {
  /** The shared coarse tick that checks every request's deadlines. */
  ticker: DeadlineTicker;
}

export const REQUEST_BODY_TIMEOUT = 'request body timeout';
/** Past drainMs, the rest of an upload is still read, a drainMs at a time, while each brought at least this much. */
export const DRAIN_MIN_BYTES_PER_SECOND = 1024 * 1024;
/** However fast it comes, the rest of an upload is read for at most this many times drainMs. */
export const DRAIN_MAX_WINDOWS = 12;

const EXCHANGE = Symbol('exchange');
type Tagged = { [EXCHANGE]: ProxyExchange };
const exchangeOf = (o: object): ProxyExchange => (o as Tagged)[EXCHANGE];

// Listeners shared by every request: `this` is the response or the upstream stream, tagged with its exchange.
function onClientClose(this: OutboundResponse): void {
  exchangeOf(this).clientClosed();
}
function onClientDrain(this: OutboundResponse): void {
  exchangeOf(this).clientDrained();
}
function onH2Response(this: ClientHttp2Stream, headers: IncomingHttpHeaders): void {
  const status = Number(headers[':status']);
  if (status >= 200) exchangeOf(this).responseStart(status, downstreamResponseHeaders(headers), undefined);
}
function ignoreH2Error(): void {}
function onH2Data(this: ClientHttp2Stream, chunk: Buffer): void {
  exchangeOf(this).responseData(chunk, this);
}
function onH2Trailers(this: ClientHttp2Stream, trailers: IncomingHttpHeaders): void {
  exchangeOf(this).responseTrailers(trailers);
}
function onH2End(this: ClientHttp2Stream): void {
  exchangeOf(this).responseEnd();
}
function onBodyData(this: InboundRequest, chunk: Buffer): void {
  exchangeOf(this).bodyReceived += chunk.length;
}
function onH2Error(this: ClientHttp2Stream, err: Error): void {
  // A session that could not connect cancels its streams; report why it could not (ECONNREFUSED...).
  const cause =
    (err as NodeJS.ErrnoException).code === 'ERR_HTTP2_STREAM_CANCEL' ? (err.cause as Error | undefined) : undefined;
  exchangeOf(this).upstreamError(cause ?? err);
}

/** The rest of an unfinished request body did not come in time: close its connection (HTTP/2: its stream). */
function closeUndrained(req: InboundRequest): void {
  if (req.httpVersionMajor === 2) (req as Http2ServerRequest).stream.close(http2.constants.NGHTTP2_CANCEL);
  else req.socket?.destroy();
}

/** Whether the request carries a body to forward. */
export function hasRequestBody(req: InboundRequest): boolean {
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders && !req.readableEnded;
  const h = req.headers;
  return h['content-length'] !== undefined ? h['content-length'] !== '0' : h['transfer-encoding'] !== undefined;
}

/** The flat list without the header of this (lower-case) name: the same array when it has none. */
export function withoutHeader(flat: string[], name: string): string[] {
  if (firstHeaderValue(flat, name) === undefined) return flat;
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() !== name) out.push(flat[i]!, flat[i + 1]!);
  return out;
}

function headerObject(flat: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    const prior = out[name];
    out[name] = prior === undefined ? flat[i + 1]! : ([] as string[]).concat(prior, flat[i + 1]!);
  }
  return out;
}

/** A whole plain-text HTTP/1.1 response for a raw socket (upgrade refusals), closing the connection. */
export function rawResponse(status: number, reason: string, body: string): string {
  return (
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ` +
    `${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}

export abstract class ProxyExchange implements Dispatcher.DispatchHandler, Watched {
  /** The upstream's final response head arrived (1xx don't count). */
  protected responseStarted = false;
  /** Date.now() of the last response byte from the upstream. */
  protected lastActivity: number;
  private controller: Controller | undefined;
  private h2Stream: ClientHttp2Stream | undefined;
  private over = false;
  tickerPrev: Watched | null = null;
  tickerNext: Watched | null = null;
  /**
   * Request body bytes received so far. Counted per request, not from the connection's socket: the
   * streams of one HTTP/2 connection share it, and a busy stream must not keep a stalled one alive.
   */
  bodyReceived = 0;
  /** The request carried a body when first sent (so it cannot be sent again). */
  private requestHadBody = false;
  private countingBody = false;
  /** While a request body is being forwarded: bodyReceived at the last tick, and when that last grew. */
  private bodyWatched = false;
  private bodyBytes = 0;
  private bodyProgressAt = 0;
  /** After the response, while the rest of the request body is read and dropped: the drainMs window under way
   * (when it began, bodyReceived then) and how many there were. */
  private drainWindowAt = 0;
  private drainWindowBytes = 0;
  private drainWindows = 0;

  constructor(
    protected readonly settings: ExchangeSettings,
    protected readonly req: InboundRequest,
    protected readonly res: OutboundResponse,
    now: number,
  ) {
    this.lastActivity = now;
    (res as unknown as Tagged)[EXCHANGE] = this;
    res.once('close', onClientClose);
  }

  // ── what subclasses decide ──

  /** Called once when the exchange ends, however it ends: release what the request holds. */
  protected abstract finished(): void;
  /** The upstream failed before its response began: answer, retry or give up. */
  protected abstract upstreamFailed(err: NodeJS.ErrnoException): void;
  /** The response head arrived with this status. */
  protected upstreamResponded(_status: number): void {}
  /**
   * The upstream answered that nothing of this request reached its app (a queue-proxy's 502 with H_UNPROCESSED).
   * `replayable`: the request had no body, so it can be sent again. True to send it elsewhere instead of passing the
   * answer on: then `resendUnprocessed` sends it, once the answer is dropped.
   */
  protected unprocessed(_replayable: boolean): boolean {
    return false;
  }
  /** Sends the request again (`send`), after the upstream's answer was dropped. */
  protected resendUnprocessed(): void {}
  /** The response headers for the client (a flat list); override to rewrite them. */
  protected responseHeaders(flat: string[]): string[] {
    return flat;
  }
  /** Checks the subclass's own deadlines on each tick (after `watch()`); false once one fired. */
  protected deadlines(_now: number): boolean {
    return true;
  }

  // ── deadlines ──

  /** Puts the exchange on the shared tick (idempotent); it leaves it when it ends. */
  protected watch(): void {
    if (!this.over) this.settings.ticker.add(this);
  }

  onTick(now: number): boolean {
    if (this.draining) return this.drainTick(now);
    if (this.over) return false;
    if (this.bodyWatched && this.bodyStalled(now)) {
      // The client stopped sending its body: it must not hold a slot (and a connection) until the
      // request's own deadline. Envoy's stream idle timeout answers 408 the same way.
      if (this.responseStarted) this.fail();
      else this.reply(408, REQUEST_BODY_TIMEOUT + '\n', true);
      this.abortUpstream();
      return this.draining;
    }
    // A deadline's answer can leave the rest of an upload to drain: the tick goes on watching that.
    return this.deadlines(now) || this.draining;
  }

  /** The rest of an unfinished request body is being read and dropped (after the answer). */
  private get draining(): boolean {
    return this.drainWindowAt > 0;
  }

  /** While the rest of an unfinished body is dropped: done when it ends; closed when it stalls or drainMayGoOn says. */
  private drainTick(now: number): boolean {
    if (this.req.complete) return false;
    if (!this.bodyStalled(now) && this.drainMayGoOn(now)) return true;
    closeUndrained(this.req);
    return false;
  }

  /**
   * The first drainMs, always; each further one only if the last brought DRAIN_MIN_BYTES_PER_SECOND, up to
   * DRAIN_MAX_WINDOWS in all. An upload still coming fast is read to its end (on a busy machine 100 MB takes longer
   * than drainMs, and cutting it would fail a client that did no wrong); a trickle, or a fast start then a trickle,
   * is not. drainMs 0: closed at once.
   */
  private drainMayGoOn(now: number): boolean {
    const { drainMs } = this.settings;
    if (drainMs <= 0) return false;
    const elapsedMs = now - this.drainWindowAt;
    if (elapsedMs < drainMs) return true;
    const drained = this.bodyReceived - this.drainWindowBytes;
    if (drained * 1000 < DRAIN_MIN_BYTES_PER_SECOND * elapsedMs || ++this.drainWindows >= DRAIN_MAX_WINDOWS)
      return false;
    this.drainWindowAt = now;
    this.drainWindowBytes = this.bodyReceived;
    return true;
  }

  private bodyStalled(now: number): boolean {
    const req = this.req;
    if (req.complete) {
      this.bodyWatched = false;
      return false;
    }
    const read = this.bodyReceived;
    // Bytes buffered on our side mean the upstream is slow, not the client.
    if (read !== this.bodyBytes || req.readableLength > 0) {
      this.bodyBytes = read;
      this.bodyProgressAt = now;
      return false;
    }
    return this.settings.bodyIdleTimeoutMs > 0 && now - this.bodyProgressAt >= this.settings.bodyIdleTimeoutMs;
  }

  // ── forwarding ──

  /** Sends the request to `upstream` with these request headers (a flat name/value list). */
  protected send(upstream: Upstream, headers: string[]): void {
    this.controller = undefined;
    this.h2Stream = undefined;
    const req = this.req;
    const body = hasRequestBody(req);
    // Decided once: an HTTP/2 request's short body may be read (and gone) by the time of a resend.
    this.requestHadBody ||= body || this.bodyReceived > 0;
    if (body && this.settings.bodyIdleTimeoutMs > 0 && !req.complete) {
      this.countBody();
      this.bodyWatched = true;
      this.bodyBytes = this.bodyReceived;
      this.bodyProgressAt = Date.now();
      this.watch();
    }
    if (upstream.h2) return this.sendH2(upstream.h2, headers);
    // undici gets the body through its own stream: when the upstream answers early, undici destroys
    // the stream it was given, and that must not be the client's request (and so its connection).
    upstream.pool!.dispatch(
      {
        path: req.url ?? '/',
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: body ? req.pipe(new PassThrough()) : null,
      },
      this,
    );
  }

  private sendH2(h2: H2Upstream, flat: string[]): void {
    const req = this.req;
    const out: OutgoingHttpHeaders = headerObject(flat);
    out[':method'] = req.method;
    out[':path'] = req.url;
    out[':scheme'] = 'http';
    const host = out.host;
    delete out.host;
    out[':authority'] = host ?? req.headers[':authority'] ?? h2.authority;
    let stream: ClientHttp2Stream;
    try {
      stream = h2.get().request(out);
    } catch (err) {
      return this.upstreamError(err as Error);
    }
    (stream as unknown as Tagged)[EXCHANGE] = this;
    this.h2Stream = stream;
    stream.on('response', onH2Response);
    stream.on('data', onH2Data);
    stream.on('trailers', onH2Trailers);
    stream.on('end', onH2End);
    stream.on('error', onH2Error);
    req.pipe(stream);
  }

  /** Counts the request's body bytes as they are read (a 'data' listener beside the pipe's; it changes no flow). */
  private countBody(): void {
    if (this.countingBody) return;
    this.countingBody = true;
    (this.req as unknown as Tagged)[EXCHANGE] = this;
    this.req.on('data', onBodyData);
  }

  /** Lets go of the upstream exchange under way, whose answer is not wanted: nothing it reports reaches this one. */
  private dropUpstream(): void {
    // undici keeps reading the (short) answer off its connection for the next request; its callbacks carry a
    // controller that is no longer this.controller and are ignored.
    this.controller = undefined;
    const stream = this.h2Stream;
    if (stream) {
      this.h2Stream = undefined;
      this.req.unpipe(stream);
      stream.off('response', onH2Response);
      stream.off('data', onH2Data);
      stream.off('trailers', onH2Trailers);
      stream.off('end', onH2End);
      stream.off('error', onH2Error);
      stream.on('error', ignoreH2Error);
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
  }

  /** Stops the upstream exchange (deadline passed, client gone); its error report is then ignored. */
  protected abortUpstream(): void {
    this.controller?.abort(new Error('request ended by the proxy'));
    this.h2Stream?.close(http2.constants.NGHTTP2_CANCEL);
  }

  // ── ending ──

  protected get ended(): boolean {
    return this.over;
  }

  protected end(): void {
    if (this.over) return;
    this.over = true;
    const unfinished = !this.req.complete && !this.res.destroyed && hasRequestBody(this.req);
    const drain = unfinished && this.req.httpVersionMajor !== 2;
    if (!drain) this.settings.ticker.delete(this);
    this.finished();
    if (!unfinished) return;
    // The upstream has no use for the rest either: an h2c upstream stream would stay half open.
    this.h2Stream?.close(http2.constants.NGHTTP2_CANCEL);
    if (drain) this.drainRequestBody();
    else this.refuseRestOfBody();
  }

  /**
   * HTTP/2: the answer came before the whole request body; once the answer is out, RST_STREAM NO_ERROR asks the
   * client to stop sending (RFC 9113 §8.1, as Envoy does). Only this stream ends, and at once: there is no connection
   * to keep in step, as HTTP/1.1 must by reading the rest.
   */
  private refuseRestOfBody(): void {
    this.req.unpipe();
    (this.req as Http2ServerRequest).stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }

  /**
   * HTTP/1.1: the response is done before the request body (the app answered early, or we did): read
   * the rest and drop it, so the client is not left blocked on a full socket and can read its answer
   * and reuse the connection. A body that stalls (bodyIdleTimeoutMs), trickles on past drainMs, or is still coming
   * after DRAIN_MAX_WINDOWS × drainMs gets its connection closed.
   */
  private drainRequestBody(): void {
    const req = this.req;
    req.unpipe();
    this.countBody();
    req.resume();
    const now = Date.now();
    this.drainWindowAt = now;
    this.drainWindowBytes = this.bodyReceived;
    this.bodyBytes = this.bodyReceived;
    this.bodyProgressAt = now;
    this.settings.ticker.add(this);
  }

  /**
   * A short plain-text answer unless the response has begun; then the exchange ends. `close` ends
   * what carries the request after the answer: the connection (HTTP/1.1), or the stream alone
   * (HTTP/2, whose other streams go on).
   */
  protected reply(status: number, body: string, close = false): void {
    const res = this.res;
    const h2 = this.req.httpVersionMajor === 2;
    if (!res.headersSent && !res.destroyed) {
      const headers: Record<string, string> = {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
      };
      if (close && !h2) headers.connection = 'close';
      res.writeHead(status, headers);
      res.end(body);
    }
    if (close && h2) closeUndrained(this.req);
    this.end();
  }

  /** The response cannot be completed: cut the client's stream so it sees that. */
  protected fail(): void {
    this.res.destroy();
    this.end();
  }

  /** A deadline passed: answer `status` if nothing was sent yet, else cut; stop the upstream. */
  protected timedOut(status: number, body: string): void {
    if (this.over) return;
    // Answer first: aborting the upstream reports an error that must not become another answer.
    if (this.responseStarted) this.fail();
    else this.reply(status, body);
    this.abortUpstream();
  }

  clientClosed(): void {
    if (this.over) return;
    // The client left before the response ended: free what the request holds and stop the upstream.
    this.end();
    this.abortUpstream();
  }

  clientDrained(): void {
    this.controller?.resume();
    this.h2Stream?.resume();
  }

  upstreamError(err: Error): void {
    if (this.over) return;
    if (this.responseStarted || this.res.destroyed) return this.fail();
    this.upstreamFailed(err);
  }

  responseStart(status: number, flat: string[], statusMessage: string | undefined): void {
    if (this.over) return;
    if (
      status === 502 &&
      firstHeaderValue(flat, H_UNPROCESSED) !== undefined &&
      this.unprocessed(!this.requestHadBody)
    ) {
      this.dropUpstream();
      return this.resendUnprocessed();
    }
    this.responseStarted = true;
    this.upstreamResponded(status);
    const res = this.res;
    if (res.destroyed) return;
    const headers = this.responseHeaders(flat);
    if (this.req.httpVersionMajor === 2) (res as Http2ServerResponse).writeHead(status, headerObject(headers));
    else if (statusMessage) (res as ServerResponse).writeHead(status, statusMessage, headers);
    else (res as ServerResponse).writeHead(status, headers);
    res.on('drain', onClientDrain);
  }

  responseData(chunk: Buffer, source: { pause(): unknown }): void {
    this.lastActivity = Date.now();
    if (!(this.res as ServerResponse).write(chunk)) source.pause();
  }

  responseTrailers(trailers: HeaderObject): void {
    const flat = downstreamResponseHeaders(trailers);
    if (flat.length > 0) this.res.addTrailers(headerObject(flat));
  }

  responseEnd(): void {
    if (this.over) return;
    this.res.end();
    this.end();
  }

  // ── undici's DispatchHandler ──

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    // The client left before the request reached a connection: abortUpstream had nothing to abort then.
    if (this.over) controller.abort(new Error('request ended by the proxy'));
  }

  // A dispatch whose answer was dropped (dropUpstream) still reports to this handler: its controller tells it apart.

  onResponseStart(controller: Controller, statusCode: number, headers: HeaderObject, statusMessage?: string): void {
    if (statusCode >= 200 && controller === this.controller)
      this.responseStart(statusCode, downstreamResponseHeaders(headers), statusMessage);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (controller === this.controller) this.responseData(chunk, controller);
  }

  onResponseEnd(controller: Controller, trailers: HeaderObject): void {
    if (controller !== this.controller) return;
    if (trailers) this.responseTrailers(trailers);
    this.responseEnd();
  }

  onResponseError(controller: Controller, err: Error): void {
    if (controller === this.controller) this.upstreamError(err);
  }
}
