// HTTP/1.1 to the app through an undici Pool. The exchange object itself is undici's handler, so a
// request allocates no closures: the prototype methods are the lifecycle callbacks.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher, Pool } from 'undici';
import { Exchange, type ExchangeContext } from './exchange.js';
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../http/forward-headers.js';

type Controller = Dispatcher.DispatchController;

function onResponseDrain(this: ServerResponse): void {
  (this as unknown as { [UPSTREAM]: Controller | undefined })[UPSTREAM]?.resume();
}

const UPSTREAM = Symbol('upstream');

export class Http1Exchange extends Exchange implements Dispatcher.DispatchHandler {
  private controller: Controller | undefined;

  constructor(
    ctx: ExchangeContext,
    req: IncomingMessage,
    res: ServerResponse,
    proxied: boolean,
    private readonly pool: Pool,
  ) {
    super(ctx, req, res, proxied);
  }

  protected forward(): void {
    const req = this.req as IncomingMessage;
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    this.pool.dispatch(
      {
        origin: this.ctx.userAddress,
        path: req.url ?? '/',
        method: req.method as Dispatcher.HttpMethod,
        headers: upstreamRequestHeaders(req.rawHeaders, req.socket.remoteAddress, false),
        body: hasBody ? req : null,
      },
      this,
    );
  }

  protected abortUpstream(): void {
    this.controller?.abort(new Error('request ended by the queue-proxy'));
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    // 1xx informational responses are not forwarded.
    if (statusCode < 200) return;
    this.markResponseStart(statusCode);
    const res = this.res as ServerResponse;
    if (res.destroyed) return;
    res.writeHead(statusCode, statusMessage ?? '', downstreamResponseHeaders(headers));
    (res as unknown as { [UPSTREAM]: Controller })[UPSTREAM] = controller;
    res.on('drain', onResponseDrain);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.touch();
    if (!(this.res as ServerResponse).write(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Controller, trailers: Record<string, string | string[] | undefined>): void {
    const res = this.res as ServerResponse;
    if (trailers && Object.keys(trailers).length > 0) res.addTrailers(trailers as Record<string, string>);
    res.end();
    this.finish();
  }

  onResponseError(_controller: Controller, err: Error): void {
    if (this.finished) return;
    if (this.responseStarted) {
      this.fail();
      return;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED') this.replyError(502, `the app is not reachable at ${this.ctx.userAddress}: connection refused`);
    else if (code === 'UND_ERR_ABORTED' || (this.res as ServerResponse).destroyed) this.finish();
    else this.replyError(502, `the app failed to answer: ${err.message}`);
  }
}
