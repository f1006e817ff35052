// What a real activator tells the autoscaler about a burst at a revision with no pod: at once, one
// request (Knative's first-request push); then, each second, the requests it holds, queued ones
// included, less the one already pushed. Every request is counted once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/logger.js';
import { InProcessRevisionSource } from '../../src/activator/revision-source.js';
import { startActivator } from '../../src/activator/server.js';
import { startStatReceiver } from '../../src/autoscaler/stat-receiver.js';
import type { WireStat } from '../../src/stats/wire.js';
import { startExampleApp } from '../support/app.js';
import { startQueue } from '../support/queue.js';
import { until } from '../support/cli.js';

const log = createLogger('test');

test(
  'a burst of 20 at zero: one immediate push of 1, then ' +
    'reports of the 20 held (queued) requests, each counted once',
  async (t) => {
    const received: Array<{ at: number; stat: WireStat['stat'] }> = [];
    let warmed = false;
    const receiver = await startStatReceiver(
      0,
      '127.0.0.1',
      (stats) => {
        for (const s of stats) {
          if (s.name === 'burst-00001') received.push({ at: Date.now(), stat: s.stat });
          else warmed = true;
        }
      },
      log,
    );
    t.after(() => receiver.close());
    const source = new InProcessRevisionSource();
    source.set({ namespace: 'default', name: 'burst-00001', containerConcurrency: 1, timeoutSeconds: 30, pods: [] });
    source.set({ namespace: 'default', name: 'warm-00001', containerConcurrency: 1, timeoutSeconds: 1, pods: [] });
    const activator = await startActivator({ port: 0, source, autoscalerUrl: `ws://127.0.0.1:${receiver.port}`, log });
    t.after(() => activator.close());
    // The pusher is connected once a push gets through: a request for another revision (it waits
    // 1 s for a pod that never comes, then 504) shows up at the receiver.
    const warm = fetch(`http://127.0.0.1:${activator.port}/`, {
      headers: { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'warm-00001' },
    }).then((r) => r.status);
    await until(() => warmed, 'the stat websocket to carry a push', 5000);
    assert.equal(await warm, 504);
    const sentAt = Date.now();
    const headers = { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'burst-00001' };
    const requests = Array.from({ length: 20 }, () =>
      fetch(`http://127.0.0.1:${activator.port}/?delay=10`, { headers }).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      })),
    );
    await until(() => activator.throttler('default/burst-00001')?.queued === 20, '20 queued requests', 5000);
    // Two periodic reports while all 20 wait.
    await until(() => received.length >= 3, 'the immediate push and two reports', 5000);
    const [first, report, next] = received.map((r) => r.stat);
    assert.deepEqual([first!.averageConcurrentRequests, first!.requestCount], [1, 1], 'the immediate push');
    assert.ok(received[0]!.at - sentAt < 500, `pushed at once (${received[0]!.at - sentAt} ms)`);
    assert.equal(received.filter((r) => r.at < received[1]!.at).length, 1, 'one immediate push, not one per request');
    // Counted once: the first report's count leaves out the request already pushed.
    assert.equal(first!.requestCount + report!.requestCount, 20);
    // The first report is the time average since the burst (less the 1 pushed), the next one all 20.
    assert.ok(
      report!.averageConcurrentRequests > 0 && report!.averageConcurrentRequests <= 19,
      `report ${report!.averageConcurrentRequests}`,
    );
    assert.ok(
      Math.abs(next!.averageConcurrentRequests - 20) < 0.01,
      `queued requests are held demand: ${next!.averageConcurrentRequests}`,
    );
    assert.equal(next!.requestCount, 0);

    const app = await startExampleApp({ K_REVISION: 'burst-00001' });
    t.after(() => app.stop());
    const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '1' });
    t.after(() => queue.stop());
    source.set({
      namespace: 'default',
      name: 'burst-00001',
      containerConcurrency: 1,
      timeoutSeconds: 30,
      pods: [{ host: '127.0.0.1', port: queue.servingPort }],
    });
    const results = await Promise.all(requests);
    assert.deepEqual(new Set(results.map((r) => `${r.status} ${r.body}`)), new Set(['200 Hello burst-00001!\n']));
  },
);
