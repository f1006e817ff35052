// The real activator in front of real queue-proxies and example apps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import WebSocket from 'ws';
import { createLogger } from '../../src/log/logger.js';
import { InProcessRevisionSource } from '../../src/activator/revision-source.js';
import { startActivator } from '../../src/activator/server.js';
import { startStatReceiver } from '../../src/autoscaler/stat-receiver.js';
import type { WireStat } from '../../src/stats/wire.js';
import { startExampleApp } from '../support/app.js';
import { until } from '../support/cli.js';
import { startQueue } from '../support/queue.js';

const log = createLogger('test');
const routed = (revision: string) => ({ 'knative-serving-namespace': 'default', 'knative-serving-revision': revision });

test(
  'a cold revision: 50 concurrent requests wait for the ' + 'starting pod and all succeed within its concurrency',
  async (t) => {
    const received: WireStat[] = [];
    const receiver = await startStatReceiver(0, '127.0.0.1', (s) => received.push(...s), log);
    t.after(() => receiver.close());
    const source = new InProcessRevisionSource();
    const activator = await startActivator({ port: 0, source, autoscalerUrl: `ws://127.0.0.1:${receiver.port}`, log });
    t.after(() => activator.close());
    source.set({ namespace: 'default', name: 'cold-00001', containerConcurrency: 2, timeoutSeconds: 30, pods: [] });
    await until(() => receiver.connections() === 1, 'the activator to connect to the stat websocket', 20_000);

    const requests = Array.from({ length: 50 }, () =>
      fetch(`http://127.0.0.1:${activator.port}/?delay=20`, { headers: routed('cold-00001') }).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      })),
    );
    // The pod starts after the requests arrived (a slow boot), then is announced.
    const app = await startExampleApp({ STARTUP_DELAY_MS: '800', K_REVISION: 'cold-00001' });
    t.after(() => app.stop());
    const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '2' });
    t.after(() => queue.stop());
    source.set({
      namespace: 'default',
      name: 'cold-00001',
      containerConcurrency: 2,
      timeoutSeconds: 30,
      pods: [{ host: '127.0.0.1', port: queue.servingPort }],
    });
    const results = await Promise.all(requests);
    assert.deepEqual(new Set(results.map((r) => `${r.status} ${r.body}`)), new Set(['200 Hello cold-00001!\n']));
    // The immediate push for a revision without pods reached the autoscaler, decoded.
    const first = received.find((s) => s.name === 'cold-00001')!;
    assert.equal(first.namespace, 'default');
    assert.ok(first.stat.averageConcurrentRequests >= 1);
    assert.equal(first.stat.podName, 'activator-0');
    // Every request reached the one pod exactly once, and the activator holds nothing afterwards.
    // (That no pod ever had more than CC at once is asserted in the capacity test below.)
    const text = await (await fetch(`http://127.0.0.1:${queue.userMetricsPort}/metrics`)).text();
    assert.match(text, /revision_request_count\{response_code="200"[^}]*\} 50/);
    assert.equal(activator.throttler('default/cold-00001')!.inFlight, 0);
  },
);

test('capacity follows pods: 3 pods × CC 2 = 6; unknown revisions 404; no pod in time → 504', async (t) => {
  const source = new InProcessRevisionSource();
  const activator = await startActivator({ port: 0, source, metricsPort: 0, log });
  t.after(() => activator.close());
  const pods = [];
  for (let i = 0; i < 3; i++) {
    const app = await startExampleApp();
    t.after(() => app.stop());
    const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '2' });
    t.after(() => queue.stop());
    pods.push({ host: '127.0.0.1', port: queue.servingPort });
  }
  source.set({ namespace: 'default', name: 'wide-00001', containerConcurrency: 2, timeoutSeconds: 30, pods });
  const ok = await fetch(`http://127.0.0.1:${activator.port}/`, { headers: routed('wide-00001') });
  assert.equal(ok.status, 200);
  await ok.text();
  const throttler = activator.throttler('default/wide-00001')!;
  await until(() => throttler.readyPods === 3, 'three ready pods', 20_000);
  assert.equal(throttler.capacity, 6);
  const burst = Array.from({ length: 12 }, () =>
    fetch(`http://127.0.0.1:${activator.port}/?delay=1000`, { headers: routed('wide-00001') }),
  );
  // Once all twelve arrived (each takes a second at its pod, so none is done yet):
  while (throttler.inFlight + throttler.queued < 12) await new Promise((r) => setTimeout(r, 5));
  assert.equal(throttler.inFlight, 6, 'six at the pods');
  assert.equal(throttler.queued, 6, 'six waiting');
  assert.deepEqual(
    (await Promise.all(burst)).map((r) => r.status),
    Array(12).fill(200),
  );

  const unknown = await fetch(`http://127.0.0.1:${activator.port}/`, { headers: routed('nope-00001') });
  assert.equal(unknown.status, 404);
  assert.match(await unknown.text(), /revision default\/nope-00001 is unknown/);

  source.set({ namespace: 'default', name: 'never-00001', containerConcurrency: 1, timeoutSeconds: 0.3, pods: [] });
  const timeout = await fetch(`http://127.0.0.1:${activator.port}/`, { headers: routed('never-00001') });
  assert.equal(timeout.status, 504);
  assert.equal(await timeout.text(), 'activator request timeout\n');

  const probe = await fetch(`http://127.0.0.1:${activator.port}/healthz`, {
    headers: { 'k-network-probe': 'activator' },
  });
  assert.equal(await probe.text(), 'activator');

  const metrics = await (await fetch(`http://127.0.0.1:${activator.metricsPort}/metrics`)).text();
  assert.match(metrics, /activator_capacity\{revision="default\/wide-00001"\} 6/);
  assert.match(metrics, /activator_proxied_requests_total\{revision="default\/wide-00001"\} 13/);
  assert.match(metrics, /activator_errors_total\{revision="default\/never-00001",reason="timeout"\} 1/);
  assert.match(metrics, /activator_errors_total\{reason="unknown_revision"\} 1/);
});

test('drain: probes answer 503 while requests in flight and new ones during the quiet period finish', async (t) => {
  const app = await startExampleApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '4' });
  t.after(() => queue.stop());
  const source = new InProcessRevisionSource();
  source.set({
    namespace: 'default',
    name: 'drain-00001',
    containerConcurrency: 4,
    timeoutSeconds: 10,
    pods: [{ host: '127.0.0.1', port: queue.servingPort }],
  });
  const activator = await startActivator({ port: 0, source, log });
  t.after(() => activator.close());
  const slow = fetch(`http://127.0.0.1:${activator.port}/?delay=600`, { headers: routed('drain-00001') }).then(
    (r) => r.status,
  );
  await until(() => activator.throttler('default/drain-00001')?.inFlight === 1, 'the slow request in flight', 20_000);
  const drained = activator.drain(200);
  const probe = await fetch(`http://127.0.0.1:${activator.port}/`, { headers: { 'k-network-probe': 'activator' } });
  assert.deepEqual([probe.status, await probe.text()], [503, 'shutting down']);
  const during = await fetch(`http://127.0.0.1:${activator.port}/`, { headers: routed('drain-00001') });
  assert.equal(during.status, 200);
  await during.text();
  await drained;
  assert.equal(await slow, 200);
});

test('gRPC (h2c, trailers intact) and WebSocket pass through the activator to a pod that starts later', async (t) => {
  const source = new InProcessRevisionSource();
  const activator = await startActivator({ port: 0, source, log });
  t.after(() => activator.close());
  source.set({ namespace: 'default', name: 'grpc-00001', containerConcurrency: 0, timeoutSeconds: 30, pods: [] });
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(routed('grpc-00001'))) metadata.set(k, v);
  const client = new grpc.Client(`127.0.0.1:${activator.port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const payload = Buffer.from('through the activator');
  const call = new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest(
      '/gatehouse.example.Echo/Echo',
      (b: Buffer) => b,
      (b: Buffer) => b,
      payload,
      metadata,
      (err, value) => (err ? reject(err) : resolve(value!)),
    ),
  );
  const ws = new WebSocket(`ws://127.0.0.1:${activator.port}/ws`, { headers: routed('grpc-00001') });
  t.after(() => ws.close());
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  // Both were buffered; the pod arrives now.
  const app = await startExampleApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port);
  t.after(() => queue.stop());
  source.set({
    namespace: 'default',
    name: 'grpc-00001',
    containerConcurrency: 0,
    timeoutSeconds: 30,
    pods: [{ host: '127.0.0.1', port: queue.servingPort }],
  });
  assert.deepEqual(await call, payload);
  await opened;
  const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send('websocket through the activator');
  assert.equal(await reply, 'websocket through the activator');
});
