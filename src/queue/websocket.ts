// WebSocket (and any HTTP/1.1 Upgrade) pass-through: after the breaker admits it, the connection
// is spliced to the app byte for byte.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { rawResponse } from '../http/exchange.js';
import { rawRequestHead } from '../http/forward-headers.js';
import { spliceUpgrade } from '../http/upgrade.js';
import type { Waiter } from './breaker.js';
import { QUEUE_FULL_BODY, type ExchangeContext } from './exchange.js';

const APP_UNREACHABLE = rawResponse(502, 'Bad Gateway', 'the app is not reachable\n');

export function upgradeToApp(
  ctx: ExchangeContext,
  userPort: number,
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  proxied: boolean,
): void {
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
    if (!closed)
      spliceUpgrade(
        client,
        head,
        '127.0.0.1',
        userPort,
        rawRequestHead(req.method, req.url, req.rawHeaders),
        APP_UNREACHABLE,
      );
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
    client.end(rawResponse(503, 'Service Unavailable', `${QUEUE_FULL_BODY}\n`));
  }
}
