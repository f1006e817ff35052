// One shared HTTP/2 cleartext (prior knowledge) session to an upstream, reopened when it closes.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type Http2ServerRequest, type IncomingHttpHeaders } from 'node:http2';
import { isHopByHop } from './forward-headers.js';

export class H2Upstream {
  private session: ClientHttp2Session | undefined;

  constructor(private readonly authority: string) {}

  get(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(this.authority);
    session.on('error', () => {});
    session.once('close', () => {
      if (this.session === session) this.session = undefined;
    });
    session.unref();
    this.session = session;
    return session;
  }

  close(): void {
    this.session?.close();
  }
}

/** An HTTP/2 request's headers for the upstream: pseudo-headers, no hop-by-hop (te: trailers kept), X-Forwarded-For. */
export function h2RequestHeaders(req: Http2ServerRequest, authority: string): Record<string, string | string[]> {
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

/** An upstream's response headers or trailers for the client, without pseudo- and hop-by-hop headers. */
export function h2ResponseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 || isHopByHop(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Where an HTTP/2 upstream's body and trailers go: a ServerResponse or an Http2ServerResponse. */
export interface BodySink {
  write(chunk: Buffer): boolean;
  once(event: 'drain', listener: () => void): unknown;
  addTrailers(trailers: Record<string, string | string[]>): void;
}

/** Streams an upstream HTTP/2 response's body and trailers into `sink`, pausing while it is full. */
export function pipeH2Body(stream: ClientHttp2Stream, sink: BodySink, onChunk?: () => void): void {
  stream.on('data', (chunk: Buffer) => {
    onChunk?.();
    if (!sink.write(chunk)) {
      stream.pause();
      sink.once('drain', () => stream.resume());
    }
  });
  stream.on('trailers', (trailers) => sink.addTrailers(h2ResponseHeaders(trailers)));
}
