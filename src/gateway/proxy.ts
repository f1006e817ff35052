// The gateway's request path: look up host → route → weighted target → endpoint in the current
// immutable config, rewrite headers as Envoy would, and stream the exchange through the endpoint's
// undici Pool (HTTP/1.1) or h2c session. Errors use Envoy's status codes and body texts.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { plain, type InboundRequest, type OutboundResponse } from '../http/auto-codec.js';
import { downstreamResponseHeaders, rawRequestHead, upstreamRequestHeaders } from '../http/forward-headers.js';
import { pipeH2Body } from '../http/h2-upstream.js';
import type { HeaderMutation, ListenerConfig, RouteEntry, RouteTable, ScopeSet } from './compile.js';
import { applyMutations, pickTarget, routeRequest } from './match.js';
import type { ClusterRuntime, UpstreamEndpoint } from './upstreams.js';

export interface GatewayConfig {
  routeTables: ReadonlyMap<string, RouteTable>;
  /** The SRDS scopes, shared by every listener whose scoped_routes use scoped_rds. */
  scopes: ScopeSet;
  clusters: ReadonlyMap<string, ClusterRuntime>;
}

export const NO_ROUTE_STATUS = 404;
export const NO_HEALTHY_UPSTREAM = 'no healthy upstream';
export const UPSTREAM_TIMEOUT = 'upstream request timeout';
export const CONNECT_FAILURE = 'upstream connect error or disconnect/reset before headers. reset reason: connection failure';

interface Resolved {
  route: RouteEntry;
  cluster: ClusterRuntime;
  upstream: UpstreamEndpoint;
  headers: string[];
  responseMutations: HeaderMutation[];
}

type Failure = { status: number; body: string };

/** Everything up to the choice of endpoint; a Failure says what to answer instead. */
function resolve(listener: ListenerConfig, config: GatewayConfig, req: InboundRequest): Resolved | Failure {
  const routed = routeRequest(listener, config.scopes, config.routeTables, req.rawHeaders, req.url ?? '/', req.headers);
  if (!routed) return { status: NO_ROUTE_STATUS, body: '' };
  const { table, vh, route, authority } = routed;
  const target = pickTarget(route, Math.random());
  const cluster = config.clusters.get(target.cluster);
  const upstream = cluster?.pick();
  if (!upstream) return { status: 503, body: NO_HEALTHY_UPSTREAM };
  let headers = upstreamRequestHeaders(routed.rawHeaders, req.socket?.remoteAddress, req.httpVersionMajor === 2, true);
  if (authority !== undefined && routed.headers.host === undefined) headers.push('host', authority);
  if (routed.headers['x-forwarded-proto'] === undefined) headers.push('x-forwarded-proto', 'http');
  if (routed.headers['x-request-id'] === undefined) headers.push('x-request-id', randomUUID());
  headers = applyMutations(headers, [target.requestHeaders, route.requestHeaders, vh.requestHeaders, table.requestHeaders]);
  return { route, cluster: cluster!, upstream, headers, responseMutations: [route.responseHeaders, vh.responseHeaders, table.responseHeaders] };
}

function hasRequestBody(req: InboundRequest): boolean {
  const h = req.headers;
  if (req.httpVersionMajor === 2) return req.method !== 'GET' && req.method !== 'HEAD' && !(req as { readableEnded?: boolean }).readableEnded;
  return h['content-length'] !== undefined ? h['content-length'] !== '0' : h['transfer-encoding'] !== undefined;
}

function writeHead(res: OutboundResponse, status: number, flat: string[]): void {
  if ((res as ServerResponse).req?.httpVersionMajor !== 2) {
    (res as ServerResponse).writeHead(status, flat);
    return;
  }
  const object: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const prior = object[name];
    object[name] = prior === undefined ? flat[i + 1]! : ([] as string[]).concat(prior, flat[i + 1]!);
  }
  res.writeHead(status, object);
}

function responseHeaders(headers: Record<string, string | string[] | undefined>, mutations: HeaderMutation[]): string[] {
  const flat = downstreamResponseHeaders(headers);
  for (let i = 0; i < flat.length; i += 2) flat[i] = flat[i]!.toLowerCase();
  return mutations.every((m) => m.add.length === 0 && m.remove.length === 0) ? flat : applyMutations(flat, mutations);
}

/** One request through the gateway; the object is undici's dispatch handler for HTTP/1.1 upstreams. */
class GatewayExchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private h2Stream: ClientHttp2Stream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private done = false;
  private retriesLeft = 0;
  private upstream: UpstreamEndpoint;

  constructor(
    private readonly req: InboundRequest,
    private readonly res: OutboundResponse,
    private readonly r: Resolved,
  ) {
    this.upstream = r.upstream;
  }

  start(): void {
    const { route } = this.r;
    this.retriesLeft = hasRequestBody(this.req) ? 0 : route.connectRetries; // a body cannot be replayed
    if (route.timeoutMs > 0) this.timer = setTimeout(() => this.timeout(), route.timeoutMs);
    this.res.once('close', () => {
      if (this.done) return;
      this.abort();
      this.finish();
    });
    this.forward(this.r.upstream);
  }

  private forward(upstream: UpstreamEndpoint): void {
    this.upstream = upstream;
    upstream.inFlight++;
    if (upstream.h2c) this.forwardH2(upstream);
    else this.forwardH1(upstream);
  }

  private forwardH1(upstream: UpstreamEndpoint): void {
    const req = this.req;
    upstream.pool!.dispatch({ path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers: this.r.headers, body: hasRequestBody(req) ? req : null }, this);
  }

  private forwardH2(upstream: UpstreamEndpoint): void {
    const out: Record<string, string | string[]> = { ':method': this.req.method ?? 'GET', ':path': this.req.url ?? '/', ':scheme': 'http' };
    const flat = this.r.headers;
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      if (name === 'host') out[':authority'] = flat[i + 1]!;
      else {
        const prior = out[name];
        out[name] = prior === undefined ? flat[i + 1]! : ([] as string[]).concat(prior, flat[i + 1]!);
      }
    }
    let stream: ClientHttp2Stream;
    try {
      stream = upstream.h2!.get().request(out);
    } catch {
      return this.reply(503, CONNECT_FAILURE);
    }
    this.h2Stream = stream;
    this.req.pipe(stream);
    stream.on('response', (headers: IncomingHttpHeaders) => {
      const status = Number(headers[':status']);
      if (status < 200) return;
      this.started = true;
      const plainHeaders: Record<string, string | string[] | undefined> = {};
      for (const name in headers) if (name.charCodeAt(0) !== 58) plainHeaders[name] = headers[name];
      if (!this.res.destroyed) writeHead(this.res, status, responseHeaders(plainHeaders, this.r.responseMutations));
    });
    pipeH2Body(stream, this.res as ServerResponse);
    stream.on('end', () => {
      this.res.end();
      this.finish();
    });
    stream.on('error', (err: NodeJS.ErrnoException) => this.upstreamFailed(err));
  }

  private timeout(): void {
    if (this.done) return;
    if (this.started) this.res.destroy();
    else this.reply(504, UPSTREAM_TIMEOUT);
    this.abort();
  }

  private abort(): void {
    this.controller?.abort(new Error('request ended by the gateway'));
    this.h2Stream?.close(http2.constants.NGHTTP2_CANCEL);
  }

  private reply(status: number, body: string): void {
    if (!this.res.headersSent && !this.res.destroyed) plain(this.res, status, body);
    this.finish();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.upstream.inFlight--;
  }

  private upstreamFailed(err: NodeJS.ErrnoException): void {
    if (this.done) return;
    if (this.started) {
      this.res.destroy();
      this.finish();
      return;
    }
    const code = err.code ?? '';
    const connectFailure = code === 'ECONNREFUSED' || code.startsWith('UND_ERR_CONNECT');
    if (connectFailure && this.retriesLeft > 0) {
      // retry_policy connect-failure: the request never left, so another endpoint may take it.
      this.retriesLeft--;
      this.upstream.inFlight--;
      const next = this.r.cluster.pickOther(this.upstream);
      if (next) return this.forward(next);
    }
    if (connectFailure || code === 'ECONNRESET') this.reply(503, CONNECT_FAILURE);
    else this.reply(503, `upstream connect error or disconnect/reset before headers. reset reason: ${err.message}`);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return;
    this.started = true;
    if (this.res.destroyed) return;
    writeHead(this.res, statusCode, responseHeaders(headers, this.r.responseMutations));
    this.res.on('drain', () => controller.resume());
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!(this.res as ServerResponse).write(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (trailers && Object.keys(trailers).length > 0) this.res.addTrailers(trailers as Record<string, string>);
    this.res.end();
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.upstreamFailed(err as NodeJS.ErrnoException);
  }
}

export function handleRequest(listener: ListenerConfig, config: GatewayConfig, req: InboundRequest, res: OutboundResponse): void {
  const resolved = resolve(listener, config, req);
  if ('status' in resolved) return plain(res, resolved.status, resolved.body);
  new GatewayExchange(req, res, resolved).start();
}

/** HTTP/1.1 Upgrade (websocket): allowed by the route or listener, then spliced byte for byte. */
export function handleUpgrade(listener: ListenerConfig, config: GatewayConfig, req: IncomingMessage, client: Duplex, head: Buffer): void {
  client.on('error', () => client.destroy());
  const refuse = (status: number, text: string, body: string): void => void client.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
  const resolved = resolve(listener, config, req);
  if ('status' in resolved) return refuse(resolved.status, resolved.status === 404 ? 'Not Found' : 'Service Unavailable', resolved.body);
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  const allowed = resolved.route.upgradeTypes ?? listener.upgradeTypes;
  if (!allowed.has(upgrade)) return refuse(403, 'Forbidden', `upgrade to ${upgrade} is not enabled on this route`);
  // The upgrade handshake needs its hop-by-hop headers back.
  const headers = resolved.headers;
  headers.push('connection', 'upgrade', 'upgrade', String(req.headers.upgrade));
  const [host, port] = splitAddress(resolved.upstream.address);
  const upstream = net.connect({ host, port });
  resolved.upstream.inFlight++;
  upstream.once('connect', () => {
    upstream.write(rawRequestHead(req.method, req.url, headers));
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.once('error', () => {
    if (!client.destroyed && upstream.bytesRead === 0) refuse(503, 'Service Unavailable', CONNECT_FAILURE);
    else client.destroy();
  });
  upstream.once('close', () => {
    resolved.upstream.inFlight--;
    client.destroy();
  });
  client.once('close', () => upstream.destroy());
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon).replace(/^\[|\]$/g, ''), Number(address.slice(colon + 1))];
}
