// One shared HTTP/2 cleartext (prior knowledge) session to an upstream, reopened when it closes.
import http2, { type ClientHttp2Session } from 'node:http2';

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

