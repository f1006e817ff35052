// One TCP port that speaks HTTP/1.1 and HTTP/2 cleartext with prior knowledge, like Envoy's
// codec_type AUTO: the first bytes of a connection decide which server gets it. With TLS, ALPN
// decides instead; the limits are the same either way.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/logger.js';
import { processConnections, RefusalLog, type ConnectionBudget, type HttpLimits } from './limits.js';

export type InboundRequest = IncomingMessage | Http2ServerRequest;
export type OutboundResponse = ServerResponse | Http2ServerResponse;

const H2_PREFACE_START = Buffer.from('PRI');
/** How often Node's HTTP/1.1 server checks header deadlines of its connections. */
const CHECK_INTERVAL_MS = 500;

export interface AutoCodecServer {
  /** The listening socket server; the HTTP servers only ever receive connections from it. */
  front: net.Server;
  h1: http.Server;
  h2: http2.Http2Server;
  /** Connections open right now, for closing them on shutdown. */
  sockets: Set<net.Socket>;
  /**
   * Stops taking connections (`listening`: the socket server that listens, the front or a TLS one before it), then
   * gives the requests in flight up to `graceMs` to be answered: HTTP/1.1 connections close as they fall idle, HTTP/2
   * sessions get GOAWAY; whatever is still open then is cut.
   */
  shutDown(listening: net.Server, graceMs: number): Promise<void>;
}

export interface ListenerOptions {
  limits: HttpLimits;
  /** Names the listener in log lines. */
  name: string;
  log?: Logger;
  /** Shared by every listener of the process unless a test gives its own. */
  budget?: ConnectionBudget;
  /** Serve TLS with this certificate and key (PEM); ALPN picks HTTP/2 or HTTP/1.1. */
  tls?: { cert: Buffer; key: Buffer };
}

const SESSION_TIMER = Symbol('sessionTimer');
type Timed = { [SESSION_TIMER]?: NodeJS.Timeout };

function closeSession(session: http2.ServerHttp2Session): void {
  session.destroy();
}

function destroyOnError(this: net.Socket): void {
  this.destroy();
}

/**
 * Connections that have not sent their first bytes yet, in the order they came, each with its deadline: one coarse
 * sweep closes those past it, instead of a timer (and a closure to clear it) held by every connection.
 */
export class FirstBytesDeadline {
  /** Insertion order is arrival order, so deadlines only grow along it. */
  private readonly waiting = new Map<net.Socket, number>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly periodMs: number,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  add(socket: net.Socket, now = Date.now()): void {
    this.waiting.set(socket, now + this.timeoutMs);
    this.sweeper ??= setInterval(() => this.sweep(Date.now()), this.periodMs).unref();
  }

  delete(socket: net.Socket): void {
    if (this.waiting.delete(socket) && this.waiting.size === 0) this.stop();
  }

  /** Closes every connection whose deadline passed by `now`. */
  sweep(now: number): void {
    for (const [socket, deadline] of this.waiting) {
      if (deadline > now) break;
      this.waiting.delete(socket);
      socket.destroy();
    }
    if (this.waiting.size === 0) this.stop();
  }

  private stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

export function createAutoCodecServer(
  handle: (req: InboundRequest, res: OutboundResponse) => void,
  onUpgrade: ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined,
  options: ListenerOptions,
): AutoCodecServer {
  const { limits } = options;
  const checkIntervalMs = Math.min(CHECK_INTERVAL_MS, Math.max(50, limits.headersTimeoutMs / 4));
  const h1 = http.createServer(
    {
      keepAliveTimeout: limits.idleTimeoutMs,
      requestTimeout: 0,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: checkIntervalMs,
    },
    handle,
  );
  // The h1 server never listens itself (the front hands it connections), so start the deadline
  // checks Node starts on 'listening'; without them headersTimeout never fires.
  h1.emit('listening');
  if (onUpgrade) h1.on('upgrade', onUpgrade);
  const h2 = http2.createServer({}, handle);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    // Until its first stream, an HTTP/2 connection has the headers deadline; then the idle one whenever no stream is
    // open.
    const timed = session as unknown as Timed;
    timed[SESSION_TIMER] = setTimeout(closeSession, limits.headersTimeoutMs, session).unref();
    let open = 0;
    session.on('stream', (stream) => {
      clearTimeout(timed[SESSION_TIMER]);
      open++;
      stream.once('close', () => {
        if (--open === 0 && !session.destroyed)
          timed[SESSION_TIMER] = setTimeout(closeSession, limits.idleTimeoutMs, session).unref();
      });
    });
    session.once('close', () => clearTimeout(timed[SESSION_TIMER]));
  });
  const budget = options.budget ?? processConnections(limits);
  const refusals = new RefusalLog(options.log, options.name);
  const sockets = new Set<net.Socket>();
  const firstBytes = new FirstBytesDeadline(limits.headersTimeoutMs, checkIntervalMs);
  // Handlers shared by every connection of the listener (`this` is the socket): an idle connection
  // holds no closure, timer or once-wrapper of ours, only its place in `sockets`.
  function onClose(this: net.Socket): void {
    sockets.delete(this);
    firstBytes.delete(this);
    budget.release();
  }
  /** The first bytes decide: HTTP/2's preface goes to the h2 server, anything else to the h1 one. */
  function onFirstBytes(this: net.Socket): void {
    this.removeListener('readable', onFirstBytes);
    firstBytes.delete(this);
    const first = this.read() as Buffer | null;
    if (first === null) return void this.destroy();
    this.unshift(first);
    const isH2 = first.length >= 3 && first.subarray(0, 3).equals(H2_PREFACE_START);
    (isH2 ? h2 : h1).emit('connection', this);
  }
  /** Counts a new TCP connection against both limits; false (and the socket closed) when over one. */
  let closing = false;
  const admit = (socket: net.Socket): boolean => {
    if (closing) {
      // Accepted just before the listener closed (a TLS handshake under way, say): nothing to serve it.
      socket.destroy();
      return false;
    }
    if (sockets.size >= limits.maxConnectionsPerListener) {
      socket.destroy();
      refusals.refuse('listener', limits.maxConnectionsPerListener, sockets.size);
      return false;
    }
    if (!budget.admit()) {
      socket.destroy();
      refusals.refuse('process', budget.max, budget.open);
      return false;
    }
    sockets.add(socket);
    socket.on('close', onClose);
    socket.on('error', destroyOnError);
    return true;
  };
  let front: net.Server;
  if (options.tls) {
    // A TCP connection is counted from its first moment; the handshake (a silent connection
    // included) has the headers deadline; then ALPN says which server gets the decrypted socket.
    const secure = tls.createServer({
      ...options.tls,
      ALPNProtocols: ['h2', 'http/1.1'],
      handshakeTimeout: limits.headersTimeoutMs,
      noDelay: true,
    });
    secure.on('connection', admit);
    // A failed or timed-out handshake is only reported; the connection must be closed here.
    secure.on('tlsClientError', (_err: Error, socket: tls.TLSSocket) => socket.destroy());
    secure.on('secureConnection', (socket: tls.TLSSocket) =>
      (socket.alpnProtocol === 'h2' ? h2 : h1).emit('connection', socket),
    );
    front = secure;
  } else {
    front = net.createServer({ noDelay: true }, (socket) => {
      if (!admit(socket)) return;
      // Nothing sent at all: the headers deadline applies before the protocol is known.
      firstBytes.add(socket);
      socket.on('readable', onFirstBytes);
    });
  }
  front.once('close', () => h1.close());
  const shutDown = async (listening: net.Server, graceMs: number): Promise<void> => {
    closing = true;
    const stopped = [closeServer(listening)];
    if (listening !== front) stopped.push(closeServer(front));
    // Nothing sent yet: no request to wait for.
    firstBytes.sweep(Number.POSITIVE_INFINITY);
    for (const session of sessions) session.close();
    // A kept-alive connection is not given another request's time: each answer from now closes it.
    h1.removeListener('request', handle);
    h1.on('request', (req: IncomingMessage, res: http.ServerResponse) => {
      res.setHeader('connection', 'close');
      handle(req, res);
    });
    for (const deadline = Date.now() + graceMs; sockets.size > 0 && Date.now() < deadline;) {
      h1.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_POLL_MS));
    }
    for (const socket of sockets) socket.destroy();
    await Promise.all(stopped);
  };
  return { front, h1, h2, sockets, shutDown };
}

/** How often a graceful shutdown closes the HTTP/1.1 connections that fell idle. */
const SHUTDOWN_POLL_MS = 20;

export function listen(server: net.Server, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export function plain(res: OutboundResponse, statusCode: number, body: string, extra?: Record<string, string>): void {
  res.writeHead(statusCode, { 'content-type': 'text/plain; charset=utf-8', ...extra });
  res.end(body);
}
