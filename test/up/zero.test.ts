// `gatehouse up` taking a revision to zero and back: the activator holds the cold request, serve
// mode takes it out of the path under steady load, and idle brings proxy mode and zero again.
// Apart from up.test.ts so each file stays well inside the per-file timeout on a busy machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../support/cli.js';
import { get, loadGenerator, log, service, startTestUp, tempFile } from '../support/up.js';

test(
  'scale from zero through the activator, serve mode ' + 'when burst capacity allows, back to proxy and to zero',
  async (t) => {
    const file = tempFile(
      service('sleepy', 'sleepy', { annotations: { 'autoscaling.knative.dev/target-burst-capacity': '0' }, cc: 1 }),
    );
    const up = await startTestUp(file, t);
    await up.whenReady(30_000);
    const revision = () => up.status().revisions[0]!;
    const host = 'sleepy.default.example.com';
    // No traffic: once its first pod was ready, the revision goes to zero behind the activator.
    await until(
      () => revision().pods.ready === 0 && revision().pods.draining === 0 && revision().mode === 'proxy',
      'scale to zero',
      30_000,
    );
    const started = Date.now();
    const cold = await get(up.gatewayPort!, host);
    assert.equal(cold.status, 200);
    assert.equal(cold.body, 'Hello sleepy!\n');
    log.info('cold request served', { ms: Date.now() - started });
    // Steady traffic with TBC 0: the activator leaves the path and the gateway goes to the pods.
    const load = loadGenerator(up.gatewayPort!, host, 1);
    await until(() => revision().mode === 'serve', 'serve mode', 20_000);
    const { failures } = await load.stop();
    assert.deepEqual(failures, []);
    // Idle again: back to proxy mode (confirmed by the activator probe) and to zero.
    await until(
      () => revision().pods.ready === 0 && revision().pods.draining === 0 && revision().mode === 'proxy',
      'scale to zero again',
      40_000,
    );
    assert.equal((await get(up.gatewayPort!, host)).status, 200, 'and from zero once more');
  },
);
