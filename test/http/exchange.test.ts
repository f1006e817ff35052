// The shared proxy exchange against real upstreams on loopback: HTTP/1.1 through an undici Pool and
// h2c through one session, from HTTP/1.1 and HTTP/2 clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Pool } from 'undici';
import {
  closeServer,
  createAutoCodecServer,
  listen,
  type InboundRequest,
  type OutboundResponse,
} from '../../src/http/auto-codec.js';
import { DeadlineTicker } from '../../src/http/deadlines.js';
import { ProxyExchange, type ExchangeSettings, type Upstream } from '../../src/http/exchange.js';
import { defaultHttpLimits } from '../../src/http/limits.js';
import { upstreamRequestHeaders } from '../../src/http/forward-headers.js';
import { H2Upstream } from '../../src/http/h2-upstream.js';
import { until } from '../support/cli.js';

const limits = { ...defaultHttpLimits(), bodyIdleTimeoutMs: 0 };
const settings: ExchangeSettings = { ticker: new DeadlineTicker(50), bodyIdleTimeoutMs: 0, drainMs: 1000 };

class TestExchange extends ProxyExchange {
  static finishedCount = 0;
  failures: string[] = [];
  constructor(
    req: InboundRequest,
    res: OutboundResponse,
    private readonly upstream: Upstream,
  ) {
    super(settings, req, res, Date.now());
  }
  go(): void {
    this.send(
      this.upstream,
      upstreamRequestHeaders(this.req.rawHeaders, this.req.socket?.remoteAddress, this.req.httpVersionMajor === 2),
    );
  }
  protected finished(): void {
    TestExchange.finishedCount++;
  }
  protected upstreamFailed(err: NodeJS.ErrnoException): void {
    this.reply(502, `upstream failed: ${err.code}`);
  }
  protected override responseHeaders(flat: string[]): string[] {
    return [...flat, 'x-proxied', 'yes'];
  }
}

async function upstreamApp(): Promise<{ port: number; closedStreams: () => number; stop(): Promise<void> }> {
  let closed = 0;
  const handle = (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    res.once('close', () => closed++);
    if (req.url === '/echo') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res as NodeJS.WritableStream);
    } else if (req.url === '/trailers') {
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '0' });
      res.end('ok');
    } else if (req.url === '/hold') {
      // Neither reads nor answers: the proxy's own deadline decides.
    } else if (req.url === '/forever') {
      res.writeHead(200);
      (res as http.ServerResponse).write('first');
    } else {
      res.writeHead(201, 'Made It', { 'x-app': 'a' });
      res.end(`hello ${String(req.headers['x-forwarded-for'] ?? '')} ${req.headers.expect ?? 'no-expect'}`);
    }
  };
  const { front, sockets } = createAutoCodecServer(handle, undefined, { limits, name: 'app' });
  const port = await listen(front, 0, '127.0.0.1');
  return {
    port,
    closedStreams: () => closed,
    async stop() {
      for (const s of sockets) s.destroy();
      await closeServer(front);
    },
  };
}

/** A TestExchange with a deadline of its own, as the activator's and the gateway's request timeouts. */
class DeadlineExchange extends TestExchange {
  static readonly timeoutMs = 300;
  private readonly deadline = Date.now() + DeadlineExchange.timeoutMs;
  override go(): void {
    this.watch();
    super.go();
  }
  protected override deadlines(now: number): boolean {
    if (now < this.deadline) return true;
    this.timedOut(504, 'deadline passed\n');
    return false;
  }
}

async function proxyTo(
  upstream: Upstream,
  exchange: typeof TestExchange = TestExchange,
): Promise<{ port: number; stop(): Promise<void> }> {
  const { front, sockets } = createAutoCodecServer((req, res) => new exchange(req, res, upstream).go(), undefined, {
    limits,
    name: 'proxy',
  });
  const port = await listen(front, 0, '127.0.0.1');
  return {
    port,
    async stop() {
      for (const s of sockets) s.destroy();
      await closeServer(front);
    },
  };
}

function h1(
  port: number,
  path: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  message: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  trailers: NodeJS.Dict<string>;
}> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { port, host: '127.0.0.1', path, method: body ? 'POST' : 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            message: res.statusMessage!,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
            trailers: res.trailers,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test(
  'HTTP/1.1 through a Pool: status line, rewritten headers, ' + 'streamed body, X-Forwarded-For, Expect answered here',
  async () => {
    const app = await upstreamApp();
    const pool = new Pool(`http://127.0.0.1:${app.port}`);
    const proxy = await proxyTo({ pool });
    try {
      const plain = await h1(proxy.port, '/');
      assert.equal(plain.status, 201);
      assert.equal(plain.message, 'Made It');
      assert.equal(plain.headers['x-app'], 'a');
      assert.equal(plain.headers['x-proxied'], 'yes');
      assert.equal(plain.body, 'hello 127.0.0.1 no-expect');
      const big = Buffer.alloc(3_000_000, 7);
      const echoed = await h1(proxy.port, '/echo', big);
      assert.equal(echoed.status, 200);
      assert.equal(echoed.body.length, big.length);
      // curl sends Expect: 100-continue for large bodies; the app never sees it (undici would refuse it).
      const expect = await h1(proxy.port, '/', Buffer.from('abc'), { expect: '100-continue' });
      assert.equal(expect.status, 201);
      assert.equal(expect.body, 'hello 127.0.0.1 no-expect');
    } finally {
      await proxy.stop();
      await pool.close();
      await app.stop();
    }
  },
);

test('h2c upstream: HTTP/2 and HTTP/1.1 clients, trailers kept end to end', async () => {
  const app = await upstreamApp();
  const h2 = new H2Upstream(`http://127.0.0.1:${app.port}`);
  const proxy = await proxyTo({ h2 });
  const client = http2.connect(`http://127.0.0.1:${proxy.port}`);
  try {
    const stream = client.request({ ':path': '/trailers', te: 'trailers' });
    stream.end();
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    const [trailers] = (await once(stream, 'trailers')) as [http2.IncomingHttpHeaders];
    assert.equal(headers[':status'], 200);
    assert.equal(headers['x-proxied'], 'yes');
    assert.equal(trailers['grpc-status'], '0');
    const viaH1 = await h1(proxy.port, '/');
    assert.equal(viaH1.status, 201);
    assert.equal(viaH1.body, 'hello 127.0.0.1 no-expect');
  } finally {
    client.close();
    h2.close();
    await proxy.stop();
    await app.stop();
  }
});

test('an upstream that refuses the connection reaches upstreamFailed; the exchange ends once', async () => {
  const closedPort = await new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
  const pool = new Pool(`http://127.0.0.1:${closedPort}`);
  const h2 = new H2Upstream(`http://127.0.0.1:${closedPort}`);
  const before = TestExchange.finishedCount;
  const viaPool = await proxyTo({ pool });
  const viaH2 = await proxyTo({ h2 });
  try {
    for (const proxy of [viaPool, viaH2]) {
      const res = await h1(proxy.port, '/');
      assert.equal(res.status, 502);
      assert.equal(res.body, 'upstream failed: ECONNREFUSED');
    }
    assert.equal(TestExchange.finishedCount - before, 2);
  } finally {
    await viaPool.stop();
    await viaH2.stop();
    h2.close();
    await pool.close();
  }
});

/** Runs `check` behind a fresh proxy to the app once over an HTTP/1.1 pool and once over an HTTP/2 upstream. */
async function throughEachUpstream(
  check: (proxy: { port: number }, app: Awaited<ReturnType<typeof upstreamApp>>) => Promise<void>,
): Promise<void> {
  const app = await upstreamApp();
  const pool = new Pool(`http://127.0.0.1:${app.port}`);
  const h2 = new H2Upstream(`http://127.0.0.1:${app.port}`);
  try {
    for (const upstream of [{ pool }, { h2 }] as Upstream[]) {
      const proxy = await proxyTo(upstream);
      try {
        await check(proxy, app);
      } finally {
        await proxy.stop();
      }
    }
  } finally {
    h2.close();
    await pool.close();
    await app.stop();
  }
}

test('a client that leaves mid-response stops the upstream request', () =>
  throughEachUpstream(async (proxy, app) => {
    const closedBefore = app.closedStreams();
    await new Promise<void>((resolve) => {
      const req = http.get({ port: proxy.port, host: '127.0.0.1', path: '/forever', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
    });
    await until(() => app.closedStreams() !== closedBefore, 'the upstream request to be stopped', 5000);
  }));

test('HTTP/2: an answer before the whole body ends the stream at once (NO_ERROR); the session goes on', () =>
  throughEachUpstream(async (proxy) => {
    const client = http2.connect(`http://127.0.0.1:${proxy.port}`);
    try {
      // "/" answers without reading; the body never ends. Draining it would take settings.drainMs (1 s).
      const stream = client.request({ ':path': '/', ':method': 'POST' });
      stream.write(Buffer.alloc(1000, 1));
      const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      const body: Buffer[] = [];
      stream.on('data', (c: Buffer) => body.push(c));
      const answered = Date.now();
      await once(stream, 'close');
      assert.equal(headers[':status'], 201);
      assert.equal(Buffer.concat(body).toString(), 'hello 127.0.0.1 no-expect');
      assert.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
      assert.ok(Date.now() - answered < settings.drainMs, `closed after ${Date.now() - answered} ms`);
      const next = client.request({ ':path': '/' });
      next.end();
      const [again] = (await once(next, 'response')) as [http2.IncomingHttpHeaders];
      assert.equal(again[':status'], 201);
      next.resume();
      await once(next, 'end');
    } finally {
      client.close();
    }
  }));

/**
 * An HTTP/1.1 upload to `path` ("/": answered without reading) on a raw socket at `bytesPerSecond`, kept up by the
 * clock (a late timer sends what it owes), for `forMs`; then the body's end and a second request on the same
 * connection. Resolves with the milliseconds from the first answer (status line `HTTP/1.1 <status>`) until the server
 * closed the connection (-1: it did not) and how many answers came; fails if neither the close nor the second answer
 * came within `giveUpMs`.
 */
async function uploadAfterAnswer(
  port: number,
  bytesPerSecond: number,
  forMs: number,
  giveUpMs: number,
  { path = '/', status = 201 } = {},
): Promise<{ closedAfterMs: number; answers: number }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  socket.on('error', () => {});
  socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n`);
  const statusLine = `HTTP/1.1 ${status} `;
  let received = '';
  let answeredAt = 0;
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
    if (answeredAt === 0 && received.includes(statusLine)) answeredAt = Date.now();
  });
  const started = Date.now();
  let sent = 0;
  const pump = setInterval(() => {
    if (socket.destroyed) return clearInterval(pump);
    const elapsed = Date.now() - started;
    if (elapsed < forMs) {
      const owed = Math.floor((bytesPerSecond * elapsed) / 1000) - sent;
      if (owed > 0) socket.write(`${owed.toString(16)}\r\n${'x'.repeat(owed)}\r\n`);
      sent += Math.max(owed, 0);
      return;
    }
    clearInterval(pump);
    socket.write('0\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n');
  }, 20);
  const answers = () => received.split(statusLine).length - 1;
  try {
    // Not events.once: the server's close may reach the client as ECONNRESET, which would reject it.
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await Promise.race([closed, until(() => answers() === 2, 'a close or the second answer', giveUpMs)]);
    return { closedAfterMs: socket.destroyed ? Date.now() - answeredAt : -1, answers: answers() };
  } finally {
    clearInterval(pump);
    socket.destroy();
  }
}

/** The upstream app behind a proxy of `exchange` over a Pool, for `use`; all stopped after. */
async function throughPooledProxy(exchange: typeof TestExchange, use: (port: number) => Promise<void>) {
  const app = await upstreamApp();
  const pool = new Pool(`http://127.0.0.1:${app.port}`);
  const proxy = await proxyTo({ pool }, exchange);
  try {
    await use(proxy.port);
  } finally {
    await proxy.stop();
    await pool.close();
    await app.stop();
  }
}

/** A never-ending trickle (5 KB/s, below DRAIN_MIN_BYTES_PER_SECOND) got one answer and was closed after drainMs. */
async function trickleClosedAfterDrain(port: number, o: { path?: string; status?: number } = {}): Promise<void> {
  const trickle = await uploadAfterAnswer(port, 5000, Infinity, 10_000, o);
  assert.equal(trickle.answers, 1);
  assert.ok(trickle.closedAfterMs >= settings.drainMs - 100, `closed ${trickle.closedAfterMs} ms after the answer`);
}

test(
  'HTTP/1.1: after an early answer, an upload still coming fast is read to its end past drainMs; ' +
    'a trickle is closed after drainMs',
  () =>
    throughPooledProxy(TestExchange, async (port) => {
      // 4 MiB/s for 1.6 × drainMs: read to its end; the connection serves the next request.
      const fast = await uploadAfterAnswer(port, 4 * 1024 * 1024, 1.6 * settings.drainMs, 20_000);
      assert.deepEqual(fast, { closedAfterMs: -1, answers: 2 });
      await trickleClosedAfterDrain(port);
    }),
);

test('HTTP/1.1: a deadline passed mid-upload answers 504; a trickle after it is closed after drainMs', () =>
  // The answer ends the exchange and leaves the rest of the body to drain; that drain must stay on the tick
  // (it was dropped with the deadline, and the trickle held the connection for ever).
  throughPooledProxy(DeadlineExchange, (port) => trickleClosedAfterDrain(port, { path: '/hold', status: 504 })));
