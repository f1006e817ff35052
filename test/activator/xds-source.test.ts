// The activator learning revisions from the real gatehouse xDS server (private clusters and their
// assignments), then forwarding to a real pod.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/logger.js';
import { XdsRevisionSource } from '../../src/activator/xds-source.js';
import { startActivator } from '../../src/activator/server.js';
import { translate } from '../../src/translate/index.js';
import { startXdsServer } from '../../src/xds/index.js';
import { startExampleApp } from '../support/app.js';
import { startQueue } from '../support/queue.js';
import { activatorOverXds } from '../support/activator-process.js';
import { desired, revision, route, routing } from '../support/desired.js';

test('revisions, containerConcurrency and pods arrive over xDS and follow updates', async (t) => {
  const log = createLogger('test');
  const app = await startExampleApp({ K_REVISION: 'hello-00001' });
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '3' });
  t.after(() => queue.stop());
  const xds = await startXdsServer({ port: 0 });
  t.after(() => xds.close());
  const state = (pods: Array<{ host: string; port: number }>) =>
    desired(
      [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
      [routing(revision('hello-00001', { containerConcurrency: 3, timeoutSeconds: 45 }), 'proxy', pods)],
    );
  xds.cache.setTranslation(translate(state([{ host: '127.0.0.1', port: queue.servingPort }])));

  const source = new XdsRevisionSource(`127.0.0.1:${xds.port}`, { id: 'activator-0', cluster: 'activators' }, log);
  t.after(() => source.close());
  const changes: string[] = [];
  const podsArrived = new Promise<void>((resolve) =>
    source.subscribe((key) => {
      changes.push(key);
      if ((source.get(key)?.pods.length ?? 0) > 0) resolve();
    }),
  );
  await podsArrived;
  assert.deepEqual(source.get('default/hello-00001'), {
    namespace: 'default',
    name: 'hello-00001',
    containerConcurrency: 3,
    timeoutSeconds: 45,
    pods: [{ host: '127.0.0.1', port: queue.servingPort, healthy: true }],
  });

  const activator = await startActivator({ port: 0, source, log });
  t.after(() => activator.close());
  // The private assignment lists ready pods as HEALTHY: the activator sends to them without a probe first.
  const throttler = activator.throttler('default/hello-00001');
  assert.equal(throttler, undefined, 'made on the first request');
  const res = await fetch(`http://127.0.0.1:${activator.port}/`, {
    headers: { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'hello-00001' },
  });
  assert.equal(await res.text(), 'Hello hello-00001!\n');
  assert.equal(activator.throttler('default/hello-00001')!.probes, 0, 'no probe before the first request');

  const gone = new Promise<void>((resolve) =>
    source.subscribe((key) => source.get(key)?.pods.length === 0 && resolve()),
  );
  xds.cache.setTranslation(translate(state([])));
  await gone;
  assert.equal(
    activator.throttler('default/hello-00001')!.readyPods,
    0,
    'a pod removed over xDS takes no more requests',
  );
});

test('gatehouse activator as a process serves a revision it learnt over xDS', async (t) => {
  const { child, port, routed, exited } = await activatorOverXds(t, 'proc-00001');
  const res = await fetch(`http://127.0.0.1:${port}/`, { headers: routed });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'Hello proc-00001!\n');
  child.kill('SIGTERM');
  assert.equal((await exited)[0], 0);
});
