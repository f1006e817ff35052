// Hostile and unusual clients against the gateway, the activator and the queue-proxy, on loopback
// (issue 15): Expect: 100-continue, an app that answers before reading a large upload, slow or
// silent connections, a stalled upload holding a breaker slot, and too many connections. Each
// listener runs with short limits so every case ends in seconds.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { InProcessRevisionSource } from '../../src/activator/revision-source.js';
import { startActivator, type Activator } from '../../src/activator/server.js';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { createAutoCodecServer, closeServer, listen } from '../../src/http/auto-codec.js';
import { ConnectionBudget, defaultHttpLimits, type HttpLimits } from '../../src/http/limits.js';
import { createLogger } from '../../src/log/logger.js';
import { captureLog } from '../support/capture-log.js';
import { translate } from '../../src/translate/index.js';
import { startXdsServer, type XdsServer } from '../../src/xds/index.js';
import { startExampleApp, type RunningApp } from '../support/app.js';
import { TestCa } from '../support/certs.js';
import { desired, revision, route, routing } from '../support/desired.js';
import { startQueue, type RunningQueue } from '../support/queue.js';
import { until } from '../support/cli.js';

const log = createLogger('test');
const HOST = 'hello.default.example.com';
// Long enough that a TLS handshake on a loaded machine fits in it (0.5 s did not, now and then).
const HEADERS_TIMEOUT_S = 1.5;
const BODY_IDLE_S = 0.5;
const limits: HttpLimits = {
  ...defaultHttpLimits(),
  headersTimeoutMs: HEADERS_TIMEOUT_S * 1000,
  idleTimeoutMs: 2000,
  bodyIdleTimeoutMs: BODY_IDLE_S * 1000,
  drainMs: 5000,
};

let app: RunningApp;
let queue: RunningQueue;
let activator: Activator;
let xds: XdsServer;
let gateway: Gateway;
let dir: string;
interface Entry {
  port: number;
  headers: Record<string, string>;
  /** The queue-proxy's TLS port (self-signed: certificates are not checked). */
  tls?: boolean;
}
const entry: Record<'gateway' | 'activator' | 'queue' | 'queue TLS', Entry> = {} as never;
let ca: TestCa;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-hardening-'));
  ca = new TestCa();
  const cert = ca.issue('queue', ['IP:127.0.0.1']);
  app = await startExampleApp({ K_REVISION: 'hello-00001' });
  queue = await startQueue(app.port, {
    QUEUE_TLS_CERT_FILE: cert.cert,
    QUEUE_TLS_KEY_FILE: cert.key,
    QUEUE_SERVING_TLS_PORT: '0',
    CONTAINER_CONCURRENCY: '1',
    GATEHOUSE_HEADERS_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT_S),
    GATEHOUSE_BODY_IDLE_TIMEOUT_SECONDS: String(BODY_IDLE_S),
    GATEHOUSE_IDLE_TIMEOUT_SECONDS: '2',
  });
  const source = new InProcessRevisionSource();
  source.set({
    namespace: 'default',
    name: 'hello-00001',
    containerConcurrency: 1,
    timeoutSeconds: 300,
    pods: [{ host: '127.0.0.1', port: queue.servingPort }],
  });
  activator = await startActivator({ port: 0, source, limits, log });
  const s = desired(
    [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
    [routing(revision('hello-00001'), 'serve', [{ host: '127.0.0.1', port: queue.servingPort }])],
  );
  s.listeners = { externalPort: 0, localPort: 0, address: '127.0.0.1' };
  xds = await startXdsServer({ port: 0, log });
  xds.cache.setTranslation(translate(s));
  gateway = await startGateway({ xds: `127.0.0.1:${xds.port}`, nodeId: 'hardening', limits, log });
  await gateway.ready;
  entry.gateway = { port: gateway.listenerPorts().get('gatehouse-external')!, headers: { host: HOST } };
  entry.activator = {
    port: activator.port,
    headers: { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'hello-00001' },
  };
  entry.queue = { port: queue.servingPort, headers: {} };
  entry['queue TLS'] = { port: queue.tlsPort!, headers: {}, tls: true };
  // Clusters and routes arrive after the listener.
  await until(async () => (await curl(entry.gateway, '/')).status === 200, 'the gateway route to answer');
});

after(async () => {
  await gateway?.close();
  await xds?.close();
  await activator?.close();
  await queue?.stop();
  await app?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  ca?.remove();
});

interface CurlResult {
  exit: number;
  status: number;
  bytes: number;
  ms: number;
}

/** Real curl, as in the issue's probes; --max-time bounds every case. */
function curl(target: Entry, urlPath: string, args: string[] = []): Promise<CurlResult> {
  const headerArgs = Object.entries(target.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const started = Date.now();
  return new Promise((resolve) => {
    const url = `${target.tls ? 'https' : 'http'}://127.0.0.1:${target.port}${urlPath}`;
    execFile(
      'curl',
      [
        '-s',
        '-k',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{size_download}',
        '--max-time',
        '20',
        ...headerArgs,
        ...args,
        url,
      ],
      (err, stdout) => {
        const [status, bytes] = stdout.trim().split(' ').map(Number) as [number, number];
        resolve({
          exit: err ? Number((err as { code?: number }).code ?? -1) : 0,
          status,
          bytes,
          ms: Date.now() - started,
        });
      },
    );
  });
}

const ENTRIES = ['gateway', 'activator', 'queue', 'queue TLS'] as const;
/** The exchange's end-to-end cases (Expect, 100 MB early answers) need no second run through the TLS port's code. */
const PLAIN_ENTRIES = ['gateway', 'activator', 'queue'] as const;

/** A connection to an entry, TLS-handshaken for the TLS port (ALPN offers `alpn`). */
async function connect(target: Entry, alpn = 'http/1.1'): Promise<net.Socket> {
  if (!target.tls) {
    const socket = net.connect({ port: target.port, host: '127.0.0.1' });
    await once(socket, 'connect');
    return socket;
  }
  const socket = tls.connect({
    port: target.port,
    host: '127.0.0.1',
    rejectUnauthorized: false,
    ALPNProtocols: [alpn],
  });
  await once(socket, 'secureConnect');
  return socket;
}

test(
  'Expect: 100-continue — a 2 MB upload (curl sends Expect) ' +
    'and a 3-byte body with Expect are answered, never refused',
  async () => {
    const twoMb = path.join(dir, '2MB.bin');
    writeFileSync(twoMb, Buffer.alloc(2 * 1024 * 1024, 1));
    for (const name of PLAIN_ENTRIES) {
      const big = await curl(entry[name], '/echo', ['--data-binary', `@${twoMb}`]);
      assert.deepEqual([big.exit, big.status, big.bytes], [0, 200, 2 * 1024 * 1024], `${name}: 2 MB upload`);
      const small = await curl(entry[name], '/echo', ['-H', 'Expect: 100-continue', '--data-binary', 'abc']);
      assert.deepEqual([small.exit, small.status, small.bytes], [0, 200, 3], `${name}: 3 bytes with Expect`);
    }
  },
);

test(
  'an app that answers before reading a 100 MB upload: ' + 'the client gets the answer and finishes at once',
  async () => {
    const file = path.join(dir, '100MB.bin');
    const mb = Buffer.alloc(1024 * 1024, 2);
    writeFileSync(file, Buffer.concat(Array.from({ length: 100 }, () => mb)));
    for (const name of PLAIN_ENTRIES) {
      // The example app's "/" answers without reading the body. curl itself takes seconds to send 100 MB on a busy
      // machine, so the bound is the app hit directly, just before, as well as 10 s (the issue saw 65 s).
      const direct = await curl({ port: app.port, headers: {} }, '/', ['--data-binary', `@${file}`]);
      const r = await curl(entry[name], '/', ['--data-binary', `@${file}`]);
      assert.equal(r.exit, 0, `${name}: curl exit ${r.exit} after ${r.ms} ms`);
      assert.equal(r.status, 200, name);
      assert.ok(r.ms < Math.max(10_000, 3 * direct.ms), `${name}: took ${r.ms} ms, the app directly ${direct.ms} ms`);
    }
    // The connections stay usable: the next requests are served.
    for (const name of PLAIN_ENTRIES) assert.equal((await curl(entry[name], '/')).status, 200, name);
  },
);

/**
 * Milliseconds from before `open` connects until the server closes the connection fed by `feed`
 * (so never less than the server's own timer); fails if it is still open after `giveUpMs`.
 */
async function closedAfter(
  open: () => Promise<net.Socket>,
  feed: (socket: net.Socket) => () => void,
  giveUpMs: number,
): Promise<number> {
  const started = Date.now();
  let socket: net.Socket;
  try {
    socket = await open();
  } catch (err) {
    // On a loaded machine a TLS handshake can outlast the headers timeout, and the server resets the
    // connection before it is up: that is the very close this measures (the bounds below still apply).
    if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
    return Date.now() - started;
  }
  const stop = feed(socket);
  socket.on('data', () => {});
  socket.on('error', () => {});
  let gaveUp = false;
  const timer = setTimeout(() => {
    gaveUp = true;
    socket.destroy();
  }, giveUpMs);
  await once(socket, 'close');
  clearTimeout(timer);
  stop();
  assert.ok(!gaveUp, `the server kept the connection open for ${giveUpMs} ms`);
  return Date.now() - started;
}

test(
  'headers 1 byte at a time, a silent connection, an h2 ' + 'preface then silence: closed within the headers timeout',
  async () => {
    const limitMs = HEADERS_TIMEOUT_S * 1000;
    // Timers run late on a busy machine, never early: the bound above the limit is generous.
    const giveUpMs = limitMs + 4000;
    const nothing = () => () => {};
    const cases = ENTRIES.flatMap((name) => {
      const port = entry[name].port;
      return [
        [
          name,
          '1 byte per 50 ms',
          closedAfter(
            () => connect(entry[name]),
            (s) => {
              const head = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: ${'y'.repeat(200)}\r\n\r\n`);
              let i = 0;
              const t = setInterval(() => {
                if (i < head.length && !s.destroyed) s.write(head.subarray(i, ++i));
              }, 50);
              return () => clearInterval(t);
            },
            giveUpMs,
          ),
        ],
        // For the TLS port: no handshake at all, and a handshake then nothing.
        [name, 'silent', closedAfter(() => connect({ port, headers: {} }), nothing, giveUpMs)],
        [name, 'silent after the TLS handshake', closedAfter(() => connect(entry[name]), nothing, giveUpMs)],
        [
          name,
          'h2 preface then silence',
          closedAfter(
            () => connect(entry[name], 'h2'),
            (s) => {
              s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
              return nothing();
            },
            giveUpMs,
          ),
        ],
      ] as const;
    });
    // All at once: each waits out the limit, in parallel rather than one after another.
    const closed = await Promise.all(cases.map(([, , ms]) => ms));
    cases.forEach(([name, what], i) => {
      const ms = closed[i]!;
      assert.ok(
        ms >= limitMs - 20 && ms < limitMs + 3000,
        `${name}, ${what}: closed after ${ms} ms (headers timeout ${limitMs} ms)`,
      );
    });
  },
);

test(
  'an upload that stalls gets 408 after the body idle timeout ' + 'and frees its breaker slot (containerConcurrency 1)',
  async () => {
    for (const name of ENTRIES) {
      const { headers } = entry[name];
      const socket = await connect(entry[name]);
      const extra = Object.entries({ host: 'x', ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      // The app would answer after 3 s; the client sends 5 of 1,000 bytes and stops.
      socket.write(`POST /?delay=3000 HTTP/1.1\r\n${extra}Content-Length: 1000\r\n\r\n12345`);
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      const started = Date.now();
      await once(socket, 'close');
      const ms = Date.now() - started;
      assert.match(answer, /^HTTP\/1\.1 408 /, `${name}: ${answer.slice(0, 60)}`);
      assert.ok(ms < BODY_IDLE_S * 1000 + 2000, `${name}: answered after ${ms} ms`);
      // The queue-proxy's only slot is free again.
      const next = await curl(entry[name], '/');
      assert.equal(next.status, 200, name);
      assert.ok(next.ms < 2000, `${name}: the next request waited ${next.ms} ms`);
    }
  },
);

/** The outcome of one HTTP/2 request: its status (0 if none came), body, and the stream's RST code. */
function h2Outcome(
  stream: http2.ClientHttp2Stream,
): Promise<{ status: number; body: string; rstCode: number; ms: number }> {
  const started = Date.now();
  let status = 0;
  let body = '';
  stream.on('response', (h) => (status = Number(h[':status'])));
  stream.on('data', (d: Buffer) => (body += d.toString()));
  stream.on('error', () => {});
  return new Promise((resolve) =>
    stream.once('close', () => resolve({ status, body, rstCode: stream.rstCode ?? 0, ms: Date.now() - started })),
  );
}

test(
  'HTTP/2: a stalled upload gets 408 and its stream reset after the body ' +
    'idle timeout, while a busy upload on the same connection completes',
  async () => {
    for (const name of ENTRIES) {
      const { port, headers } = entry[name];
      const session = http2.connect(`${entry[name].tls ? 'https' : 'http'}://127.0.0.1:${port}`, {
        rejectUnauthorized: false,
      });
      session.on('error', () => {});
      try {
        const common = Object.fromEntries(
          Object.entries(headers).map(([k, v]) => [k === 'host' ? ':authority' : k, v]),
        );
        // First on the connection (and first for the only breaker slot): 5 of 1,000 bytes, then nothing;
        // the app would answer after 3 s.
        const stalled = session.request({
          ':method': 'POST',
          ':path': '/?delay=3000',
          'content-length': '1000',
          ...common,
        });
        stalled.write('12345');
        const stalledOutcome = h2Outcome(stalled);
        // Beside it: a chunk every 100 ms for three body idle timeouts, so the connection never goes quiet.
        const busy = session.request({ ':method': 'POST', ':path': '/echo', ...common });
        const busyOutcome = h2Outcome(busy);
        let sent = '';
        const chunks = Math.ceil((3 * BODY_IDLE_S * 1000) / 100);
        for (let i = 0; i < chunks; i++) {
          const chunk = `chunk-${i};`;
          busy.write(chunk);
          sent += chunk;
          await new Promise((r) => setTimeout(r, 100));
        }
        busy.end();
        const s = await stalledOutcome;
        assert.equal(s.status, 408, `${name}: the stalled stream got ${s.status} (rst ${s.rstCode}) after ${s.ms} ms`);
        assert.ok(s.ms < BODY_IDLE_S * 1000 + 1500, `${name}: the stalled stream ended after ${s.ms} ms`);
        const b = await busyOutcome;
        assert.equal(b.status, 200, `${name}: the busy stream got ${b.status} (rst ${b.rstCode})`);
        assert.equal(b.body, sent, `${name}: the busy stream's echo`);
      } finally {
        session.destroy();
      }
    }
  },
);

test(
  'a connection without a request in flight closes ' + 'after the idle timeout, on the plain and the TLS port',
  async () => {
    const idleMs = 2000;
    await Promise.all(
      (['queue', 'queue TLS'] as const).map(async (name) => {
        const socket = await connect(entry[name]);
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        let answer = '';
        socket.on('data', (d: Buffer) => (answer += d.toString()));
        socket.on('error', () => {});
        const closed = once(socket, 'close');
        // Idle from the end of the answer on.
        await until(() => /ok\n(\r\n0\r\n\r\n)?$/.test(answer), `${name}: the answer`, 5000);
        const answeredAt = Date.now();
        await closed;
        const ms = Date.now() - answeredAt;
        assert.match(answer, /^HTTP\/1\.1 200 /, name);
        assert.ok(
          ms >= idleMs * 0.8 && ms < idleMs + 1500,
          `${name}: closed ${ms} ms after the answer (idle timeout ${idleMs} ms)`,
        );
      }),
    );
  },
);

test(
  'connections beyond the listener or process limit are closed at ' +
    'once, with one warning per interval; the listener keeps serving',
  async () => {
    const captured = captureLog();
    const budget = new ConnectionBudget(8);
    const tight: HttpLimits = { ...limits, headersTimeoutMs: 30_000, maxConnectionsPerListener: 5 };
    // The second listener serves TLS: its connections count from the TCP accept, as plain ones.
    const cert = ca.issue('limited', ['IP:127.0.0.1']);
    const tlsFiles = { cert: readFileSync(cert.cert), key: readFileSync(cert.key) };
    const servers = [0, 1].map((i) =>
      createAutoCodecServer(
        (_req, res) => {
          res.writeHead(200);
          res.end('ok');
        },
        undefined,
        { limits: tight, name: `limited-${i}`, log: captured, budget, ...(i === 1 ? { tls: tlsFiles } : {}) },
      ),
    );
    try {
      const ports = await Promise.all(servers.map((s) => listen(s.front, 0, '127.0.0.1')));
      const open = async (port: number, n: number) =>
        Promise.all(
          Array.from({ length: n }, async () => {
            const s = net.connect({ port, host: '127.0.0.1' });
            s.on('error', () => {});
            await once(s, 'connect');
            return s;
          }),
        );
      const closedSoon = (s: net.Socket) =>
        new Promise<boolean>((resolve) => {
          if (s.destroyed) return resolve(true);
          const t = setTimeout(() => resolve(false), 1000);
          s.once('close', () => (clearTimeout(t), resolve(true)));
        });
      // Listener limit: 5 stay, 2 more are closed.
      const first = await open(ports[0]!, 7);
      const firstClosed = await Promise.all(first.map(closedSoon));
      assert.equal(firstClosed.filter(Boolean).length, 2);
      // Process limit 8: the other listener takes 3 more, then refuses.
      const second = await open(ports[1]!, 5);
      const secondClosed = await Promise.all(second.map(closedSoon));
      assert.equal(secondClosed.filter(Boolean).length, 2);
      const warnings = captured.lines.filter(
        (r) => r.msg === 'connection limit reached: new connections are closed until some end',
      );
      assert.deepEqual(
        warnings.map((w) => [w.fields.listener, w.fields.max]),
        [
          ['limited-0', 5],
          ['limited-1', 8],
        ],
        'one line per listener for several refusals',
      );
      // Freeing connections lets requests in again.
      for (const s of [...first, ...second]) s.destroy();
      await until(() => budget.open === 0, 'the freed connections to be uncounted', 5000);
      assert.equal((await curl({ port: ports[0]!, headers: {} }, '/')).status, 200);
      assert.equal((await curl({ port: ports[1]!, headers: {}, tls: true }, '/')).status, 200);
    } finally {
      for (const s of servers) {
        for (const socket of s.sockets) socket.destroy();
        await closeServer(s.front);
      }
    }
  },
);

test(
  'the gateway is the edge: the app sees its own X-Forwarded-Proto, ' +
    'a new X-Request-Id, X-Forwarded-For with the client, no Forwarded',
  async () => {
    const res = await request(`http://127.0.0.1:${entry.gateway.port}/headers`, {
      headers: {
        host: HOST,
        'x-forwarded-proto': 'https',
        'x-request-id': 'chosen-by-client',
        forwarded: 'for=6.6.6.6;proto=https',
        'x-forwarded-for': '6.6.6.6',
        'x-envoy-internal': 'true',
      },
    });
    assert.equal(res.statusCode, 200);
    const seen = (await res.body.json()) as Record<string, string>;
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.match(seen['x-request-id']!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(seen.forwarded, undefined);
    assert.equal(seen['x-envoy-internal'], undefined);
    assert.equal(seen['x-envoy-external-address'], '127.0.0.1');
    // The queue-proxy behind appends the gateway's address in its turn.
    assert.match(seen['x-forwarded-for']!, /^6\.6\.6\.6, 127\.0\.0\.1(, 127\.0\.0\.1)?$/);
  },
);
