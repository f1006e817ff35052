// The status page's history: pods over time, scale decisions as they change, pod starts timed
// from the runtime's events, and request rate and mean latency from the queue-proxies' stats.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PodStatus } from '../../src/runtime/index.js';
import { History, parsePodLoad, trafficSample } from '../../src/up/history.js';
import type { UpStatus } from '../../src/up/status.js';

function revisions(
  list: Array<{ name: string; ready: number; desired: number; reason: string }>,
): UpStatus['revisions'] {
  return list.map((r) => ({
    namespace: 'default',
    name: r.name,
    ready: true,
    mode: 'proxy',
    pods: { ready: r.ready, desired: r.desired, starting: 0, draining: 0 },
    scaleReason: r.reason,
    podList: [],
  }));
}

function pod(name: string, phase: PodStatus['phase']): PodStatus {
  return {
    name,
    revision: 'r',
    phase,
    serving: undefined,
    metrics: undefined,
    restarts: 0,
    lastFailure: undefined,
    reason: undefined,
    pids: { app: undefined, queueProxy: undefined },
  };
}

test(
  'samples keep pods per revision; a scale event only when ' + 'the desired pods change; gone revisions are dropped',
  () => {
    const h = new History(3);
    h.sample(revisions([{ name: 'a-1', ready: 0, desired: 1, reason: 'initial scale 1' }]), 1000);
    h.sample(revisions([{ name: 'a-1', ready: 1, desired: 1, reason: 'initial scale 1' }]), 2000);
    h.sample(revisions([{ name: 'a-1', ready: 1, desired: 3, reason: 'panic: 5.2 requests for 1 pod' }]), 3000);
    h.sample(revisions([{ name: 'a-1', ready: 3, desired: 3, reason: 'stable' }]), 4000);
    const s = h.snapshot();
    assert.deepEqual(s.pods['default/a-1'], [
      { t: 2000, ready: 1, desired: 1 },
      { t: 3000, ready: 1, desired: 3 },
      { t: 4000, ready: 3, desired: 3 },
    ]);
    assert.deepEqual(s.scaleEvents, [
      { t: 1000, revision: 'default/a-1', from: 0, to: 1, reason: 'initial scale 1' },
      { t: 3000, revision: 'default/a-1', from: 1, to: 3, reason: 'panic: 5.2 requests for 1 pod' },
    ]);
    h.sample(revisions([]), 5000);
    assert.deepEqual(h.snapshot().pods, {});
  },
);

test('pod starts: from first seen starting to ready; from zero only when no pod of the revision was ready', () => {
  const h = new History();
  h.podsChanged('default/a-1', [pod('p1', 'starting')], 100);
  h.podsChanged('default/a-1', [pod('p1', 'ready')], 350);
  h.podsChanged('default/a-1', [pod('p1', 'ready'), pod('p2', 'starting')], 1000);
  h.podsChanged('default/a-1', [pod('p1', 'ready'), pod('p2', 'ready')], 1180);
  h.podsChanged('default/a-1', [pod('p1', 'ready'), pod('p2', 'ready')], 2000); // no change: nothing new
  assert.deepEqual(h.snapshot().podStarts, [
    { t: 350, revision: 'default/a-1', pod: 'p1', ms: 250, fromZero: true },
    { t: 1180, revision: 'default/a-1', pod: 'p2', ms: 180, fromZero: false },
  ]);
});

test('traffic: rates add up over pods; mean latency is concurrency ÷ rate (Little)', () => {
  assert.deepEqual(
    trafficSample(
      [
        { requestsPerSecond: 40, averageConcurrency: 1 },
        { requestsPerSecond: 60, averageConcurrency: 1.5 },
      ],
      7,
    ),
    { t: 7, rps: 100, meanLatencyMs: 25 },
  );
  assert.deepEqual(trafficSample([], 7), { t: 7, rps: 0, meanLatencyMs: undefined });
});

test("parsePodLoad reads the queue-proxy's Prometheus text", () => {
  const text = [
    '# HELP queue_average_concurrent_requests Average number of requests in flight',
    '# TYPE queue_average_concurrent_requests gauge',
    'queue_average_concurrent_requests{namespace_name="default",pod_name="p"} 0.75',
    'queue_average_proxied_concurrent_requests{namespace_name="default",pod_name="p"} 0.5',
    'queue_requests_per_second{namespace_name="default",pod_name="p"} 30',
  ].join('\n');
  assert.deepEqual(parsePodLoad(text), { requestsPerSecond: 30, averageConcurrency: 0.75 });
  assert.equal(parsePodLoad('not prometheus'), undefined);
});
