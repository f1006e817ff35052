// HTTP/2 cleartext to the app (prior knowledge), used for requests that arrived over HTTP/2 — as
// Knative's auto transport does — so gRPC keeps its trailers end to end.
import http2, { type ClientHttp2Stream, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { Exchange, type ExchangeContext } from './exchange.js';
import { h2RequestHeaders, h2ResponseHeaders, pipeH2Body, type H2Upstream } from '../http/h2-upstream.js';

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
      stream = this.upstream.get().request(h2RequestHeaders(req, this.ctx.userAddress));
    } catch (err) {
      this.replyError(502, `the app failed to answer: ${(err as Error).message}`);
      return;
    }
    this.stream = stream;
    req.pipe(stream);
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      this.markResponseStart(status);
      if (!res.destroyed) res.writeHead(status, h2ResponseHeaders(headers));
    });
    pipeH2Body(stream, res, () => this.touch());
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
