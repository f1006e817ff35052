// What the activator holds stays bounded: waiting requests (a queue limit per revision and in all,
// the revision's timeout), revisions and pods that are gone (maps, pools, sockets), and a close
// that may be called any number of times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import WebSocket from 'ws';
import { createLogger } from '../../src/log/logger.js';
import { InProcessRevisionSource } from '../../src/activator/revision-source.js';
import { startActivator, type Activator } from '../../src/activator/server.js';
import { startExampleApp } from '../support/app.js';
import { startQueue } from '../support/queue.js';

const log = createLogger('test');
const routed = (revision: string) => ({ 'knative-serving-namespace': 'default', 'knative-serving-revision': revision });
const answer = (activator: Activator, revision: string, path = '/') =>
  fetch(`http://127.0.0.1:${activator.port}${path}`, { headers: routed(revision) }).then(
    async (r) => `${r.status} ${await r.text()}`,
  );

async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  for (const deadline = Date.now() + ms; !check();) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Established TCP connections (any process on this machine) to a loopback port, from /proc/net/tcp. */
function establishedTo(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[2]?.endsWith(`:${hexPort}`) && fields[3] === '01';
    }).length;
}

async function startPod(t: { after(fn: () => unknown): void }, cc: number) {
  const app = await startExampleApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: String(cc) });
  t.after(() => queue.stop());
  return { host: '127.0.0.1', port: queue.servingPort };
}

test(
  'the queue is bounded per revision and in all: beyond, 503 ' +
    '"pending request queue full"; those admitted are served',
  async (t) => {
    const source = new InProcessRevisionSource();
    const activator = await startActivator({ port: 0, source, maxQueuedPerRevision: 3, maxQueued: 5, log });
    t.after(() => activator.close());
    for (const name of ['a-00001', 'b-00001'])
      source.set({ namespace: 'default', name, containerConcurrency: 1, timeoutSeconds: 30, pods: [] });
    const waitingA = Array.from({ length: 3 }, () => answer(activator, 'a-00001'));
    await until('3 waiting for a', () => activator.throttler('default/a-00001')?.queued === 3);
    assert.equal(
      await answer(activator, 'a-00001'),
      '503 pending request queue full: 3 requests already wait at this activator ' +
        'for revision default/a-00001 (limit --max-queued-per-revision 3)\n',
    );
    const waitingB = Array.from({ length: 2 }, () => answer(activator, 'b-00001'));
    await until('2 waiting for b', () => activator.throttler('default/b-00001')?.queued === 2);
    assert.equal(
      await answer(activator, 'b-00001'),
      '503 pending request queue full: 5 requests already wait at this activator (limit --max-queued 5)\n',
    );
    // A WebSocket counts like any request.
    const ws = new WebSocket(`ws://127.0.0.1:${activator.port}/ws`, { headers: routed('b-00001') });
    const refused = await new Promise<string>((resolve) =>
      ws.once('unexpected-response', (_req, res) => resolve(String(res.statusCode))),
    );
    assert.equal(refused, '503');
    // Pods arrive: every admitted request is served.
    const pod = await startPod(t, 1);
    for (const name of ['a-00001', 'b-00001'])
      source.set({ namespace: 'default', name, containerConcurrency: 1, timeoutSeconds: 30, pods: [pod] });
    assert.deepEqual(await Promise.all([...waitingA, ...waitingB]), Array(5).fill('200 Hello World!\n'));
    assert.equal(await answer(activator, 'a-00001'), '200 Hello World!\n', 'the queue has room again');
  },
);

test(
  'a WebSocket waits at most the revision timeout (504); a ' +
    'removed revision answers its waiting requests 503 at once',
  async (t) => {
    const source = new InProcessRevisionSource();
    const activator = await startActivator({ port: 0, source, log });
    t.after(() => activator.close());
    source.set({ namespace: 'default', name: 'never-00001', containerConcurrency: 1, timeoutSeconds: 0.3, pods: [] });
    const ws = new WebSocket(`ws://127.0.0.1:${activator.port}/ws`, { headers: routed('never-00001') });
    const started = Date.now();
    const timedOut = await new Promise<{ status: number; body: string }>((resolve) =>
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      }),
    );
    assert.deepEqual(timedOut, { status: 504, body: 'activator request timeout\n' });
    assert.ok(Date.now() - started < 2000);

    source.set({ namespace: 'default', name: 'gone-00001', containerConcurrency: 1, timeoutSeconds: 30, pods: [] });
    const waiting = Array.from({ length: 4 }, () => answer(activator, 'gone-00001'));
    await until('4 waiting', () => activator.throttler('default/gone-00001')?.queued === 4);
    source.delete('default/gone-00001');
    assert.deepEqual(
      await Promise.all(waiting),
      Array(4).fill('503 revision default/gone-00001 was removed while the request waited for a pod\n'),
    );
  },
);

test(
  'pods and revisions that are gone are forgotten: maps shrink, ' +
    'pools close after their requests, no socket stays open',
  async (t) => {
    const source = new InProcessRevisionSource();
    const activator = await startActivator({ port: 0, source, metricsPort: 0, log });
    t.after(() => activator.close());
    const pods = [await startPod(t, 1), await startPod(t, 1)].sort((a, b) =>
      `${a.host}:${a.port}` < `${b.host}:${b.port}` ? -1 : 1,
    );
    const [first, second] = pods as [(typeof pods)[0], (typeof pods)[0]];
    source.set({ namespace: 'default', name: 'live-00001', containerConcurrency: 1, timeoutSeconds: 30, pods });
    // Both pods used over HTTP/1.1, and one over HTTP/2.
    assert.equal(await answer(activator, 'live-00001'), '200 Hello World!\n');
    await until('both pods ready', () => activator.throttler('default/live-00001')!.readyPods === 2);
    assert.deepEqual(
      await Promise.all([
        answer(activator, 'live-00001', '/?delay=100'),
        answer(activator, 'live-00001', '/?delay=100'),
      ]),
      Array(2).fill('200 Hello World!\n'),
    );
    const h2 = http2.connect(`http://127.0.0.1:${activator.port}`);
    t.after(() => h2.close());
    const h2Body = await new Promise<string>((resolve, reject) => {
      const stream = h2.request({ ':path': '/', ...routed('live-00001') });
      let body = '';
      stream.on('data', (d) => (body += d));
      stream.once('end', () => resolve(body));
      stream.once('error', reject);
    });
    assert.equal(h2Body, 'Hello World!\n');
    // Many short-lived revisions (no pods: each request waits its 0.1 s timeout), and unknown ones.
    for (let i = 0; i < 30; i++)
      source.set({ namespace: 'default', name: `brief-${i}`, containerConcurrency: 1, timeoutSeconds: 0.1, pods: [] });
    const briefs = await Promise.all(Array.from({ length: 30 }, (_, i) => answer(activator, `brief-${i}`)));
    assert.deepEqual(new Set(briefs), new Set(['504 activator request timeout\n']));
    for (let i = 0; i < 30; i++) assert.equal((await answer(activator, `unknown-${i}`)).slice(0, 3), '404');
    let footprint = activator.footprint();
    assert.deepEqual(
      [footprint.revisions, footprint.pods, footprint.stats, footprint.pools, footprint.h2Sessions],
      [31, 2, 31, 2, 1],
    );
    assert.equal(footprint.counterSeries, 31, 'live proxied + 30 timeouts; unknown revisions share one series');
    assert.ok(establishedTo(first.port) > 0 && establishedTo(second.port) > 0, 'connections to both pods');

    // The first pod (the one CC=1 fills first) leaves while it serves a slow request: the request
    // finishes, then its pool closes. Well before undici's 4 s keep-alive would close it anyway.
    const slow = answer(activator, 'live-00001', '/?delay=500');
    await until('the slow request at the first pod', () => activator.throttler('default/live-00001')!.inFlight === 1);
    source.set({
      namespace: 'default',
      name: 'live-00001',
      containerConcurrency: 1,
      timeoutSeconds: 30,
      pods: [second],
    });
    assert.equal(activator.footprint().pods, 1);
    assert.equal(await slow, '200 Hello World!\n');
    await until('no connection to the removed pod', () => establishedTo(first.port) === 0, 1500);
    assert.ok(establishedTo(second.port) > 0, 'the remaining pod keeps its connections');
    for (let i = 0; i < 30; i++) source.delete(`default/brief-${i}`);
    await until(
      'stats and counters of removed revisions dropped',
      () => activator.footprint().stats === 1 && activator.footprint().counterSeries === 1,
      2500,
    );
    footprint = activator.footprint();
    assert.deepEqual(
      footprint,
      { revisions: 1, pods: 1, stats: 1, counterSeries: 1, pools: 1, h2Sessions: 0 },
      'the HTTP/2 request had gone to the first pod',
    );
    const metrics = await (await fetch(`http://127.0.0.1:${activator.metricsPort}/metrics`)).text();
    assert.doesNotMatch(metrics, /brief-/);
    assert.match(metrics, /activator_errors_total\{reason="unknown_revision"\} 30/);

    source.delete('default/live-00001');
    await until('everything forgotten', () => Object.values(activator.footprint()).every((n) => n === 0), 2500);
    await until('no connection to any pod', () => establishedTo(second.port) === 0, 1500);
  },
);

test('close and drain may be called again and together; requests still waiting get 503', async (t) => {
  const source = new InProcessRevisionSource();
  const pod = await startPod(t, 1);
  source.set({ namespace: 'default', name: 'twice-00001', containerConcurrency: 1, timeoutSeconds: 30, pods: [pod] });
  source.set({ namespace: 'default', name: 'cold-00001', containerConcurrency: 1, timeoutSeconds: 30, pods: [] });
  const activator = await startActivator({ port: 0, source, log });
  assert.equal(await answer(activator, 'twice-00001'), '200 Hello World!\n');
  const waiting = answer(activator, 'cold-00001');
  await until('one waiting', () => activator.throttler('default/cold-00001')?.queued === 1);
  await Promise.all([activator.close(), activator.close(), activator.drain(10)]);
  await activator.close();
  await activator.drain(10);
  assert.equal(await waiting, '503 the activator is shutting down\n');
});
