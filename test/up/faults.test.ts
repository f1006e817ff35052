// `gatehouse up` under faults, end to end: an app crashing and an activator stopped under load
// (a queue-proxy stopped: drain.test.ts). Apart from up.test.ts so each file stays well inside
// the per-file timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../support/cli.js';
import { get, loadGenerator, service, startTestUp, tempFile } from '../support/up.js';

test(
  'an app that crashes under load: only the requests it was serving ' +
    'fail, the other pod takes the rest, the failure is reported',
  async (t) => {
    const file = tempFile(service('crashy', 'crashy', { annotations: { 'autoscaling.knative.dev/min-scale': '2' } }));
    const up = await startTestUp(file, t);
    await up.whenReady(30_000);
    const port = up.gatewayPort!;
    const host = 'crashy.default.example.com';
    await until(() => up.status().revisions[0]!.pods.ready === 2, 'two ready pods', 20_000);
    const load = loadGenerator(port, host);
    await until(() => load.served() >= 20, 'traffic before the crash', 10_000);
    const crashedAt = Date.now();
    const crash = await get(port, host, '/crash');
    assert.equal(crash.body, 'crashing\n');
    await until(() => up.status().revisions[0]!.failure !== undefined, 'the failure in the status', 5000);
    const servedAtFailure = load.served();
    await until(() => load.served() >= servedAtFailure + 30, 'traffic after the crash was reported', 20_000);
    const lateStart = Date.now();
    const before = await load.stop();
    // Requests in flight at the dying app may fail (it failed them): at most the load's 4 at a time.
    // Those it never saw (refused, until the pod leaves the endpoints) go to the other pod.
    assert.ok(
      before.failures.length <= 4 && !before.failures.some((f) => f.includes('not reachable')),
      `failures: ${before.failures.join(' | ')}`,
    );
    assert.match(up.status().revisions[0]!.failure!, /^app exited \(1\)/);
    // And from then on, the surviving pod serves everything.
    const after = loadGenerator(port, host);
    await until(() => after.served() >= 30, 'traffic to the surviving pod', 20_000);
    const late = await after.stop();
    assert.deepEqual(late.failures, [], `after the crash (crash at ${crashedAt}, checked from ${lateStart})`);
  },
);

test(
  'an activator restarted under load (SIGTERM, as in a ' + 'rolling update) loses nothing: the other takes the traffic',
  async (t) => {
    const file = tempFile(service('via-activator', 'via-activator'));
    const up = await startTestUp(file, t);
    await up.whenReady(30_000);
    assert.equal(
      up.status().revisions[0]!.mode,
      'proxy',
      'the default burst capacity keeps the activators in the path',
    );
    const load = loadGenerator(up.gatewayPort!, 'via-activator.default.example.com');
    await until(() => load.served() >= 20, 'traffic through the activators', 10_000);
    const [first] = up.activatorPids();
    process.kill(first!, 'SIGTERM');
    // It drains (1 s quiet period), exits, and is started again on the same port.
    await until(
      () => up.activatorPids()[0] !== first && up.activatorPids()[0] !== undefined,
      'the activator to be restarted',
      15_000,
    );
    // Traffic goes on after the restart: a count of answers, not a time, so a busy machine only slows it.
    const before = load.served();
    await until(() => load.served() >= before + 50, 'fifty more requests after the restart', 20_000);
    const { ok, failures } = await load.stop();
    assert.deepEqual(failures, [], `failed requests (${ok} succeeded)`);
  },
);
