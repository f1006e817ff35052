// `gatehouse up` when a pod's queue-proxy is sent SIGTERM under load: it drains as Knative's does,
// in proxy and in serve mode, and no request is lost. Apart from faults.test.ts so each file stays
// well inside the per-file timeout on a busy machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { until } from '../support/cli.js';
import { get, loadGenerator, log, service, tempFile } from '../support/up.js';
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

test('up stops once the requests in flight are answered, not after the pods’ quiet period', async (t) => {
  const file = tempFile(service('stopper', 'stopper'));
  // A quiet period far longer than the test may take: only the end of routing can shorten the drain.
  const up = await startUp(loopbackUpOptions(file, log, { tickMs: 200, drainQuietSeconds: 600 }));
  t.after(() => up.close());
  await up.whenReady(30_000);
  const host = 'stopper.default.example.com';
  assert.equal((await get(up.gatewayPort!, host)).status, 200);
  // A streamed response (a chunk every 20 ms for a second) under way when the stop begins is
  // answered in full: its head has come, so the request is at the app.
  const streaming = await request(`http://127.0.0.1:${up.gatewayPort!}/?chunks=50`, { headers: { host } });
  assert.equal(streaming.statusCode, 200);
  const pids = up.status().revisions[0]!.podList.flatMap((p) => [p.pids.app!, p.pids.queueProxy!]);
  assert.ok(pids.length >= 2 && pids.every((pid) => pid > 0), `pod processes: ${pids.join(', ')}`);
  const started = Date.now();
  const [body] = await Promise.all([streaming.body.text(), up.close()]);
  assert.equal(body.split('\n').length, 51, 'every chunk of the answer');
  // Well short of the quiet period and of the 30 s a request in flight may take, however loaded the machine.
  assert.ok(Date.now() - started < 25_000, `stopped in ${Date.now() - started} ms`);
  // And nothing is left running.
  for (const pid of pids)
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `pod process ${pid} still running`);
});
