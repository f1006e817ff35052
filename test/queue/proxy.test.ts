// The real queue-proxy in front of the real example app, over loopback sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import protobuf from 'protobufjs';
import WebSocket from 'ws';
import * as grpc from '@grpc/grpc-js';
import { startExampleApp, startHeldApp } from '../support/app.js';
import { until } from '../support/cli.js';
import { startQueue } from '../support/queue.js';
import { freePort } from '../../src/runtime/ports.js';

test('breaker: CC=1 and 12 concurrent slow requests → 11 served, exactly one 503', async (t) => {
  const app = await startExampleApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '1' });
  t.after(() => queue.stop());
  const responses = await Promise.all(
    Array.from({ length: 12 }, () =>
      fetch(queue.url('/?delay=60')).then(async (r) => ({ status: r.status, body: await r.text() })),
    ),
  );
  const rejected = responses.filter((r) => r.status === 503);
  assert.equal(responses.filter((r) => r.status === 200).length, 11);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.body, 'pending request queue full\n');
});

test('a client that disconnects frees its slot at once', async (t) => {
  const app = await startHeldApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '1' });
  t.after(() => queue.stop());
  const abort = new AbortController();
  const first = fetch(queue.url('/'), { signal: abort.signal }).catch(() => 'aborted');
  await app.waitForArrivals(1);
  abort.abort();
  assert.equal(await first, 'aborted');
  // The app still holds the first request: the second reaches it only if the slot was freed.
  const next = fetch(queue.url('/'));
  await app.waitForArrivals(2);
  app.release();
  assert.equal((await next).status, 200);
});

test('timeouts answer 504; a refused app answers 502 marked unprocessed, a reset one without', async (t) => {
  const app = await startExampleApp();
  t.after(() => app.stop());
  const cases: Array<{ name: string; env: Record<string, string>; path: string }> = [
    { name: 'revision timeout', env: { REVISION_TIMEOUT_SECONDS: '0.3' }, path: '/?delay=2000' },
    { name: 'response start timeout', env: { REVISION_RESPONSE_START_TIMEOUT_SECONDS: '0.3' }, path: '/?delay=2000' },
    { name: 'idle timeout', env: { REVISION_IDLE_TIMEOUT_SECONDS: '0.3' }, path: '/?delay=2000' },
  ];
  for (const c of cases) {
    const queue = await startQueue(app.port, c.env);
    const started = Date.now();
    const res = await fetch(queue.url(c.path));
    assert.equal(res.status, 504, c.name);
    assert.equal(await res.text(), 'request timeout\n', c.name);
    assert.ok(Date.now() - started < 1500, `${c.name} fired in time`);
    await queue.stop();
  }
  // Streaming responses keep the idle timer alive: chunks every 20 ms for 3 s with a 1.5 s idle
  // timeout (wide enough that a busy machine's pauses between chunks do not reach it).
  const streaming = await startQueue(app.port, { REVISION_IDLE_TIMEOUT_SECONDS: '1.5' });
  const streamed = await fetch(streaming.url('/?chunks=150'));
  assert.equal(streamed.status, 200);
  assert.equal((await streamed.text()).split('\n').length, 151);
  await streaming.stop();

  const refused = await startQueue(await freePort()); // bound and closed: nothing listens there
  t.after(() => refused.stop());
  const res = await fetch(refused.url('/'));
  assert.equal(res.status, 502);
  assert.match(await res.text(), /connection refused/);
  // Nothing reached the app: the gateway and the activator may send it to another pod.
  assert.equal(res.headers.get('x-gatehouse-unprocessed'), 'app-refused');
  // An app that took the request and failed is not that; nor is an app's own header saying so.
  const forging = http.createServer((_req, res) =>
    res.writeHead(502, { 'x-gatehouse-unprocessed': 'app-refused' }).end(),
  );
  await new Promise<void>((resolve) => forging.listen(0, '127.0.0.1', resolve));
  t.after(() => forging.close());
  const forged = await startQueue((forging.address() as net.AddressInfo).port);
  t.after(() => forged.stop());
  const passed = await fetch(forged.url('/'));
  assert.equal(passed.status, 502);
  assert.equal(passed.headers.get('x-gatehouse-unprocessed'), null, 'the app cannot have its request sent twice');
  const crashing = http.createServer((req) => req.socket.destroy());
  await new Promise<void>((resolve) => crashing.listen(0, '127.0.0.1', resolve));
  t.after(() => crashing.close());
  const reset = await startQueue((crashing.address() as net.AddressInfo).port);
  t.after(() => reset.stop());
  const failed = await fetch(reset.url('/'));
  assert.equal(failed.status, 502);
  assert.equal(failed.headers.get('x-gatehouse-unprocessed'), null);
});

test('probes: health by readiness, ingress echoes the hash, both 503 while draining', async (t) => {
  // An app whose /healthz fails until the test says it is ready: no race with a boot timer.
  let appReady = false;
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(req.url === '/healthz' && !appReady ? 503 : 200).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const app = { port: (server.address() as net.AddressInfo).port };
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const probe = {
    READINESS: JSON.stringify({ httpGet: { path: '/healthz', port: app.port }, periodSeconds: 1, timeoutSeconds: 1 }),
  };
  const queue = await startQueue(app.port, {
    SERVING_READINESS_PROBE: probe.READINESS,
    QUEUE_DRAIN_QUIET_SECONDS: '0.5',
  });
  t.after(() => queue.stop());
  const ask = async (headers: Record<string, string>) => {
    const res = await fetch(queue.url('/'), { headers });
    return { status: res.status, body: await res.text(), hash: res.headers.get('k-network-hash') };
  };
  const kubelet = { 'user-agent': 'kube-probe/1.27', 'k-network-probe': 'queue' };
  assert.deepEqual(await ask(kubelet), { status: 503, body: 'the app is not ready', hash: null });
  appReady = true;
  // Ready once /healthz answers 200: wait on that, not on a timer.
  let ready = await ask(kubelet);
  for (const deadline = Date.now() + 20_000; ready.status !== 200 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 50));
    ready = await ask(kubelet);
  }
  assert.deepEqual(ready, { status: 200, body: 'queue', hash: null });
  assert.deepEqual(await ask({ 'user-agent': 'Knative-Activator-Probe', 'k-network-probe': 'queue' }), {
    status: 200,
    body: 'queue',
    hash: null,
  });
  assert.equal((await ask({ 'user-agent': 'kube-probe/1.27' })).status, 400);
  assert.deepEqual(await ask({ 'k-network-probe': 'probe', 'k-network-hash': 'abc123' }), {
    status: 200,
    body: 'probe',
    hash: 'abc123',
  });
  assert.equal((await ask({ 'k-network-probe': 'probe' })).status, 400);

  queue.process.kill('SIGTERM');
  const admin = await fetch(`http://127.0.0.1:${queue.adminPort}/wait-for-drain`);
  assert.equal(admin.status, 200);
  assert.deepEqual(await ask(kubelet), { status: 503, body: 'shutting down', hash: null });
  assert.deepEqual(await ask({ 'k-network-probe': 'probe', 'k-network-hash': 'abc123' }), {
    status: 503,
    body: 'shutting down',
    hash: null,
  });
  // Ordinary requests are still served during the quiet period.
  assert.equal((await fetch(queue.url('/'))).status, 200);
  assert.equal(await queue.exited(), 0);
});

test('drain: SIGTERM with requests in flight loses none, then exits 0', async (t) => {
  const app = await startHeldApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { QUEUE_DRAIN_QUIET_SECONDS: '0.2', CONTAINER_CONCURRENCY: '2' });
  t.after(() => queue.stop());
  const inFlight = Array.from({ length: 6 }, () => fetch(queue.url('/')).then((r) => r.status));
  // Two at the app, four waiting in the breaker: the queue-proxy's own count of the last second says all six are in.
  await app.waitForArrivals(2);
  await until(
    async () =>
      /queue_average_concurrent_requests\{[^}]*\} 6\n/.test(
        await (await fetch(`http://127.0.0.1:${queue.metricsPort}/metrics`)).text(),
      ),
    'six requests in the queue-proxy for a whole second',
    20_000,
  );
  queue.process.kill('SIGTERM');
  assert.equal((await fetch(`http://127.0.0.1:${queue.adminPort}/wait-for-drain`)).status, 200, 'draining');
  app.release();
  assert.deepEqual(await Promise.all(inFlight), [200, 200, 200, 200, 200, 200]);
  assert.equal(await queue.exited(), 0);
});

test('drain: SIGINT (nothing routes here any more) waits for the requests in flight, not for quiet', async (t) => {
  const app = await startHeldApp();
  t.after(() => app.stop());
  // A quiet period far longer than the test may take: only SIGINT can end the drain in time.
  const queue = await startQueue(app.port, { QUEUE_DRAIN_QUIET_SECONDS: '600', CONTAINER_CONCURRENCY: '2' });
  t.after(() => queue.stop());
  const inFlight = Array.from({ length: 2 }, () => fetch(queue.url('/')).then((r) => r.status));
  await app.waitForArrivals(2);
  // A scale-down's drain is under way when the whole stack stops.
  queue.process.kill('SIGTERM');
  assert.equal((await fetch(`http://127.0.0.1:${queue.adminPort}/wait-for-drain`)).status, 200, 'draining');
  queue.process.kill('SIGINT');
  app.release();
  assert.deepEqual(await Promise.all(inFlight), [200, 200]);
  assert.equal(await queue.exited(), 0);
});

test('h2c with gRPC trailers and websocket pass through', async (t) => {
  const app = await startExampleApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '4' });
  t.after(() => queue.stop());

  const client = new grpc.Client(`127.0.0.1:${queue.servingPort}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const payload = Buffer.from('hello over grpc');
  const echoed = await new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest(
      '/gatehouse.example.Echo/Echo',
      (b: Buffer) => b,
      (b: Buffer) => b,
      payload,
      (err, value) => (err ? reject(err) : resolve(value!)),
    ),
  );
  assert.deepEqual(echoed, payload);

  const ws = new WebSocket(`ws://127.0.0.1:${queue.servingPort}/ws`);
  t.after(() => ws.close());
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send('ping through the queue');
  assert.equal(await reply, 'ping through the queue');
});

test('Stat protobuf on the metrics port reflects a known load', async (t) => {
  const app = await startExampleApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { SERVING_POD: 'hello-00001-deployment-x' });
  t.after(() => queue.stop());
  const root = await new protobuf.Root().load(path.resolve('protos/stat.proto'), { keepCase: true });
  const Stat = root.lookupType('metrics.Stat');
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${queue.metricsPort}/metrics`, {
      headers: { accept: 'application/protobuf' },
    });
    assert.equal(res.headers.get('content-type'), 'application/protobuf');
    return Stat.toObject(Stat.decode(new Uint8Array(await res.arrayBuffer())), {
      longs: Number,
      defaults: true,
    }) as Record<string, number | string>;
  };
  // Four requests held for the whole of at least one reporting period, two of them proxied.
  const load = [
    ...Array.from({ length: 2 }, () => fetch(queue.url('/?delay=2600'))),
    ...Array.from({ length: 2 }, () =>
      fetch(queue.url('/?delay=2600'), { headers: { 'k-proxy-request': 'activator' } }),
    ),
  ];
  let stat = await scrape();
  const deadline = Date.now() + 20_000;
  // A period that started after all four arrived averages exactly 4 in flight and counts none new.
  while (!(stat.average_concurrent_requests === 4 && stat.request_count === 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    stat = await scrape();
  }
  assert.equal(stat.pod_name, 'hello-00001-deployment-x');
  assert.equal(stat.average_concurrent_requests, 4);
  assert.equal(stat.average_proxied_concurrent_requests, 2);
  assert.ok(Number(stat.process_uptime) > 0);
  assert.ok(Math.abs(Number(stat.timestamp) - Date.now() / 1000) < 5);
  await Promise.all(load);
  const text = await (await fetch(`http://127.0.0.1:${queue.userMetricsPort}/metrics`)).text();
  assert.match(text, /revision_request_count\{response_code="200",response_code_class="2xx",namespace_name="default"/);
  assert.match(text, /revision_request_latencies_bucket\{le="5000"/);
  const prom = await (await fetch(`http://127.0.0.1:${queue.metricsPort}/metrics`)).text();
  assert.match(prom, /queue_average_concurrent_requests\{/);
});

test('bad configuration exits non-zero naming the variable and value', async () => {
  const { spawnSync } = await import('node:child_process');
  const { gatehouseBin } = await import('../support/queue.js');
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /USER_PORT is not set/],
    [{ USER_PORT: '8080', CONTAINER_CONCURRENCY: '-1' }, /CONTAINER_CONCURRENCY="-1"/],
    [{ USER_PORT: '8080', CONTAINER_CONCURRENCY: 'abc' }, /CONTAINER_CONCURRENCY="abc"/],
    [{ USER_PORT: '8080', SERVING_READINESS_PROBE: '{"tcpSocket":' }, /SERVING_READINESS_PROBE=/],
  ];
  for (const [env, message] of cases) {
    const run = spawnSync(process.execPath, [gatehouseBin, 'queue'], {
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
    });
    assert.equal(run.status, 2);
    assert.match(run.stderr, message);
  }
});

test(
  '--standby: loads first, takes its environment from ' + 'stdin, then serves; exits quietly if stdin closes first',
  async (t) => {
    const app = await startExampleApp();
    t.after(() => app.stop());
    const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '1' }, true);
    t.after(() => queue.stop());
    const res = await fetch(queue.url('/'), { headers: { host: 'x' } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Hello/);

    const { spawnSync } = await import('node:child_process');
    const { gatehouseBin } = await import('../support/queue.js');
    const unused = spawnSync(process.execPath, [gatehouseBin, 'queue', '--standby'], { input: '', encoding: 'utf8' });
    assert.equal(unused.status, 0, unused.stderr);
    for (const [input, message] of [
      ['not json\n', /--standby: stdin must carry one JSON object/],
      ['{"USER_PORT":8080}\n', /values are strings/],
      ['{"USER_PORT":"x"}\n', /USER_PORT="x"/],
    ] as const) {
      const bad = spawnSync(process.execPath, [gatehouseBin, 'queue', '--standby'], {
        input,
        encoding: 'utf8',
        env: { PATH: process.env.PATH },
      });
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, message);
    }
  },
);
