// The KPA decider pinned to exact numbers. Each expectation is worked out by hand from Knative's
// formulas (written in the comment beside it), not taken from this code's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyScale,
  decide,
  INITIAL_STATE,
  servingMode,
  type DeciderState,
  type Observation,
} from '../../src/autoscaler/decider.js';
import { deciderSpecFor, KNATIVE_DEFAULTS, SettingsError, type DeciderSpec } from '../../src/model/autoscaling.js';
import { WindowedBuckets } from '../../src/autoscaler/buckets.js';

// Knative's defaults with containerConcurrency 0: total 100, target 100 × 0.7 = 70, TBC 211,
// panic threshold 200 %, max scale up 1000×, max scale down 2×, stable window 60 s.
const defaults = (overrides: Partial<DeciderSpec> = {}): DeciderSpec => ({ ...deciderSpecFor({}, 0), ...overrides });
const obs = (readyPods: number, stable: number, panic = stable): Observation => ({ readyPods, stable, panic });

test('single steps', () => {
  const cases: Array<{
    name: string;
    spec?: Partial<DeciderSpec>;
    o: Observation;
    pods: number;
    ebc: number;
    panic: boolean;
  }> = [
    // dspc = dppc = ceil(350/70) = 5; 5/1 ≥ 2 → panic; EBC = floor(1×100 − 211 − 350) = −461
    { name: 'burst on one pod', o: obs(1, 350), pods: 5, ebc: -461, panic: true },
    // ceil(300/70) = 5; 5/5 < 2 → calm; maxDown = floor(5/2) = 2; EBC = floor(500 − 211 − 300) = −11
    { name: 'steady five pods', o: obs(5, 300), pods: 5, ebc: -11, panic: false },
    // ceil(7/70) = 1 but maxDown = floor(10/2) = 5; EBC = floor(1000 − 211 − 7) = 782
    { name: 'scale-down rate limit', o: obs(10, 7), pods: 5, ebc: 782, panic: false },
    // rate 2 on 2 pods: maxUp = ceil(2×2) = 4; dppc = 20, 20/2 ≥ 2 → panic, but capped at 4
    {
      name: 'scale-up rate limit',
      spec: { maxScaleUpRate: 2 },
      o: obs(2, 1400),
      pods: 4,
      ebc: Math.floor(200 - 211 - 1400),
      panic: true,
    },
    // no load on one pod: ceil(0/70) = 0, maxDown = floor(1/2) = 0 → 0; EBC = floor(100 − 211) = −111
    { name: 'idle → zero', o: obs(1, 0), pods: 0, ebc: -111, panic: false },
    // from zero: ready counted as 1; ceil(1/70) = 1 → activation-scale 3 lifts it to 3
    {
      name: 'activation scale',
      spec: { activationScale: 3 },
      o: obs(0, 1),
      pods: 3,
      ebc: Math.floor(0 - 211 - 1),
      panic: false,
    },
    // activation scale does not wake an idle revision
    {
      name: 'activation scale at no load',
      spec: { activationScale: 3 },
      o: obs(0, 0),
      pods: 0,
      ebc: -211,
      panic: false,
    },
    {
      name: 'TBC −1: EBC is always −1',
      spec: { targetBurstCapacity: -1 },
      o: obs(5, 10),
      pods: 2,
      ebc: -1,
      panic: false,
    },
    { name: 'TBC 0: EBC is always 0', spec: { targetBurstCapacity: 0 }, o: obs(5, 10), pods: 2, ebc: 0, panic: false },
  ];
  for (const c of cases) {
    const { decision } = decide(defaults(c.spec), c.o, INITIAL_STATE, 1000);
    assert.deepEqual(decision, { desiredPods: c.pods, excessBurstCapacity: c.ebc, panicking: c.panic }, c.name);
  }
});

test('panic: entered over 200 %, never scales down while panicking, left after a calm stable window', () => {
  const spec = defaults();
  let state: DeciderState = INITIAL_STATE;
  const step = (at: number, o: Observation) => {
    const r = decide(spec, o, state, at);
    state = r.state;
    return [r.decision.desiredPods, r.decision.panicking];
  };
  assert.deepEqual(step(0, obs(1, 350)), [5, true]); // ceil(350/70)=5, 5/1 ≥ 2
  // 5 ready, stable 100 → ceil(1.43)=2, panic 70 → 1; maxDown 2; 1/5 < 2 but the panic began 2 s ago → hold 5
  assert.deepEqual(step(2_000, obs(5, 100, 70)), [5, true]);
  // a bigger surge while panicking raises the floor: ceil(1400/70) = 20 on 5 pods, 20/5 ≥ 2
  assert.deepEqual(step(4_000, obs(5, 100, 1400)), [20, true]);
  // calm again but within 60 s of the last over-threshold step (4 s) → hold the max, 20
  assert.deepEqual(step(60_000, obs(20, 140, 140)), [20, true]);
  // 64.001 s: more than a stable window since 4 s → leave panic; stable ceil(140/70) = 2, maxDown floor(20/2) = 10
  assert.deepEqual(step(64_001, obs(20, 140, 140)), [10, false]);
});

test('scale-down delay holds the highest recent decision for the delay', () => {
  const spec = defaults({ scaleDownDelayMs: 10_000 });
  let state: DeciderState = INITIAL_STATE;
  const step = (at: number, o: Observation) => {
    const r = decide(spec, o, state, at);
    state = r.state;
    return r.decision.desiredPods;
  };
  assert.equal(step(0, obs(5, 300)), 5); // ceil(300/70) = 5
  assert.equal(step(5_000, obs(5, 70)), 5); // wants max(1, floor(5/2)) = 2, but 5 was decided 5 s ago
  assert.equal(step(11_000, obs(5, 70)), 2); // the 5 at 0 s has left the 10 s window
});

test('serving mode: proxy at zero or with negative excess burst capacity', () => {
  assert.equal(servingMode(0, 100), 'proxy');
  assert.equal(servingMode(3, -1), 'proxy');
  assert.equal(servingMode(3, 0), 'serve');
});

test('scale to zero only after the activator is confirmed in the path for the grace period', () => {
  const spec = defaults();
  assert.deepEqual(
    applyScale(spec, 0, { proxyConfirmedAt: undefined, confirmationError: 'probe got 200 "queue"' }, 0),
    {
      pods: 1,
      reason: 'staying at 1: the activator is not confirmed in the path (probe got 200 "queue")',
    },
  );
  assert.deepEqual(applyScale(spec, 0, { proxyConfirmedAt: 1_000 }, 11_000), {
    pods: 1,
    reason: 'staying at 1 for 20 s more of the scale-to-zero grace period',
  });
  assert.deepEqual(applyScale(spec, 0, { proxyConfirmedAt: 1_000 }, 31_000), { pods: 0, reason: 'decider wants 0' });
  // already at zero (initial-scale 0): nothing to hold, confirmed or not
  assert.deepEqual(applyScale(spec, 0, { proxyConfirmedAt: undefined, atZero: true }, 0), {
    pods: 0,
    reason: 'at zero: no demand',
  });
  // retention longer than the grace period wins
  assert.equal(
    applyScale({ ...spec, scaleToZeroPodRetentionPeriodMs: 60_000 }, 0, { proxyConfirmedAt: 0 }, 31_000).pods,
    1,
  );
  assert.deepEqual(applyScale({ ...spec, enableScaleToZero: false }, 0, { proxyConfirmedAt: 0 }, 99_000), {
    pods: 1,
    reason: 'scale to zero is disabled',
  });
  assert.deepEqual(applyScale({ ...spec, minScale: 2 }, 0, { proxyConfirmedAt: 0 }, 99_000), {
    pods: 2,
    reason: 'min-scale 2',
  });
  // ...also while proxy mode is unconfirmed: nothing is being held for scale to zero
  assert.deepEqual(applyScale({ ...spec, minScale: 1 }, 0, { proxyConfirmedAt: undefined }, 0), {
    pods: 1,
    reason: 'min-scale 1',
  });
  assert.deepEqual(applyScale({ ...spec, maxScale: 3 }, 5, { proxyConfirmedAt: undefined }, 0), {
    pods: 3,
    reason: 'max-scale 3',
  });
});

test('settings resolve targets as Knative does and reject bad annotations by name', () => {
  const pick = (s: DeciderSpec) => [s.metric, s.totalValue, s.targetValue, s.panicWindowMs];
  assert.deepEqual(pick(deciderSpecFor({}, 0)), ['concurrency', 100, 70, 6000]);
  assert.deepEqual(pick(deciderSpecFor({}, 10)), ['concurrency', 10, 7, 6000]);
  // target above containerConcurrency is capped at it: min(50, 10) = 10
  assert.deepEqual(pick(deciderSpecFor({ 'autoscaling.knative.dev/target': '50' }, 10)), ['concurrency', 10, 7, 6000]);
  assert.deepEqual(
    pick(
      deciderSpecFor(
        { 'autoscaling.knative.dev/target': '1', 'autoscaling.knative.dev/target-utilization-percentage': '100' },
        1,
      ),
    ),
    ['concurrency', 1, 1, 6000],
  );
  // rps: default 200 × 0.7 = 140; window 20 s with panic 10 % = 2 s
  assert.deepEqual(
    pick(deciderSpecFor({ 'autoscaling.knative.dev/metric': 'rps', 'autoscaling.knative.dev/window': '20s' }, 0)),
    ['rps', 200, 140, 2000],
  );
  assert.throws(
    () =>
      deciderSpecFor(
        {
          'autoscaling.knative.dev/min-scale': '-1',
          'autoscaling.knative.dev/window': '2s',
          'autoscaling.knative.dev/metric': 'cpu',
        },
        0,
      ),
    (err: Error) =>
      err instanceof SettingsError &&
      err.message.includes('autoscaling.knative.dev/metric="cpu" is invalid') &&
      err.message.includes('autoscaling.knative.dev/window="2s" is invalid') &&
      err.message.includes('autoscaling.knative.dev/min-scale="-1" is invalid'),
  );
  assert.equal(KNATIVE_DEFAULTS.targetBurstCapacity, 211);
});

test('window averages over buckets that have seen data, dropping aged-out buckets', () => {
  const b = new WindowedBuckets(6_000, 1_000);
  assert.equal(b.average(0), 0);
  b.record(0, 10);
  b.record(1_500, 20);
  assert.equal(b.average(1_500), 15); // (10 + 20) / 2 buckets seen
  assert.equal(b.average(3_000), 15); // no newer writes: still 30 over the 2 buckets seen
  b.record(2_500, 6);
  assert.equal(b.average(2_500), 12); // 36 / 3
  // The 6 s window now ends at 7 s and holds buckets 2..7 s: the 10 at 0 s and the 20 at 1 s have
  // aged out, leaving 6 + 4 = 10 over the 6 buckets of the window.
  b.record(7_000, 4);
  assert.equal(b.average(7_000), 1.666667);
  assert.equal(b.average(13_000), 0); // a whole window with no writes
});
