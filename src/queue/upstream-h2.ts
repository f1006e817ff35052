// HTTP/2 cleartext to the app (prior knowledge), used for requests that arrived over HTTP/2 — as
// Knative's auto transport does — so gRPC keeps its trailers end to end.
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { Exchange, type ExchangeContext } from './exchange.js';
import { isHopByHop } from '../http/forward-headers.js';
import type { H2Upstream } from '../http/h2-upstream.js';


function requestHeaders(req: Http2ServerRequest, authority: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {
    ':method': req.method,
    ':path': req.url,
    ':scheme': 'http',
    ':authority': req.authority || authority,
  };
  const h = req.headers;
  for (const name in h) {
    if (name.charCodeAt(0) === 58 || name === 'host') continue;
    if (isHopByHop(name) && !(name === 'te' && h[name] === 'trailers')) continue;
    const value = h[name];
    if (value !== undefined) out[name] = value;
  }
  const client = req.socket?.remoteAddress;
  if (client !== undefined) {
    const prior = h['x-forwarded-for'];
    out['x-forwarded-for'] = prior ? `${prior}, ${client}` : client;
  }
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 || isHopByHop(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export class Http2Exchange extends Exchange {
  private stream: ClientHttp2Stream | undefined;

  constructor(
    ctx: ExchangeContext,
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    proxied: boolean,
    private readonly upstream: H2Upstream,
  ) {
    super(ctx, req, res, proxied);
  }

  protected forward(): void {
    const req = this.req as Http2ServerRequest;
    const res = this.res as Http2ServerResponse;
    let stream: ClientHttp2Stream;
    try {
      stream = this.upstream.get().request(requestHeaders(req, this.ctx.userAddress));
    } catch (err) {
      this.replyError(502, `the app failed to answer: ${(err as Error).message}`);
      return;
    }
    this.stream = stream;
    req.pipe(stream);
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      this.markResponseStart(status);
      if (!res.destroyed) res.writeHead(status, responseHeaders(headers));
    });
    stream.on('data', (chunk: Buffer) => {
      this.touch();
      if (!res.write(chunk)) {
        stream.pause();
        res.once('drain', () => stream.resume());
      }
    });
    stream.on('trailers', (trailers) => res.addTrailers(responseHeaders(trailers)));
    stream.on('end', () => {
      res.end();
      this.finish();
    });
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (this.finished) return;
      if (this.responseStarted) return this.fail();
      if (err.code === 'ECONNREFUSED') this.replyError(502, `the app is not reachable at ${this.ctx.userAddress}: connection refused`);
      else this.replyError(502, `the app failed to answer: ${err.message}`);
    });
  }

  protected abortUpstream(): void {
    this.stream?.close(http2.constants.NGHTTP2_CANCEL);
  }
}
