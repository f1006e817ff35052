// One shared HTTP/2 cleartext (prior knowledge) session to an upstream, reopened when it closes.
import http2, { type ClientHttp2Session } from 'node:http2';

export class H2Upstream {
  private session: ClientHttp2Session | undefined;
  /** host:port, the :authority of a request that brings none. */
  readonly authority: string;

  constructor(private readonly origin: string) {
    this.authority = new URL(origin).host;
  }

  get(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(this.origin);
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
