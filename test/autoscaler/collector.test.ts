import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createLogger } from '../../src/log/logger.js';
import { extrapolate, pickSample, sampleSize } from '../../src/autoscaler/sampling.js';
import { RevisionMetrics } from '../../src/autoscaler/revision-metrics.js';
import { scrapeRevision } from '../../src/autoscaler/scraper.js';
import { zeroStat, type Stat } from '../../src/model/stat.js';
import { encodeWireStats, type WireStat } from '../../src/stats/wire.js';
import { startStatReceiver } from '../../src/autoscaler/stat-receiver.js';
import { startExampleApp } from '../support/app.js';
import { startQueue } from '../support/queue.js';

const stat = (over: Partial<Stat>): Stat => ({ ...zeroStat('p'), ...over });

test('sample sizes follow Knative’s formula', () => {
  // n = ceil(N·X / (N + X − 1)), X = 1.96²·100/25 = 15.3664; all pods up to 3
  const table: Array<[number, number]> = [
    [0, 0],
    [1, 1],
    [3, 3],
    [5, 4],
    [10, 7],
    [100, 14],
    [1000, 16],
  ];
  for (const [population, expected] of table) assert.equal(sampleSize(population), expected, `N=${population}`);
});

test('a sample is extrapolated to the revision; picks are distinct', () => {
  const revision = extrapolate(
    [
      stat({ averageConcurrentRequests: 2, requestCount: 10, processUptime: 4 }),
      stat({ averageConcurrentRequests: 4, requestCount: 30, processUptime: 6 }),
    ],
    10,
  );
  // sums 6 and 40, scaled by 10 pods / 2 sampled
  assert.deepEqual([revision.averageConcurrentRequests, revision.requestCount, revision.processUptime], [30, 200, 5]);
  const picked = pickSample([1, 2, 3, 4, 5], 3, () => 0.999);
  assert.equal(new Set(picked).size, 3);
});

test('proxied demand is counted once: pods’ proxied share is subtracted', () => {
  const m = new RevisionMetrics(6_000, 2_000);
  m.record(
    0,
    stat({
      averageConcurrentRequests: 5,
      averageProxiedConcurrentRequests: 3,
      requestCount: 20,
      proxiedRequestCount: 12,
    }),
  ); // pods
  m.record(0, stat({ averageConcurrentRequests: 3, requestCount: 12 })); // the activator's push
  assert.deepEqual(m.stableAndPanic('concurrency', 0), { stable: 5, panic: 5 }); // (5 − 3) + 3
  assert.deepEqual(m.stableAndPanic('rps', 0), { stable: 20, panic: 20 }); // (20 − 12) + 12
});

test('scraping a real queue-proxy under a known load', async (t) => {
  const app = await startExampleApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { SERVING_POD: 'hello-00001-a' });
  t.after(() => queue.stop());
  const load = Array.from({ length: 3 }, () => fetch(queue.url('/?delay=2500')));
  let result = await scrapeRevision([{ host: '127.0.0.1', port: queue.metricsPort }]);
  for (const deadline = Date.now() + 5000; result.stat?.averageConcurrentRequests !== 3 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 100));
    result = await scrapeRevision([{ host: '127.0.0.1', port: queue.metricsPort }]);
  }
  assert.equal(result.stat!.averageConcurrentRequests, 3);
  assert.equal(result.scraped, 1);
  await Promise.all(load);
  const missing = await scrapeRevision([{ host: '127.0.0.1', port: 1 }]);
  assert.equal(missing.stat, undefined);
  assert.equal(missing.failed.length, 1);
});

test('activators’ WireStatMessages over the websocket are decoded', async (t) => {
  const received: WireStat[] = [];
  let arrived!: () => void;
  const done = new Promise<void>((r) => (arrived = r));
  const receiver = await startStatReceiver(
    0,
    '127.0.0.1',
    (stats) => {
      received.push(...stats);
      arrived();
    },
    createLogger('test'),
  );
  t.after(() => receiver.close());
  const ws = new WebSocket(`ws://127.0.0.1:${receiver.port}`);
  t.after(() => ws.close());
  await new Promise((r) => ws.once('open', r));
  const sent: WireStat[] = [
    {
      namespace: 'default',
      name: 'hello-00001',
      stat: stat({
        podName: 'activator-0',
        averageConcurrentRequests: 7.5,
        requestCount: 42,
        timestamp: 1_790_000_000,
      }),
    },
  ];
  ws.send(encodeWireStats(sent), { binary: true });
  await done;
  assert.deepEqual(received, sent);
});
