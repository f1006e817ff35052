// The xDS server against hostile and unusual clients on loopback: clients that never read, repeat
// NACKs by the thousand, name 100,000 resources, open stream after stream on one connection, or
// claim another node's id. Each test is bounded in time and checks memory where memory is the risk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { startXdsServer, type StreamLimits } from '../../src/xds/index.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { translate } from '../../src/translate/index.js';
import { desired, revision, route, routing } from '../support/desired.js';
import { AdsTestStream, encodeRequest } from '../support/ads-client.js';
import { captureLog } from '../support/capture-log.js';
import { stalledAds } from '../support/stalled-ads.js';
import { fileURLToPath } from 'node:url';

const node = { id: 'envoy-1', cluster: 'gatehouse-ingress' };
const MiB = 1024 * 1024;

function services(n: number, k = 0) {
  const specs = Array.from({ length: n }, (_, i) => revision(`svc${i}-00001`, { timeoutSeconds: 100 + k }));
  return desired(
    specs.map((s) => route(s.service, [{ revisionName: s.name, percent: 100 }])),
    specs.map((s, i) => routing(s, 'serve', [{ host: '127.0.0.1', port: 10_000 + i + k }])),
  );
}

/** Every type, EDS and RDS by name, as an Envoy with these services would subscribe. */
function everything(n: number) {
  const names = (f: (i: number) => string[]) => Array.from({ length: n }, (_, i) => f(i)).flat();
  return [
    { typeUrl: TYPE_URL.cluster, names: [] },
    { typeUrl: TYPE_URL.endpoint, names: names((i) => [`default/svc${i}-00001`, `default/svc${i}-00001-private`]) },
    { typeUrl: TYPE_URL.listener, names: [] },
    { typeUrl: TYPE_URL.scopedRoute, names: [] },
    {
      typeUrl: TYPE_URL.route,
      names: names((i) => [`default/svc${i}`]),
    },
  ];
}

async function server(t: { after(fn: () => unknown): void }, limits: Partial<StreamLimits> = {}, n = 3) {
  const log = captureLog();
  const xds = await startXdsServer({ port: 0, log, limits });
  t.after(() => xds.close());
  xds.cache.setTranslation(translate(services(n)));
  return { xds, log };
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test(
  'a client that never reads costs one response per stream, not one per ' +
    'push: server RSS stays within 50 MiB over 20 pushes of 1,000 services',
  async (t) => {
    const n = 1000;
    // Compiled (npm test runs the tests from a tsc build) or TypeScript through tsx (one file by hand).
    const compiled = import.meta.url.endsWith('.js');
    const child = fork(
      fileURLToPath(new URL(`../support/xds-server-process.${compiled ? 'js' : 'ts'}`, import.meta.url)),
      [String(n), JSON.stringify({ limits: { stallTimeoutMs: 600_000 } })],
      {
        execArgv: ['--expose-gc', ...(compiled ? [] : ['--import', 'tsx'])],
        stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      },
    );
    t.after(() => child.kill('SIGKILL'));
    const reply = async <T>(message?: object): Promise<T> => {
      if (message) child.send(message);
      return (await once(child, 'message'))[0] as T;
    };
    const { port } = await reply<{ port: number }>();
    const memory = () => reply<{ rss: number; external: number }>({ memory: true });
    let pushes = 0;
    const push = async (count: number) => {
      for (let i = 0; i < count; i++) await reply({ push: ++pushes });
    };
    // The cache's own churn first, so what is measured after is what the stalled client costs.
    await push(10);
    const before = await memory();
    const stalled = stalledAds(port, node, everything(n));
    t.after(() => stalled.close());
    await push(20);
    const after = await memory();
    const rss = (after.rss - before.rss) / MiB;
    const external = (after.external - before.external) / MiB;
    // Each push is about 2 MiB of responses: 20 queued would be +40 MiB of buffers.
    assert.ok(rss <= 50, `server RSS grew ${rss.toFixed(1)} MiB under a client that never reads`);
    assert.ok(external <= 8, `server buffers grew ${external.toFixed(1)} MiB under a client that never reads`);
    process.stdout.write(
      `# non-reading client, 20 pushes of ${n} services: RSS ${rss >= 0 ? '+' : ''}${rss.toFixed(1)} ` +
        `MiB, buffers ${external >= 0 ? '+' : ''}${external.toFixed(1)} MiB\n`,
    );
  },
);

test('a stream whose client stops reading is reset after the stall timeout, logged, and forgotten', async (t) => {
  // 300 services' clusters alone are more than the 64 KiB HTTP/2 window the client never reopens.
  const { xds, log } = await server(t, { stallTimeoutMs: 300 }, 300);
  const stalled = stalledAds(xds.port, node, everything(300));
  t.after(() => stalled.close());
  const code = await Promise.race([
    stalled.closed,
    new Promise<string>((r) => setTimeout(() => r('still open'), 10_000)),
  ]);
  assert.equal(code, 11, 'RST_STREAM ENHANCE_YOUR_CALM');
  assert.ok(
    log.lines.some(
      (l) => l.msg === 'xDS stream reset: the client has not read its responses' && l.fields.node === node.id,
    ),
  );
  await until('the stream to be released', () => (xds.status.get(node.id)?.connectedStreams ?? 0) === 0);

  // A client that reads is never reset, however long it stays between pushes.
  const small = await server(t, { stallTimeoutMs: 300 });
  const next = translate(services(3, 7));
  const reader = new AdsTestStream(small.xds.port, false);
  t.after(() => reader.close());
  reader.send({ node: { id: 'reader', cluster: 'x' }, type_url: TYPE_URL.cluster });
  const first = await reader.next();
  reader.send({
    node: { id: 'reader', cluster: 'x' },
    type_url: TYPE_URL.cluster,
    response_nonce: first.nonce,
    version_info: first.version_info,
  });
  await new Promise((r) => setTimeout(r, 600));
  small.xds.cache.setTranslation(next);
  assert.equal((await reader.next()).type_url, TYPE_URL.cluster);
});

test('pushes to a slow reader are coalesced: it gets the latest version, not every one in between', async (t) => {
  const { xds } = await server(t, {}, 300);
  const stream = new AdsTestStream(xds.port, false);
  t.after(() => stream.close());
  stream.send({ node, type_url: TYPE_URL.cluster });
  const first = await stream.next();
  stream.send({ node, type_url: TYPE_URL.cluster, response_nonce: first.nonce, version_info: first.version_info });
  // 50 versions set back to back, before the stream can write even one.
  const flips = [translate(services(300, 1)), translate(services(300, 2))];
  for (let k = 1; k <= 50; k++) xds.cache.setTranslation(flips[k % 2]!);
  const latest = xds.cache.get('', TYPE_URL.cluster)!.version;
  const received = [];
  for (;;) {
    const r = await stream.next();
    received.push(r.version_info);
    stream.send({ node, type_url: TYPE_URL.cluster, response_nonce: r.nonce, version_info: r.version_info });
    if (r.version_info === latest) break;
  }
  assert.ok(received.length <= 2, `${received.length} responses for 50 versions`);
});

test(
  '20,000 repeated NACKs and NACKs from 200 nodes: ' + 'recorded per node, a handful of log lines with counts',
  async (t) => {
    const { xds, log } = await server(t, { maxStreamsPerConnection: 1000 });
    const stream = new AdsTestStream(xds.port, false);
    t.after(() => stream.close());
    stream.send({ node, type_url: TYPE_URL.cluster });
    const first = await stream.next();
    const nack = {
      node,
      type_url: TYPE_URL.cluster,
      response_nonce: first.nonce,
      error_detail: { code: 3, message: 'refused by test' },
    };
    for (let i = 0; i < 20_000; i++) stream.send(nack);
    stream.send({ node, type_url: TYPE_URL.listener });
    assert.equal((await stream.next(10_000)).type_url, TYPE_URL.listener, 'every NACK was read');
    assert.equal(await stream.quiet(100), true, 'a NACK is not answered with a resend');
    assert.equal(xds.status.get(node.id)!.types[TYPE_URL.cluster]!.lastNack!.error, 'refused by test');
    assert.equal(log.lines.filter((l) => l.msg === 'xDS NACK').length, 1, 'the same NACK repeated is one event');

    // 200 nodes, one NACK each: five lines in full, then one summary that counts the rest.
    const streams = Array.from({ length: 200 }, () => new AdsTestStream(xds.port, true));
    t.after(() => streams.forEach((s) => s.close()));
    await Promise.all(
      streams.map(async (s, i) => {
        const id = { id: `node-${i}`, cluster: 'x' };
        s.send({ node: id, type_url: TYPE_URL.cluster });
        const r = await s.next();
        s.send({
          node: id,
          type_url: TYPE_URL.cluster,
          response_nonce: r.nonce,
          error_detail: { code: 3, message: `refused by node-${i}` },
        });
      }),
    );
    await until('200 NACKs recorded', () =>
      streams.every((_, i) => xds.status.get(`node-${i}`)?.types[TYPE_URL.cluster]?.lastNack !== undefined),
    );
    await xds.close();
    const full = log.lines.filter((l) => l.msg === 'xDS NACK');
    const summaries = log.lines.filter((l) => l.msg === 'xDS NACK (summary)');
    assert.equal(full.length, 5);
    assert.equal(summaries.length, 1);
    assert.equal(summaries[0]!.fields.notLoggedOneByOne, 196);
    assert.equal(summaries[0]!.fields.nodes, 196);
  },
);

test('20,000 stale-nonce NACKs, forged nonces included, are answered with at most one resend', async (t) => {
  const { xds } = await server(t);
  const stream = new AdsTestStream(xds.port, false);
  t.after(() => stream.close());
  const names = ['default/svc0', 'default/svc1'];
  stream.send({ node, type_url: TYPE_URL.route, resource_names: names });
  const full = await stream.next();
  stream.send({
    node,
    type_url: TYPE_URL.route,
    resource_names: names,
    response_nonce: full.nonce,
    version_info: full.version_info,
  });
  xds.cache.setTranslation(translate(services(3, 1)));
  const partial = await stream.next();
  xds.cache.setTranslation(translate(services(3, 2)));
  const current = await stream.next();
  for (let i = 0; i < 20_000; i++) {
    const nonce = i % 2 === 0 ? partial.nonce : String(1_000_000 + i);
    stream.send({
      node,
      type_url: TYPE_URL.route,
      resource_names: names,
      response_nonce: nonce,
      error_detail: { code: 3, message: 'stale' },
    });
  }
  const resend = await stream.next(10_000);
  assert.equal(resend.resources.size, 2, 'the refused partial response is made good with one full response');
  assert.equal(await stream.quiet(300), true, 'and only one');
  assert.equal(
    xds.status.get(node.id)!.types[TYPE_URL.route]?.lastNack,
    undefined,
    'stale NACKs are not the current state',
  );
  assert.notEqual(current.nonce, resend.nonce);
});

test('100,000 resource names are refused with RESOURCE_EXHAUSTED, logged, and the memory is released', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { xds, log } = await server(t);
  const names = Array.from({ length: 100_000 }, (_, i) => `default/a-rather-long-service-name-${i}-00001`);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let round = 0; round < 10; round++) {
    const delta = round % 2 === 1;
    const stream = new AdsTestStream(xds.port, delta);
    stream.send(
      delta
        ? { node, type_url: TYPE_URL.endpoint, resource_names_subscribe: names }
        : { node, type_url: TYPE_URL.endpoint, resource_names: names },
    );
    const status = await stream.ended;
    stream.close();
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(
      status.details,
      /names 100000 resources .* at most 50000 per type and stream \(--xds-max-resource-names\)/,
    );
  }
  assert.ok(
    log.lines.some((l) => l.msg === 'xDS stream refused: too many resource names' && l.fields.names === 100_000),
  );
  // Under the limit is served as usual.
  const ok = new AdsTestStream(xds.port, false);
  t.after(() => ok.close());
  ok.send({ node, type_url: TYPE_URL.endpoint, resource_names: names.slice(0, 50_000) });
  assert.equal((await ok.next()).type_url, TYPE_URL.endpoint);
  ok.close();
  await until('the streams to be released', () => (xds.status.get(node.id)?.connectedStreams ?? 0) === 0);
  gc();
  const grown = (process.memoryUsage().heapUsed - before) / MiB;
  assert.ok(grown < 16, `heap grew ${grown.toFixed(1)} MiB after ten refused 100,000-name requests`);
});

test('streams per connection are capped: the one over the limit gets RESOURCE_EXHAUSTED and a log line', async (t) => {
  const { xds, log } = await server(t, { maxStreamsPerConnection: 3 });
  const client = new grpc.Client(`127.0.0.1:${xds.port}`, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  t.after(() => client.close());
  const request = Buffer.from(encodeRequest(false, { node, type_url: TYPE_URL.cluster }));
  const open = () => {
    const call = client.makeBidiStreamRequest(
      '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    const answered = new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.on('error', () => {});
    call.on('data', () => {});
    call.write(request);
    return { call, ended, answered };
  };
  const calls = [open(), open(), open()];
  t.after(() => calls.forEach((c) => c.call.cancel()));
  await Promise.all(calls.map((c) => c.answered));
  const fourth = open();
  const status = await fourth.ended;
  assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(status.details, /already has 3 xDS streams open.*--xds-max-streams-per-connection/);
  assert.ok(
    log.lines.some((l) => l.msg === 'xDS stream refused: too many streams on one connection' && l.fields.limit === 3),
  );
  // A stream that ends frees its place.
  calls[0]!.call.cancel();
  await until('the server to see the stream go', () => xds.status.get(node.id)?.connectedStreams === 2);
  const again = open();
  t.after(() => again.call.cancel());
  await again.answered;
});

test(
  'a second process claiming a node id cannot ACK for it: the ' +
    'node counts as up to date only when all its streams are',
  async (t) => {
    const { xds } = await server(t);
    const real = new AdsTestStream(xds.port, false, { 'grpc.use_local_subchannel_pool': 1 });
    const forger = new AdsTestStream(xds.port, false, { 'grpc.use_local_subchannel_pool': 1 });
    t.after(() => [real, forger].forEach((s) => s.close()));
    real.send({ node, type_url: TYPE_URL.endpoint, resource_names: ['default/svc0-00001'] });
    await real.next();
    forger.send({ node, type_url: TYPE_URL.endpoint, resource_names: ['default/svc0-00001'] });
    const forged = await forger.next();
    forger.send({
      node,
      type_url: TYPE_URL.endpoint,
      resource_names: ['default/svc0-00001'],
      response_nonce: forged.nonce,
      version_info: forged.version_info,
    });
    await until('both streams connected', () => xds.status.get(node.id)?.connectedStreams === 2);
    assert.equal(await forger.quiet(100), true);
    assert.equal(
      xds.status.get(node.id)!.types[TYPE_URL.endpoint]?.ackedVersion,
      undefined,
      'the forged ACK alone does not count',
    );
    real.close();
    await until(
      'the ACK to count once only the forger is left',
      () => xds.status.get(node.id)!.types[TYPE_URL.endpoint]?.ackedVersion === forged.version_info,
    );
  },
);

test('the server binds the address it is given, loopback by default', async (t) => {
  const def = await startXdsServer({ port: 0, log: captureLog() });
  t.after(() => def.close());
  assert.equal(def.host, '127.0.0.1');
  const other = await startXdsServer({ port: 0, host: '127.0.0.2', log: captureLog() });
  t.after(() => other.close());
  other.cache.setTranslation(translate(services(1)));
  const there = new AdsTestStream(other.port, false, {}, '127.0.0.2');
  t.after(() => there.close());
  there.send({ node, type_url: TYPE_URL.cluster });
  assert.equal((await there.next()).type_url, TYPE_URL.cluster);
  const notHere = new AdsTestStream(other.port, false, { 'grpc.use_local_subchannel_pool': 1 }, '127.0.0.1');
  t.after(() => notHere.close());
  notHere.send({ node, type_url: TYPE_URL.cluster });
  await assert.rejects(notHere.next(500));
  await assert.rejects(
    startXdsServer({ port: 0, host: '203.0.113.1', log: captureLog() }),
    /cannot listen on 203\.0\.113\.1:0/,
  );
});
