// Subsetting and load-balancing tables; the subsetting cases are the worked examples of
// ../shared/seeds/001 (20 pods / 3 activators, 24 pods / 5 activators) and their neighbours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignSlice, pickIndices, revisionCapacity } from '../../src/activator/subsetting.js';
import { policyFor, type PodSlot } from '../../src/activator/lb-policy.js';
import { RevisionThrottler, type PodTracker, type SlotWaiter } from '../../src/activator/throttler.js';

const pods = (n: number) => Array.from({ length: n }, (_, i) => i);

test('subsetting: equal slices, remnants one each to the first activators', () => {
  const cases: Array<[string, number, number, number, number[]]> = [
    // 20 / 3 = 6 each, 2 left over (pods 18, 19) → activators 0 and 1 take one each
    ['20 pods, 3 activators, #0', 20, 3, 0, [0, 1, 2, 3, 4, 5, 18]],
    ['20 pods, 3 activators, #1', 20, 3, 1, [6, 7, 8, 9, 10, 11, 19]],
    ['20 pods, 3 activators, #2', 20, 3, 2, [12, 13, 14, 15, 16, 17]],
    // 24 / 5 = 4 each, 4 left over (pods 20–23) → activators 0–3 take one each
    ['24 pods, 5 activators, #0', 24, 5, 0, [0, 1, 2, 3, 20]],
    ['24 pods, 5 activators, #3', 24, 5, 3, [12, 13, 14, 15, 23]],
    ['24 pods, 5 activators, #4', 24, 5, 4, [16, 17, 18, 19]],
    // 5 / 2 = 2 each, pod 4 left over → activator 0
    ['5 pods, 2 activators, #0', 5, 2, 0, [0, 1, 4]],
    ['5 pods, 2 activators, #1', 5, 2, 1, [2, 3]],
    // fewer pods than activators: i mod pods
    ['3 pods, 5 activators, #3', 3, 5, 3, [0]],
    ['3 pods, 5 activators, #4', 3, 5, 4, [1]],
    ['unlisted activator takes all', 4, 2, -1, [0, 1, 2, 3]],
    ['single activator takes all', 4, 1, 0, [0, 1, 2, 3]],
  ];
  for (const [name, p, a, self, expected] of cases) assert.deepEqual(assignSlice(pods(p), self, a), expected, name);
  assert.deepEqual(pickIndices(20, 2, 3), { begin: 12, end: 18, remnants: 2 });
});

test('capacity: CC × assigned pods; unlimited for CC 0; none without pods', () => {
  assert.equal(revisionCapacity(2, 3), 6);
  assert.equal(revisionCapacity(0, 3), Infinity);
  assert.equal(revisionCapacity(5, 0), 0);
});

test('LB policy by containerConcurrency never exceeds a pod’s concurrency', () => {
  const slots = (inFlight: number[], capacity: number): Array<PodSlot & { id: number }> =>
    inFlight.map((n, id) => ({ id, inFlight: n, capacity }));
  // CC 2 → first available: pod 0 full, pod 1 has room
  assert.equal(policyFor<PodSlot & { id: number }>(2)(slots([2, 1, 0], 2))?.id, 1);
  assert.equal(policyFor(2)(slots([2, 2], 2)), undefined, 'all full → wait');
  // CC 10 → round robin skipping full pods
  const rr = policyFor<PodSlot & { id: number }>(10);
  const ring = slots([0, 10, 0], 10);
  assert.deepEqual([rr(ring)?.id, rr(ring)?.id, rr(ring)?.id], [0, 2, 0]);
  // CC 0 → the less busy of two random picks: random 0 → pod 0, then 0.99 → pod 2 (of the other two)
  const draws = [0, 0.99];
  const two = policyFor<PodSlot & { id: number }>(0, () => draws.shift()!);
  assert.equal(two(slots([5, 1, 3], 0))?.id, 2);
});

test(
  'throttler: a pod the source vouches for (healthy) takes a waiting ' +
    'request at once, unprobed; others and refused ones are probed',
  async () => {
    const probed: number[] = [];
    let answer = false;
    const throttler = new RevisionThrottler({
      containerConcurrency: 1,
      probe: async (e) => {
        probed.push(e.port);
        return answer;
      },
      probeIntervalMs: 1,
      activatorIndex: 0,
      activatorCount: 1,
    });
    const granted: number[] = [];
    const trackers: PodTracker[] = [];
    const waiter = (): SlotWaiter => ({
      grant: (pod) => {
        granted.push(pod.endpoint.port);
        trackers.push(pod);
      },
      abandon: () => assert.fail('abandoned'),
    });
    assert.equal(throttler.acquire(waiter()), 'queued');
    throttler.updatePods([{ host: '127.0.0.1', port: 1, healthy: true }]);
    // Granted within updatePods itself: no probe, no timer in between.
    assert.deepEqual(granted, [1]);
    assert.equal(throttler.probes, 0);
    // A pod without the source's word is probed and takes nothing until it answers.
    throttler.updatePods([
      { host: '127.0.0.1', port: 1, healthy: true },
      { host: '127.0.0.1', port: 2 },
    ]);
    assert.equal(throttler.acquire(waiter()), 'queued');
    const ready = new Promise<void>((resolve) => {
      const check = () => (granted.length === 2 ? resolve() : setImmediate(check));
      check();
    });
    answer = true;
    await ready;
    assert.deepEqual(granted, [1, 2]);
    assert.ok(probed.every((port) => port === 2) && probed.length >= 1);
    // The vouched pod refused a connection: out until its own probe answers.
    const before = throttler.probes;
    answer = false;
    throttler.markUnready(trackers[0]!);
    assert.equal(throttler.readyPods, 1);
    assert.equal(throttler.probes, before + 1, 'probed again at once');
    throttler.close();
  },
);
