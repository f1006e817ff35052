// The autoscaler driving the real local runtime: load makes a CC=1 revision scale out; when the
// load stops it scales back, and with no activator confirmed in the path it stays at one pod and
// says why instead of dropping to zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/log/logger.js';
import { confirmActivatorInPath } from '../../src/autoscaler/activator-probe.js';
import { Multiscaler } from '../../src/autoscaler/multiscaler.js';
import { deciderSpecFor } from '../../src/model/autoscaling.js';
import { LocalProcessRuntime } from '../../src/runtime/index.js';
import { exampleAppPath } from '../support/app.js';
import { revision } from '../support/desired.js';

test('CC=1, target 1: scales out under load, back in after it, and holds one pod without an activator', async (t) => {
  const log = createLogger('test');
  const runtime = new LocalProcessRuntime({
    logDir: mkdtempSync(path.join(tmpdir(), 'gatehouse-pods-')),
    drainQuietSeconds: 0.1,
    stopTimeoutMs: 3000,
    log,
  });
  t.after(() => runtime.close());
  const key = 'default/load-00001';
  runtime.ensureRevision(
    revision('load-00001', {
      containerConcurrency: 1,
      container: { command: ['node', exampleAppPath], args: [], env: [], protocol: 'http1' },
    }),
  );
  const ready = () => runtime.pods(key).filter((p) => p.phase === 'ready');
  const modes: string[] = [];
  const scaler = new Multiscaler({
    tickMs: 250,
    log,
    scaler: { scale: (k, n) => runtime.scale(k, n), readyMetricsEndpoints: () => ready().map((p) => p.metrics!) },
    // No data plane is attached here: proxy mode can only be confirmed by an activator answering.
    modeSwitch: {
      setMode: async (_key, mode) => {
        modes.push(mode);
        if (mode === 'serve') return { confirmed: true };
        const problem = await confirmActivatorInPath([]);
        return problem === undefined ? { confirmed: true } : { confirmed: false, reason: problem };
      },
    },
  });
  t.after(() => scaler.close());
  // target 1 at 100 % utilisation, 6 s stable window (panic window 600 ms), scale-to-zero grace 1 s.
  const spec = {
    ...deciderSpecFor(
      {
        'autoscaling.knative.dev/target': '1',
        'autoscaling.knative.dev/target-utilization-percentage': '100',
        'autoscaling.knative.dev/window': '6s',
      },
      1,
    ),
    scaleToZeroGracePeriodMs: 1000,
  };
  scaler.watch(key, spec);

  const until = async (what: string, ok: () => boolean, timeoutMs: number) => {
    for (const deadline = Date.now() + timeoutMs; !ok();) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(scaler.status())}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  // Pods boot at a lower priority than the data plane: on a busy machine that takes a while.
  await until('the first pod', () => ready().length === 1, 60_000);

  // Four clients in a loop, spread over ready pods as a gateway would: concurrency ≈ 4 → 4 pods.
  let loading = true;
  let served = 0;
  let next = 0;
  const client = async () => {
    while (loading) {
      const pods = ready();
      const pod = pods[next++ % Math.max(1, pods.length)];
      if (!pod) {
        await new Promise((r) => setTimeout(r, 20)); // between a pod leaving and the next being ready
        continue;
      }
      const res = await fetch(`http://127.0.0.1:${pod.serving!.port}/?delay=200`).catch(() => undefined);
      if (res?.status === 200) served++;
      await res?.arrayBuffer();
    }
  };
  const clients = Array.from({ length: 4 }, client);
  await until('scale out to at least 3 ready pods', () => ready().length >= 3, 60_000);
  assert.ok(scaler.status()[0]!.desiredPods >= 3);
  loading = false;
  await Promise.all(clients);
  assert.ok(served > 0);

  await until(
    'scale back to one pod held for want of an activator',
    () => scaler.status()[0]!.reason.includes('activator') && ready().length === 1,
    30_000,
  );
  const status = scaler.status()[0]!;
  assert.equal(status.desiredPods, 1);
  assert.equal(status.mode, 'proxy');
  assert.match(
    status.reason,
    /staying at 1: the activator is not confirmed in the path \(the revision has no public endpoints to probe\)/,
  );
  assert.ok(modes.includes('proxy'));
});
