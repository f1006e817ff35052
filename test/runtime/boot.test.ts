// Pods on one machine leave the cores to the data plane: a bounded number boot at once, every pod
// process runs niced, and standby queue-proxies stay at the pool's size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/log/logger.js';
import { BootSlots } from '../../src/runtime/boot-slots.js';
import { readCpuTimes, SpareCpuMeter } from '../../src/runtime/spare-cpu.js';
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

test('boot slots: idle cores let one more pod boot each time, never more than 4× the limit', () => {
  const slots = new BootSlots(1);
  assert.equal(slots.cap, 4);
  const releases: Array<() => void> = [];
  for (let i = 0; i < 6; i++) slots.acquire((release) => releases.push(release));
  assert.deepEqual([slots.inUse, slots.queued], [1, 5]);
  assert.deepEqual([slots.spareCpu(), slots.spareCpu(), slots.spareCpu(), slots.spareCpu()], [true, true, true, false]);
  assert.deepEqual([slots.inUse, slots.queued], [4, 2], 'capped at 4 × 1');
  releases[0]!();
  assert.deepEqual([slots.inUse, slots.queued], [3, 2], 'above the limit: a release starts nobody');
  releases[1]!();
  releases[2]!();
  releases[3]!();
  assert.deepEqual([slots.inUse, slots.queued], [1, 1], 'below it: the next one');
  releases[4]!();
  releases[5]!();
  assert.deepEqual([slots.inUse, slots.queued, slots.spareCpu()], [0, 0, false], 'nobody waits');
});

test('spare cpu: half a core or more idle since the last sample; no sample, no time, no /proc: not spare', () => {
  let times: { idle: number; total: number } | undefined = { idle: 0, total: 0 };
  const meter = new SpareCpuMeter(2, () => times);
  assert.equal(meter.spare(), false, 'first sample: nothing to compare');
  times = { idle: 25, total: 100 }; // a quarter of 2 cores idle: half a core
  assert.equal(meter.spare(), true);
  times = { idle: 49, total: 200 }; // 24 of 100: 0.48 cores
  assert.equal(meter.spare(), false);
  assert.equal(meter.spare(), false, 'no time passed');
  times = undefined;
  assert.equal(meter.spare(), false);
  const real = readCpuTimes();
  if (process.platform === 'linux') assert.ok(real && real.total >= real.idle && real.idle > 0, JSON.stringify(real));
});

/** Processes started by this one (children and theirs) whose command line contains `needle` (Linux /proc). */
function descendants(needle: string): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const ours = (pid: number): boolean => {
    const parent = parents.get(pid);
    return parent === process.pid || (parent !== undefined && parent > 1 && ours(parent));
  };
  return [...parents.keys()].filter((pid) => {
    try {
      return ours(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
    } catch {
      return false;
    }
  });
}

const podWaitingPid = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--pod-waiting');
  } catch {
    return false;
  }
};

test(
  'four pods of a slow-booting app: two boot at a time (more on idle cores), all niced by 5, standby ' +
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
      waitingSeen ||= pods.some(
        (p) => p.reason === 'waiting for a boot slot (2 pod(s) boot at once, up to 8 on idle cores)',
      );
      for (const p of spawned) {
        for (const pid of [p.pids.app, p.pids.queueProxy]) {
          if (pid === undefined) continue; // not yet told by the spawner
          try {
            niceness.set(pid, os.getPriority(pid));
            if (podWaitingPid(pid)) podWaiting.add(pid);
          } catch {
            // exited meanwhile
          }
        }
      }
      const podQueues = new Set(spawned.map((p) => p.pids.queueProxy));
      // A queue-proxy spawned for a waiting pod (--pod-waiting) is never a spare, even before its pid is known.
      const spares = descendants('queue/standby').filter((pid) => !podQueues.has(pid) && !podWaitingPid(pid));
      maxSpares = Math.max(maxSpares, spares.length);
      if (pods.length === 4 && pods.every((p) => p.phase === 'ready')) break;
      if (Date.now() > deadline)
        throw new Error(`not all ready: ${JSON.stringify(pods.map((p) => [p.phase, p.reason]))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Two at first; the app's 300 ms sleep may leave the cores idle, and the other two boot meanwhile.
    assert.ok(maxBooting >= 2 && maxBooting <= 4, `pods booting at once: ${maxBooting}`);
    assert.ok(waitingSeen, 'the others said they wait for a slot');
    assert.deepEqual(runtime.booting(), { booting: 0, waiting: 0, limit: 2, cap: 8 });
    assert.equal(niceness.size, 8, 'an app and a queue-proxy per pod');
    assert.deepEqual([...new Set(niceness.values())], [Math.min(19, own + 5)], 'every pod process niced');
    assert.equal(os.getPriority(), own, 'this process untouched');
    assert.ok(maxSpares <= 2, `standby queue-proxies at once: ${maxSpares}`);
    // Two spares were booted ahead for the first two pods; the pool refills only once no pod boots.
    assert.equal(podWaiting.size, 2, 'the last two pods got queue-proxies spawned for them, without the warm-up');
  },
);
