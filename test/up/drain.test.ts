// `gatehouse up` when a pod's queue-proxy is sent SIGTERM under load: it drains as Knative's does,
// in proxy and in serve mode, and no request is lost. Apart from faults.test.ts so each file stays
// well inside the per-file timeout on a busy machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../support/cli.js';
import { loadGenerator, log, service, tempFile } from '../support/up.js';
import { loopbackUpOptions } from '../../src/bench/services.js';
import { startUp } from '../../src/up/orchestrator.js';

test('a queue-proxy sent SIGTERM under load drains without losing a request, in proxy and in serve mode', async (t) => {
  for (const tbc of ['211', '0']) {
    const file = tempFile(
      service('drainer', 'drainer', {
        annotations: { 'autoscaling.knative.dev/min-scale': '2', 'autoscaling.knative.dev/target-burst-capacity': tbc },
      }),
    );
    const up = await startUp(loopbackUpOptions(file, log, { tickMs: 200, drainQuietSeconds: 2 }));
    t.after(() => up.close());
    await up.whenReady(30_000);
    const revision = () => up.status().revisions[0]!;
    const mode = tbc === '0' ? 'serve' : 'proxy';
    await until(
      () => revision().pods.ready === 2 && revision().mode === mode,
      `two ready pods in ${mode} mode`,
      20_000,
    );
    const load = loadGenerator(up.gatewayPort!, 'drainer.default.example.com');
    await until(() => load.served() >= 20, `${mode} mode: traffic before the SIGTERM`, 10_000);
    const victim = revision().podList.find((p) => p.phase === 'ready')!;
    process.kill(victim.pids.queueProxy!, 'SIGTERM');
    // The pod leaves the endpoints while it drains, exits after the quiet period, and restarts.
    await until(
      () => revision().podList.find((p) => p.name === victim.name)?.phase !== 'ready',
      'the draining pod to leave',
      15_000,
    );
    // The quiet period is 2 s; a loaded machine (pods run at nice 10) stretches the rest of the drain.
    await until(() => revision().failure !== undefined, 'the queue-proxy to exit after its quiet period', 30_000);
    const before = load.served();
    await until(() => load.served() >= before + 30, `${mode} mode: traffic after the drained pod exited`, 20_000);
    const { ok, failures } = await load.stop();
    assert.deepEqual(failures, [], `${mode} mode: failed requests (${ok} succeeded)`);
    await up.close();
  }
});
