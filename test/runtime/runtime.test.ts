import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/log/logger.js';
import { LocalProcessRuntime, restartDelay, type PodRuntime, type PodStatus } from '../../src/runtime/index.js';
import { podName, scaleDownVictims } from '../../src/runtime/naming.js';
import { readinessProbeFor } from '../../src/runtime/local-pod.js';
import { revision } from '../support/desired.js';
import { exampleAppPath } from '../support/app.js';
import { until } from '../support/cli.js';

test('restart delays double from the base up to the cap', () => {
  const policy = { baseMs: 10_000, maxMs: 300_000 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6].map((n) => restartDelay(n, policy)),
    [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000],
  );
});

test('pod names and scale-down victims', () => {
  assert.match(
    podName(revision('hello-00001'), () => 0),
    /^hello-00001-deployment-[0-9a-f]{10}-bbbbb$/,
  );
  const pods = [
    { id: 'old-ready', ready: true, startedAt: 1 },
    { id: 'new-ready', ready: true, startedAt: 3 },
    { id: 'unready', ready: false, startedAt: 2 },
  ];
  assert.deepEqual(
    scaleDownVictims(pods, 2).map((p) => p.id),
    ['unready', 'new-ready'],
  );
  assert.deepEqual(scaleDownVictims(pods, 0), []);
});

test('the readiness probe follows the app to the port it really got', () => {
  const spec = revision('hello-00001', {
    container: {
      command: [],
      args: [],
      env: [],
      protocol: 'http1',
      containerPort: 8080,
      readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 0 },
    },
  });
  assert.deepEqual(JSON.parse(readinessProbeFor(spec, 41000)), {
    httpGet: { path: '/healthz', port: 41000, host: '127.0.0.1' },
    periodSeconds: 0,
  });
  assert.deepEqual(JSON.parse(readinessProbeFor(revision('x-00001'), 41001)), {
    tcpSocket: { port: 41001, host: '127.0.0.1' },
  });
});

// The timeout only matters when something is wrong: pods boot slowly on a busy machine.
function waitFor(
  runtime: PodRuntime,
  key: string,
  done: (pods: PodStatus[]) => boolean,
  timeoutMs = 60_000,
): Promise<PodStatus[]> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const pods = runtime.pods(key);
      if (done(pods)) {
        cancel();
        clearTimeout(timer);
        resolve(pods);
      }
    };
    const cancel = runtime.onChange((k) => k === key && check());
    const timer = setTimeout(() => {
      cancel();
      reject(new Error(`timed out; pods: ${JSON.stringify(runtime.pods(key))}`));
    }, timeoutMs);
    check();
  });
}

const appSpec = (name: string, env: Array<{ name: string; value: string }> = []) =>
  revision(name, {
    containerConcurrency: 2,
    container: { command: ['node', exampleAppPath], args: [], env, protocol: 'http1' },
  });

test(
  'local pods: two become ready behind their own ' + 'queue-proxies, drain on scale to zero, logs are written',
  async (t) => {
    const logDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-pods-'));
    const runtime = new LocalProcessRuntime({
      logDir,
      drainQuietSeconds: 0.2,
      stopTimeoutMs: 5000,
      log: createLogger('test'),
    });
    t.after(() => runtime.close());
    runtime.ensureRevision(appSpec('hello-00001'));
    runtime.scale('default/hello-00001', 2);
    const pods = await waitFor(
      runtime,
      'default/hello-00001',
      (p) => p.length === 2 && p.every((x) => x.phase === 'ready'),
    );
    assert.notEqual(pods[0]!.serving!.port, pods[1]!.serving!.port);
    for (const pod of pods) {
      const res = await fetch(`http://127.0.0.1:${pod.serving!.port}/`);
      assert.equal(await res.text(), 'Hello hello-00001!\n', 'K_REVISION reaches the app');
    }
    // A request in flight while the pod is stopped still completes.
    const inFlight = fetch(`http://127.0.0.1:${pods[0]!.serving!.port}/?delay=3000`).then((r) => r.status);
    // In flight once the pod's queue-proxy counts it (its average concurrency of the last second).
    const inQueueProxy = async () =>
      /queue_average_concurrent_requests\{[^}]*\} (?!0\n)[\d.]+\n/.test(
        await (await fetch(`http://127.0.0.1:${pods[0]!.metrics!.port}/metrics`)).text(),
      );
    await until(inQueueProxy, 'the request to reach the queue-proxy', 20_000);
    runtime.scale('default/hello-00001', 0);
    assert.equal(await inFlight, 200);
    await waitFor(runtime, 'default/hello-00001', (p) => p.length === 0);
    const podDirs = readdirSync(path.join(logDir, 'hello-00001'));
    assert.equal(podDirs.length, 2);
    assert.match(
      readFileSync(path.join(logDir, 'hello-00001', podDirs[0]!, 'queue-proxy.log'), 'utf8'),
      /queue-proxy listening/,
    );
    assert.match(
      readFileSync(path.join(logDir, 'hello-00001', podDirs[0]!, 'app.log'), 'utf8'),
      /example app listening/,
    );
  },
);

test('a crashing app is restarted with backoff and its failure reported; a never-ready app says why', async (t) => {
  const runtime = new LocalProcessRuntime({
    logDir: mkdtempSync(path.join(tmpdir(), 'gatehouse-pods-')),
    backoff: { baseMs: 200, maxMs: 1000 },
    drainQuietSeconds: 0.1,
    stopTimeoutMs: 3000,
    log: createLogger('test'),
  });
  t.after(() => runtime.close());
  runtime.ensureRevision(appSpec('crashy-00001'));
  runtime.scale('default/crashy-00001', 1);
  const [ready] = await waitFor(runtime, 'default/crashy-00001', (p) => p[0]?.phase === 'ready');
  await fetch(`http://127.0.0.1:${ready!.serving!.port}/crash`).catch(() => undefined);
  const [failed] = await waitFor(runtime, 'default/crashy-00001', (p) => p[0]?.phase === 'failed');
  assert.equal(failed!.lastFailure!.process, 'app');
  assert.equal(failed!.lastFailure!.exitCode, 1);
  assert.ok(failed!.lastFailure!.lastLines.some((l) => l.includes('example app listening')));
  assert.match(failed!.reason!, /app exited \(code 1\); restarting in 0.2 s/);
  const [back] = await waitFor(runtime, 'default/crashy-00001', (p) => p[0]?.phase === 'ready');
  assert.equal(back!.restarts, 1);

  runtime.ensureRevision(
    revision('broken-00001', {
      container: {
        command: ['node', '-e', 'console.error("missing DATABASE_URL"); process.exit(3)'],
        args: [],
        env: [],
        protocol: 'http1',
      },
    }),
  );
  runtime.scale('default/broken-00001', 1);
  const [broken] = await waitFor(runtime, 'default/broken-00001', (p) => p[0]?.phase === 'failed');
  assert.equal(broken!.lastFailure!.exitCode, 3);
  assert.deepEqual(broken!.lastFailure!.lastLines, ['missing DATABASE_URL']);
});
