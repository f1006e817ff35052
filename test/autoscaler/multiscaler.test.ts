// The multiscaler with an injected clock, fake pods and fake activator pushes: what it decides
// when metrics are missing, when requests wait at an activator, and for a burst at zero. Every
// expected count is worked out by hand from Knative's formulas in the comment beside it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log/logger.js';
import { Multiscaler } from '../../src/autoscaler/multiscaler.js';
import type { ScrapeResult } from '../../src/autoscaler/scraper.js';
import { deciderSpecFor, KNATIVE_DEFAULTS, type DeciderSpec } from '../../src/model/autoscaling.js';
import { zeroStat, type Stat } from '../../src/model/stat.js';
import type { Endpoint } from '../../src/model/desired.js';

const KEY = 'default/burst-00001';
const stat = (over: Partial<Stat>): Stat => ({ ...zeroStat('queue'), ...over });

/** A multiscaler whose clock, ready pods and scrape answers the test sets; its own timers never fire. */
function harness(spec: DeciderSpec) {
  const h = {
    now: 1_000_000,
    ready: [] as Endpoint[],
    scrape: (): ScrapeResult => ({
      stat: undefined,
      scraped: 0,
      failed: [{ endpoint: 'http://127.0.0.1:1/metrics', error: 'connect ECONNREFUSED' }],
    }),
    scaled: [] as number[],
  };
  const m = new Multiscaler({
    tickMs: 2 ** 30,
    scrapeMs: 2 ** 30,
    now: () => h.now,
    log: createLogger('test'),
    scaler: { scale: (_key, n) => void h.scaled.push(n), readyMetricsEndpoints: () => h.ready },
    modeSwitch: { setMode: async () => ({ confirmed: true }) },
    scrape: async () => h.scrape(),
  });
  m.watch(KEY, spec);
  const pods = (n: number) =>
    (h.ready = Array.from({ length: n }, (_, i) => ({ host: '127.0.0.1', port: 10_000 + i })));
  /** One second on: a scrape, then a decision. */
  const second = async () => {
    h.now += 1000;
    await m.collect(KEY);
    await m.tick(KEY);
    return m.status()[0]!;
  };
  return { h, m, pods, second };
}

// target 1 at 100 % utilisation (target value 1), 6 s stable window (panic 600 ms), grace 0.
const spec = (annotations: Record<string, string> = {}) => ({
  ...deciderSpecFor(
    {
      'autoscaling.knative.dev/target': '1',
      'autoscaling.knative.dev/target-utilization-percentage': '100',
      'autoscaling.knative.dev/window': '6s',
      ...annotations,
    },
    1,
  ),
  scaleToZeroGracePeriodMs: 0,
});

test('a scrape that fails is not zero demand: the scale stays until data comes back', async (t) => {
  const { h, m, pods, second } = harness(spec());
  t.after(() => m.close());
  pods(2);
  h.scrape = () => ({ stat: stat({ averageConcurrentRequests: 2 }), scraped: 2, failed: [] });
  // ceil(2 / 1) = 2; 2 / 2 pods < 200 % → no panic
  assert.equal((await second()).desiredPods, 2);
  h.scrape = () => ({
    stat: undefined,
    scraped: 0,
    failed: [{ endpoint: 'http://127.0.0.1:10000/metrics', error: 'timeout' }],
  });
  // Less than 6 s after the last data, the windows average what they have (a trailing gap is not
  // counted): stable 2 → 2 pods.
  for (let i = 0; i < 5; i++) assert.equal((await second()).desiredPods, 2, `second ${i + 1}`);
  // 6 s: the stable window is empty. Knative: no data → no decision → 2 pods stay.
  const asked = h.scaled.length;
  const s = await second();
  assert.equal(s.desiredPods, 2);
  assert.equal(s.reason, 'keeping 2: no metrics in the last 6 s (no pod answered the scrape (timeout))');
  assert.equal(h.scaled.length, asked, 'nothing asked of the runtime without data');
  // Data again, at rest: ceil(0/1) = 0 but max scale-down rate 2 → floor(2/2) = 1.
  h.scrape = () => ({ stat: stat({}), scraped: 2, failed: [] });
  assert.equal((await second()).desiredPods, 1);
});

test('activators that go quiet mid-burst (pods still booting) do not read as zero demand', async (t) => {
  const { h, m, second } = harness(spec({ 'autoscaling.knative.dev/initial-scale': '1' }));
  t.after(() => m.close());
  // The revision was at zero; 20 requests arrive at two activators, which push 10 each.
  h.scaled.length = 0;
  m.recordActivatorStat(KEY, stat({ podName: 'activator-0', averageConcurrentRequests: 10, requestCount: 10 }));
  m.recordActivatorStat(KEY, stat({ podName: 'activator-1', averageConcurrentRequests: 10, requestCount: 10 }));
  // ceil(20 / 1) = 20 pods, within max scale-up ceil(1000 × max(1, 0 ready)) = 1000; 20 / 1 ≥ 200 %: panic.
  await m.tick(KEY);
  let s = m.status()[0]!;
  assert.deepEqual([s.desiredPods, s.panicking, s.heldAtActivators], [20, true, 20]);
  // The activators are starved and push nothing more; no pod is ready yet. For 5 s the stable
  // window still holds the burst; at 6 s it is empty: still 20, not "wants 0".
  for (let i = 0; i < 5; i++) assert.equal((await second()).desiredPods, 20);
  s = await second();
  assert.equal(s.desiredPods, 20);
  assert.equal(s.reason, 'keeping 20: no metrics in the last 6 s (no ready pod to scrape and no activator stat)');
  assert.ok(!h.scaled.includes(0), `scaled: ${h.scaled.join(' ')}`);
});

test('requests held at an activator keep a pod even when the metric (rps) says no demand', async (t) => {
  const { h, m, pods, second } = harness(spec({ 'autoscaling.knative.dev/metric': 'rps' }));
  t.after(() => m.close());
  pods(1);
  h.scrape = () => ({ stat: stat({}), scraped: 1, failed: [] });
  // Requests that arrived long ago still wait (the pod does not answer them): the activator
  // reports 3 held, but no new request, so the rps windows average 0 → decider wants 0.
  for (let i = 0; i < 3; i++) {
    m.recordActivatorStat(KEY, stat({ podName: 'activator-0', averageConcurrentRequests: 3, requestCount: 0 }));
    const s = await second();
    assert.deepEqual(
      [s.desiredPods, s.heldAtActivators, s.reason],
      [1, 3, 'not scaling to zero: the activators hold 3 request(s)'],
    );
  }
  // Once the activator's pushes are older than 3 s they no longer hold anything: to zero.
  for (let i = 0; i < 3; i++) await second();
  const s = await second();
  assert.deepEqual([s.desiredPods, s.heldAtActivators], [0, 0]);
});

test(
  'demand at zero is decided at once; a burst of 20 ' + 'asks for ceil(20 / (1 × 0.7)) = 29 pods, not more',
  async (t) => {
    // Knative's defaults for CC=1 with target 1: target value 1 × 70 % = 0.7.
    const { h, m, second } = harness({
      ...deciderSpecFor(
        {
          'autoscaling.knative.dev/target': '1',
          'autoscaling.knative.dev/window': '6s',
          'autoscaling.knative.dev/initial-scale': '0',
        },
        1,
        { ...KNATIVE_DEFAULTS, allowZeroInitialScale: true },
      ),
      scaleToZeroGracePeriodMs: 0,
    });
    t.after(() => m.close());
    assert.deepEqual(h.scaled, [0]);
    // The first request at each activator: Knative's immediate push of concurrency 1.
    m.recordActivatorStat(KEY, stat({ podName: 'activator-0', averageConcurrentRequests: 1, requestCount: 1 }));
    await new Promise((r) => setImmediate(r));
    // Poked: ceil(1 / 0.7) = 2 pods without waiting for a tick.
    assert.deepEqual(h.scaled, [0, 2]);
    m.recordActivatorStat(KEY, stat({ podName: 'activator-1', averageConcurrentRequests: 1, requestCount: 1 }));
    // Their periodic reports in the same second: 10 held each, less the 1 already pushed.
    m.recordActivatorStat(KEY, stat({ podName: 'activator-0', averageConcurrentRequests: 9, requestCount: 9 }));
    m.recordActivatorStat(KEY, stat({ podName: 'activator-1', averageConcurrentRequests: 9, requestCount: 9 }));
    await m.tick(KEY);
    // Bucket total 1 + 1 + 9 + 9 = 20 → ceil(20 / 0.7) = ceil(28.57) = 29.
    assert.equal(m.status()[0]!.desiredPods, 29);
    h.now += 1000;
    assert.equal((await second()).desiredPods, 29, 'panicking: never down');
  },
);

test(
  'pushes that queued up while the autoscaler was busy ' + 'count in the seconds they were sent, not summed into one',
  async (t) => {
    const { h, m } = harness(spec({ 'autoscaling.knative.dev/initial-scale': '1' }));
    t.after(() => m.close());
    // Two activators held 10 requests each for the last 4 s; their 8 pushes are read at once.
    const nowSeconds = Math.floor(h.now / 1000);
    for (let ago = 3; ago >= 0; ago--) {
      for (const podName of ['activator-0', 'activator-1'])
        m.recordActivatorStat(KEY, stat({ podName, averageConcurrentRequests: 10, timestamp: nowSeconds - ago }));
    }
    await m.tick(KEY);
    const s = m.status()[0]!;
    // Each second holds 10 + 10 = 20: stable 80 / 4 buckets = 20, panic (this second) 20 → ceil(20 / 1) = 20.
    // Read as arrivals, all 8 would sum into this second: 80 pods.
    assert.deepEqual([s.stable, s.panic, s.desiredPods, s.heldAtActivators], [20, 20, 20, 20]);
    // A timestamp from the future (another machine's clock) or older than the window: arrival time.
    m.recordActivatorStat(
      KEY,
      stat({ podName: 'activator-2', averageConcurrentRequests: 5, timestamp: nowSeconds + 60 }),
    );
    m.recordActivatorStat(
      KEY,
      stat({ podName: 'activator-3', averageConcurrentRequests: 5, timestamp: nowSeconds - 60 }),
    );
    await m.tick(KEY);
    assert.equal(m.status()[0]!.panic, 30);
  },
);

test('a push that asks for more pods than the revision has is decided at once, not at the next tick', async (t) => {
  const { h, m, pods, second } = harness(spec({ 'autoscaling.knative.dev/initial-scale': '1' }));
  t.after(() => m.close());
  pods(1);
  h.scrape = () => ({ stat: stat({ averageConcurrentRequests: 1 }), scraped: 1, failed: [] });
  // ceil(1 / 1) = 1
  assert.equal((await second()).desiredPods, 1);
  h.now += 1000;
  const asked = h.scaled.length;
  // 10 held at an activator: ceil(10 / 1) = 10 > 1 pod. No tick is called here; the push decides.
  m.recordActivatorStat(KEY, stat({ podName: 'activator-0', averageConcurrentRequests: 10, requestCount: 10 }));
  // Panic window (600 ms, this second's bucket) 10 → ceil(10 / 1) = 10; 10 / 1 pod ≥ 200 % → panic.
  for (let turn = 0; turn < 100 && h.scaled.length === asked; turn++) await new Promise((r) => setImmediate(r));
  assert.equal(h.scaled.at(-1), 10, 'the push itself started a step');
  assert.equal(m.status()[0]!.desiredPods, 10);
  // A push the current scale already serves decides nothing before the tick.
  const before = h.scaled.length;
  m.recordActivatorStat(KEY, stat({ podName: 'activator-0', averageConcurrentRequests: 3, requestCount: 3 }));
  await new Promise((r) => setImmediate(r));
  assert.equal(h.scaled.length, before);
});
