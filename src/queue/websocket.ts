// WebSocket (and any HTTP/1.1 Upgrade) pass-through: after the breaker admits it, the connection
// is spliced to the app byte for byte. No request timeout applies once upgraded.
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { rawRequestHead } from '../http/forward-headers.js';
import type { Waiter } from './breaker.js';
import { QUEUE_FULL_BODY, type ExchangeContext } from './exchange.js';

export function spliceUpgrade(ctx: ExchangeContext, userPort: number, req: IncomingMessage, client: Duplex, head: Buffer, proxied: boolean): void {
  const started = Date.now();
  ctx.stats.requestIn(started, proxied);
  let holds = false;
  let closed = false;
  const finish = () => {
    if (closed) return;
    closed = true;
    if (holds) ctx.breaker!.release();
    else if (ctx.breaker) ctx.breaker.cancel(waiter);
    ctx.stats.requestOut(Date.now(), proxied);
    ctx.record(101, Date.now() - started);
  };
  const connect = () => {
    if (closed) return;
    const app = net.connect({ host: '127.0.0.1', port: userPort });
    app.once('connect', () => {
      app.write(rawRequestHead(req.method, req.url, req.rawHeaders));
      if (head.length > 0) app.write(head);
      app.pipe(client);
      client.pipe(app);
    });
    app.once('error', () => {
      if (!client.destroyed) client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nthe app is not reachable\n');
    });
    app.once('close', () => client.destroy());
    client.once('close', () => app.destroy());
  };
  const waiter: Waiter = {
    grant() {
      holds = true;
      if (closed) return finish();
      connect();
    },
  };
  client.once('close', finish);
  client.on('error', () => client.destroy());
  const verdict = ctx.breaker ? ctx.breaker.acquire(waiter) : 'granted';
  if (verdict === 'granted') {
    holds = ctx.breaker !== undefined;
    connect();
  } else if (verdict === 'rejected') {
    client.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${QUEUE_FULL_BODY}\n`);
  }
}
