// Pods on one machine leave the cores to the data plane: a bounded number boot at once, every pod
// process runs niced, and standby queue-proxies stay at the pool's size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/log/logger.js';
import { BootSlots } from '../../src/runtime/boot-slots.js';
import { LocalProcessRuntime } from '../../src/runtime/index.js';
import { revision } from '../support/desired.js';
import { exampleAppPath } from '../support/app.js';

test(
  'boot slots: at most the limit at once, first come first served, ' +
    'a cancelled wait never boots, a double release frees one slot',
  () => {
    const slots = new BootSlots(2);
    const order: string[] = [];
    const releases = new Map<string, () => void>();
    const ask = (name: string) => slots.acquire((release) => (order.push(name), releases.set(name, release)));
    ask('a');
    ask('b');
    ask('c');
    const cancelD = ask('d');
    ask('e');
    assert.deepEqual([order, slots.inUse, slots.queued], [['a', 'b'], 2, 3]);
    cancelD();
    releases.get('a')!();
    releases.get('a')!();
    assert.deepEqual([order, slots.inUse, slots.queued], [['a', 'b', 'c'], 2, 1]);
    releases.get('b')!();
    assert.deepEqual([order, slots.inUse, slots.queued], [['a', 'b', 'c', 'e'], 2, 0]);
    releases.get('c')!();
    releases.get('e')!();
    assert.equal(slots.inUse, 0);
    assert.throws(() => new BootSlots(0), /must be a whole number, 1 or more \(got 0\)/);
  },
);

/** Child processes of this process whose command line contains `needle` (Linux /proc). */
function children(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle))
        found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

test(
  'four pods of a slow-booting app: two boot at a time, all niced by 5, standby ' +
    'queue-proxies at most the boot limit; those spawned for a waiting pod skip the warm-up',
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async (t) => {
    const own = os.getPriority();
    const runtime = new LocalProcessRuntime({
      logDir: mkdtempSync(path.join(tmpdir(), 'gatehouse-pods-')),
      maxBootingPods: 2,
      podNiceness: 5,
      drainQuietSeconds: 0.1,
      stopTimeoutMs: 3000,
      log: createLogger('test'),
    });
    t.after(() => runtime.close());
    const key = 'default/slow-00001';
    runtime.ensureRevision(
      revision('slow-00001', {
        containerConcurrency: 1,
        container: {
          command: ['node', exampleAppPath],
          args: [],
          env: [{ name: 'STARTUP_DELAY_MS', value: '300' }],
          protocol: 'http1',
        },
      }),
    );
    runtime.scale(key, 4);
    let maxBooting = 0;
    let maxSpares = 0;
    let waitingSeen = false;
    const niceness = new Map<number, number>();
    const podWaiting = new Set<number>();
    for (const deadline = Date.now() + 60_000; ;) {
      const pods = runtime.pods(key);
      const spawned = pods.filter((p) => p.pids.app !== undefined);
      maxBooting = Math.max(maxBooting, spawned.filter((p) => p.phase !== 'ready').length);
      waitingSeen ||= pods.some((p) => p.reason === 'waiting for a boot slot (2 pod(s) boot at once)');
      for (const p of spawned) {
        for (const pid of [p.pids.app!, p.pids.queueProxy!]) {
          try {
            niceness.set(pid, os.getPriority(pid));
            if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--pod-waiting')) podWaiting.add(pid);
          } catch {
            // exited meanwhile
          }
        }
      }
      const podQueues = new Set(spawned.map((p) => p.pids.queueProxy));
      maxSpares = Math.max(maxSpares, children('queue/standby').filter((pid) => !podQueues.has(pid)).length);
      if (pods.length === 4 && pods.every((p) => p.phase === 'ready')) break;
      if (Date.now() > deadline)
        throw new Error(`not all ready: ${JSON.stringify(pods.map((p) => [p.phase, p.reason]))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(maxBooting, 2, 'pods booting at once');
    assert.ok(waitingSeen, 'the others said they wait for a slot');
    assert.deepEqual(runtime.booting(), { booting: 0, waiting: 0, limit: 2 });
    assert.equal(niceness.size, 8, 'an app and a queue-proxy per pod');
    assert.deepEqual([...new Set(niceness.values())], [Math.min(19, own + 5)], 'every pod process niced');
    assert.equal(os.getPriority(), own, 'this process untouched');
    assert.ok(maxSpares <= 2, `standby queue-proxies at once: ${maxSpares}`);
    // Two spares were booted ahead for the first two pods; the pool refills only once no pod boots.
    assert.equal(podWaiting.size, 2, 'the last two pods got queue-proxies spawned for them, without the warm-up');
  },
);
