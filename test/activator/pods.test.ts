// The activator with real pods (example app + queue-proxy): a pod dying under load, and two
// activators splitting the pods between them. Apart from activator.test.ts so each file stays
// well inside the per-file timeout on a loaded machine.
import http2 from 'node:http2';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/logger.js';
import { InProcessRevisionSource } from '../../src/activator/revision-source.js';
import { startActivator } from '../../src/activator/server.js';
import { startExampleApp, type RunningApp } from '../support/app.js';
import { until } from '../support/cli.js';
import { startQueue } from '../support/queue.js';

const log = createLogger('test');
const routed = (revision: string) => ({ 'knative-serving-namespace': 'default', 'knative-serving-revision': revision });

test('a pod killed mid-load: requests it refuses go to the other pod, none hang', async (t) => {
  const source = new InProcessRevisionSource();
  const activator = await startActivator({ port: 0, source, log });
  t.after(() => activator.close());
  const pods = [];
  const queues = [];
  for (let i = 0; i < 2; i++) {
    const app = await startExampleApp();
    t.after(() => app.stop());
    const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '2' });
    t.after(() => queue.stop());
    queues.push(queue);
    pods.push({ host: '127.0.0.1', port: queue.servingPort });
  }
  source.set({ namespace: 'default', name: 'kill-00001', containerConcurrency: 2, timeoutSeconds: 10, pods });
  await (await fetch(`http://127.0.0.1:${activator.port}/`, { headers: routed('kill-00001') })).text();
  const throttler = activator.throttler('default/kill-00001')!;
  await until(() => throttler.readyPods === 2, 'two ready pods', 20_000);
  // Load that keeps going while one pod dies; the source is not told (as if the update lagged).
  const statuses: number[] = [];
  let running = true;
  const client = async () => {
    while (running) {
      const res = await fetch(`http://127.0.0.1:${activator.port}/?delay=20`, {
        headers: routed('kill-00001'),
        signal: AbortSignal.timeout(5000),
      });
      statuses.push(res.status);
      await res.text();
    }
  };
  const clients = Array.from({ length: 4 }, client);
  const answers = async (n: number) => {
    const target = statuses.length + n;
    await until(() => statuses.length >= target, `${n} more answers`);
  };
  await answers(20);
  await queues[0]!.stop();
  await answers(30);
  running = false;
  await Promise.all(clients);
  // Requests in flight on the killed pod at the moment it died may fail; after that, none.
  const failedAfterKill = statuses.slice(-15).filter((s) => s !== 200);
  assert.deepEqual(failedAfterKill, []);
  assert.equal(throttler.readyPods, 1);
});

test('a pod whose app died: its queue-proxy says the app saw nothing, the request goes to another', async (t) => {
  const source = new InProcessRevisionSource();
  const activator = await startActivator({ port: 0, source, log });
  t.after(() => activator.close());
  const apps: RunningApp[] = [];
  const pods = [];
  for (let i = 0; i < 2; i++) {
    const app = await startExampleApp();
    t.after(() => apps[i]!.stop());
    apps.push(app);
    const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '1' });
    t.after(() => queue.stop());
    pods.push({ host: '127.0.0.1', port: queue.servingPort });
  }
  source.set({ namespace: 'default', name: 'orphan-00001', containerConcurrency: 1, timeoutSeconds: 20, pods });
  // Each request holds its pod for a second, so of two sent together the second finds the first's
  // pod busy: whichever pod the first takes, the pod whose app died is asked.
  const path = '/?delay=1000';
  const h1 = async (body?: string) => {
    const res = await fetch(`http://127.0.0.1:${activator.port}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: routed('orphan-00001'),
      ...(body === undefined ? {} : { body }),
    });
    return `${res.status} ${res.headers.get('x-gatehouse-unprocessed') ?? '-'} ${await res.text()}`;
  };
  const session = http2.connect(`http://127.0.0.1:${activator.port}`);
  t.after(() => session.close());
  const h2 = (body?: string) =>
    new Promise<string>((resolve, reject) => {
      const stream = session.request({
        ':path': path,
        ':method': body === undefined ? 'GET' : 'POST',
        ...routed('orphan-00001'),
      });
      let answer = '';
      stream.setEncoding('utf8');
      stream.on('response', (h) => (answer = `${h[':status']} ${String(h['x-gatehouse-unprocessed'] ?? '-')} `));
      stream.on('data', (chunk: string) => (answer += chunk));
      stream.on('error', reject);
      stream.on('end', () => resolve(answer));
      stream.end(body);
    });
  await h1();
  const throttler = activator.throttler('default/orphan-00001')!;
  const served = `200 - ${await (await fetch(`http://127.0.0.1:${apps[1]!.port}${path}`)).text()}`;
  const refused = /^502 app-refused the app is not reachable/;
  const cases: Array<{ name: string; pair: () => Promise<string[]>; check(answers: string[]): void }> = [
    {
      name: 'HTTP/1.1 without a body: sent to the other pod',
      pair: () => Promise.all([h1(), h1()]),
      check: (answers) => assert.deepEqual(answers, [served, served]),
    },
    {
      name: 'HTTP/2 without a body: sent to the other pod',
      pair: () => Promise.all([h2(), h2()]),
      check: (answers) => assert.deepEqual(answers, [served, served]),
    },
    {
      // The queue-proxy read the body: sending it again could send it twice (or, over HTTP/2, not at all).
      name: 'HTTP/1.1 with a body: the 502 passes on, marked',
      pair: () => Promise.all([h1('x'), h1('y')]),
      check: (answers) =>
        assert.ok(answers.includes(served) && answers.some((a) => refused.test(a)), answers.join(' | ')),
    },
    {
      name: 'HTTP/2 with a body: the 502 passes on, marked',
      pair: () => Promise.all([h2('x'), h2('y')]),
      check: (answers) =>
        assert.ok(answers.includes(served) && answers.some((a) => refused.test(a)), answers.join(' | ')),
    },
  ];
  for (const c of cases) {
    await until(() => throttler.readyPods === 2, `${c.name}: two ready pods`, 20_000);
    // The first pod's app exits; its queue-proxy stays, and the source is not told (as if the update lagged).
    const port = apps[0]!.port;
    await apps[0]!.stop();
    c.check(await c.pair());
    assert.equal(throttler.readyPods, 1, `${c.name}: the pod whose app refused is out until it answers probes`);
    // The app comes back on its port: the pod answers probes again and returns.
    apps[0] = await startExampleApp({ PORT: String(port) });
  }
});

test('two activators split 5 pods 3 + 2, as the subsetting examples say', async (t) => {
  const pods = [];
  for (let i = 0; i < 5; i++) {
    const app = await startExampleApp();
    t.after(() => app.stop());
    const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: '1' });
    t.after(() => queue.stop());
    pods.push({ host: '127.0.0.1', port: queue.servingPort });
  }
  const source = new InProcessRevisionSource();
  source.set({ namespace: 'default', name: 'split-00001', containerConcurrency: 1, timeoutSeconds: 10, pods });
  const activators = await Promise.all(
    [0, 1].map((index) => startActivator({ port: 0, source, index, replicas: 2, log })),
  );
  t.after(() => Promise.all(activators.map((a) => a.close())));
  for (const a of activators)
    await (await fetch(`http://127.0.0.1:${a.port}/`, { headers: routed('split-00001') })).text();
  const assigned = () => activators.map((a) => a.throttler('default/split-00001')!.readyPods);
  await until(() => assigned().join() === '3,2', 'the pods split 3 + 2', 20_000);
  // 5 pods / 2 activators = 2 each, the fifth pod (remnant) to activator 0
  assert.deepEqual(assigned(), [3, 2]);
  assert.deepEqual(
    activators.map((a) => a.throttler('default/split-00001')!.capacity),
    [3, 2],
  );
});
