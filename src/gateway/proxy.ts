// The gateway's request path: look up host → route → weighted target → endpoint in the current
// immutable config, rewrite headers as Envoy would, and stream the exchange through the endpoint's
// undici Pool (HTTP/1.1) or h2c session. Errors use Envoy's status codes and body texts.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { plain, type InboundRequest, type OutboundResponse } from '../http/auto-codec.js';
import { hasRequestBody, ProxyExchange, rawResponse, type ExchangeSettings } from '../http/exchange.js';
import { rawRequestHead, upstreamRequestHeaders } from '../http/forward-headers.js';
import { spliceUpgrade } from '../http/upgrade.js';
import { H_UNPROCESSED } from '../model/headers.js';
import type { ListenerConfig } from './compile-listener.js';
import type { HeaderMutation, RouteEntry, RouteTable } from './compile-routes.js';
import type { ScopeSet } from './compile-scopes.js';
import { edgeHeaders } from './edge-headers.js';
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
export const CONNECT_FAILURE =
  'upstream connect error or disconnect/reset before headers. reset reason: connection failure';
const UPGRADE_CONNECT_FAILURE = rawResponse(503, 'Service Unavailable', CONNECT_FAILURE);

interface Resolved {
  route: RouteEntry;
  cluster: ClusterRuntime;
  upstream: UpstreamEndpoint;
  headers: string[];
  responseMutations: HeaderMutation[];
}

type Failure = { status: number; body: string };
type Redirect = { status: number; location: string };

/** The request's scheme, as Envoy knows it from the connection. */
const schemeOf = (listener: ListenerConfig) => (listener.tls ? 'https' : 'http');

/**
 * Envoy's RedirectAction for a scheme swap: the same host (as routed) and path; a port that was the
 * old scheme's default (http :80, https :443) is dropped, any other kept.
 */
export function redirectLocation(
  route: RouteEntry,
  scheme: string,
  authority: string | undefined,
  url: string,
): string {
  const r = route.redirect!;
  const newScheme = r.scheme ?? scheme;
  let host = authority ?? '';
  const colon = host.lastIndexOf(':');
  if (r.scheme !== undefined && colon > host.lastIndexOf(']')) {
    const port = host.slice(colon + 1);
    if ((scheme === 'http' && port === '80') || (scheme === 'https' && port === '443')) host = host.slice(0, colon);
  }
  const q = url.indexOf('?');
  return `${newScheme}://${host}${r.stripQuery && q !== -1 ? url.slice(0, q) : url}`;
}

/** Everything up to the choice of endpoint; a Failure or a Redirect says what to answer instead. */
function resolve(listener: ListenerConfig, config: GatewayConfig, req: InboundRequest): Resolved | Failure | Redirect {
  const routed = routeRequest(listener, config.scopes, config.routeTables, req.rawHeaders, req.url ?? '/', req.headers);
  if (!routed) return { status: NO_ROUTE_STATUS, body: '' };
  const { table, vh, route, authority } = routed;
  if (route.redirect)
    return {
      status: route.redirect.status,
      location: redirectLocation(route, schemeOf(listener), authority, req.url ?? '/'),
    };
  const target = pickTarget(route, Math.random());
  const cluster = config.clusters.get(target.cluster);
  const upstream = cluster?.pick();
  if (!upstream) return { status: 503, body: NO_HEALTHY_UPSTREAM };
  let headers = upstreamRequestHeaders(routed.rawHeaders, req.socket?.remoteAddress, req.httpVersionMajor === 2, true);
  if (authority !== undefined && routed.headers.host === undefined) headers.push('host', authority);
  if (listener.edge.useRemoteAddress) headers = edgeHeaders(headers, listener.edge, schemeOf(listener), randomUUID);
  else {
    if (routed.headers['x-forwarded-proto'] === undefined) headers.push('x-forwarded-proto', schemeOf(listener));
    if (routed.headers['x-request-id'] === undefined) headers.push('x-request-id', randomUUID());
  }
  headers = applyMutations(headers, [
    target.requestHeaders,
    route.requestHeaders,
    vh.requestHeaders,
    table.requestHeaders,
  ]);
  if (route.hostRewrite !== undefined)
    headers = applyMutations(headers, [
      { remove: [], add: [{ name: 'host', value: route.hostRewrite, action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
    ]);
  return {
    route,
    cluster: cluster!,
    upstream,
    headers,
    responseMutations: [route.responseHeaders, vh.responseHeaders, table.responseHeaders],
  };
}

function responseHeaders(flat: string[], mutations: HeaderMutation[]): string[] {
  return mutations.every((m) => m.add.length === 0 && m.remove.length === 0) ? flat : applyMutations(flat, mutations);
}

/** One request through the gateway: Envoy's route timeout, connect-failure retries and error texts. */
class GatewayExchange extends ProxyExchange {
  private deadline = 0;
  private retriesLeft = 0;
  private upstream: UpstreamEndpoint;

  constructor(
    settings: ExchangeSettings,
    req: InboundRequest,
    res: OutboundResponse,
    private readonly r: Resolved,
  ) {
    super(settings, req, res, Date.now());
    this.upstream = r.upstream;
  }

  start(): void {
    const { route } = this.r;
    this.retriesLeft = hasRequestBody(this.req) ? 0 : route.retries; // a body cannot be replayed
    if (route.timeoutMs > 0) {
      this.deadline = this.lastActivity + route.timeoutMs;
      this.watch();
    }
    this.forward(this.r.upstream);
  }

  private forward(upstream: UpstreamEndpoint): void {
    this.upstream = upstream;
    upstream.inFlight++;
    this.send(upstream, this.r.headers);
  }

  protected override responseHeaders(flat: string[]): string[] {
    return responseHeaders(flat, this.r.responseMutations);
  }

  protected override deadlines(now: number): boolean {
    if (this.deadline === 0 || now < this.deadline) return true;
    this.timedOut(504, UPSTREAM_TIMEOUT);
    return false;
  }

  protected finished(): void {
    this.upstream.inFlight--;
  }

  // retry_policy retriable-headers (INGRESS_RETRY_POLICY): the pod's app never saw the request.
  protected override unprocessed(replayable: boolean): boolean {
    return replayable && this.r.route.retriableHeaders.has(H_UNPROCESSED) && this.retriesLeft > 0;
  }

  protected override resendUnprocessed(): void {
    this.retriesLeft--;
    // Envoy, without a retry host predicate, may pick the same endpoint again; so may this, when it is the only one.
    this.upstream.inFlight--;
    this.forward(this.r.cluster.pickOther(this.upstream) ?? this.upstream);
  }

  protected upstreamFailed(err: NodeJS.ErrnoException): void {
    const code = err.code ?? '';
    const connectFailure = code === 'ECONNREFUSED' || code.startsWith('UND_ERR_CONNECT');
    if (connectFailure && this.r.route.retryConnectFailure && this.retriesLeft > 0) {
      // retry_policy connect-failure: the request never left, so another endpoint may take it.
      this.retriesLeft--;
      const next = this.r.cluster.pickOther(this.upstream);
      if (next) {
        this.upstream.inFlight--;
        return this.forward(next);
      }
    }
    if (connectFailure || code === 'ECONNRESET') this.reply(503, CONNECT_FAILURE);
    else this.reply(503, `upstream connect error or disconnect/reset before headers. reset reason: ${err.message}`);
  }
}

export function handleRequest(
  listener: ListenerConfig,
  config: GatewayConfig,
  settings: ExchangeSettings,
  req: InboundRequest,
  res: OutboundResponse,
): void {
  const resolved = resolve(listener, config, req);
  if ('location' in resolved) {
    // As Envoy's local reply for a redirect: the Location and no body.
    res.writeHead(resolved.status, { location: resolved.location, 'content-length': '0' });
    return void res.end();
  }
  if ('status' in resolved) return plain(res, resolved.status, resolved.body);
  new GatewayExchange(settings, req, res, resolved).start();
}

/** HTTP/1.1 Upgrade (websocket): allowed by the route or listener, then spliced byte for byte. */
export function handleUpgrade(
  listener: ListenerConfig,
  config: GatewayConfig,
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
): void {
  client.on('error', () => client.destroy());
  const refuse = (status: number, text: string, body: string): void => void client.end(rawResponse(status, text, body));
  const resolved = resolve(listener, config, req);
  if ('location' in resolved)
    return void client.end(
      `HTTP/1.1 ${resolved.status} ${STATUS_CODES[resolved.status]}\r\nlocation: ` +
        `${resolved.location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
    );
  if ('status' in resolved)
    return refuse(resolved.status, resolved.status === 404 ? 'Not Found' : 'Service Unavailable', resolved.body);
  const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
  const allowed = resolved.route.upgradeTypes ?? listener.upgradeTypes;
  if (!allowed.has(upgrade)) return refuse(403, 'Forbidden', `upgrade to ${upgrade} is not enabled on this route`);
  // The upgrade handshake needs its hop-by-hop headers back.
  const headers = resolved.headers;
  headers.push('connection', 'upgrade', 'upgrade', String(req.headers.upgrade));
  const [host, port] = splitAddress(resolved.upstream.address);
  const upstream = resolved.upstream;
  upstream.inFlight++;
  spliceUpgrade(client, head, host, port, rawRequestHead(req.method, req.url, headers), UPGRADE_CONNECT_FAILURE, {
    closed: () => void upstream.inFlight--,
  });
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon).replace(/^\[|\]$/g, ''), Number(address.slice(colon + 1))];
}
