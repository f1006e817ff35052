// One TCP port that speaks HTTP/1.1 and HTTP/2 cleartext with prior knowledge, like Envoy's
// codec_type AUTO: the first bytes of a connection decide which server gets it.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export type InboundRequest = IncomingMessage | Http2ServerRequest;
export type OutboundResponse = ServerResponse | Http2ServerResponse;

const H2_PREFACE_START = Buffer.from('PRI');

export interface AutoCodecServer {
  /** The listening socket server; the HTTP servers only ever receive connections from it. */
  front: net.Server;
  h1: http.Server;
  h2: http2.Http2Server;
  /** Connections open right now, for closing them on shutdown. */
  sockets: Set<net.Socket>;
}

export function createAutoCodecServer(
  handle: (req: InboundRequest, res: OutboundResponse) => void,
  onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
): AutoCodecServer {
  const h1 = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, handle);
  if (onUpgrade) h1.on('upgrade', onUpgrade);
  const h2 = http2.createServer({}, handle);
  const sockets = new Set<net.Socket>();
  const front = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('readable', () => {
      const first: Buffer | null = socket.read();
      if (first === null) return void socket.destroy();
      socket.unshift(first);
      const isH2 = first.length >= 3 && first.subarray(0, 3).equals(H2_PREFACE_START);
      (isH2 ? h2 : h1).emit('connection', socket);
    });
    socket.on('error', () => socket.destroy());
  });
  return { front, h1, h2, sockets };
}

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
