// `npm run bench:autoscaler`: one decision round for 1,000 revisions × 10 pods — sample each
// revision's pods (Knative picks 7 of 10), extrapolate, record into the windows, decide — measured
// over many rounds of simulated seconds. Target: a full round in ≤ 50 ms. No network: this times
// the autoscaler's own work; scraping is I/O done concurrently by the collector.
import { decide, INITIAL_STATE } from '../src/autoscaler/decider.js';
import { RevisionMetrics } from '../src/autoscaler/revision-metrics.js';
import { extrapolate, pickSample, sampleSize } from '../src/autoscaler/sampling.js';
import { deciderSpecFor } from '../src/model/autoscaling.js';
import { zeroStat } from '../src/model/stat.js';

const revisions = Number(process.env.BENCH_REVISIONS ?? 1000);
const podsPer = Number(process.env.BENCH_PODS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 120);

const spec = deciderSpecFor({}, 10);
const heapBefore = process.memoryUsage().heapUsed;
const state = Array.from({ length: revisions }, (_, i) => ({
  metrics: new RevisionMetrics(spec.stableWindowMs, spec.panicWindowMs),
  decider: INITIAL_STATE,
  pods: Array.from({ length: podsPer }, (_, p) => zeroStat(`rev${i}-pod${p}`)),
}));

const times: number[] = [];
const cpuStart = process.cpuUsage();
for (let round = 0; round < rounds; round++) {
  const now = round * 1000;
  // New per-pod stats arrive each second (a varying load so the decider does real work).
  for (const [i, r] of state.entries())
    for (const pod of r.pods) pod.averageConcurrentRequests = ((i + round) % 17) * 0.9;
  const t0 = process.hrtime.bigint();
  for (const r of state) {
    const sample = pickSample(r.pods, sampleSize(r.pods.length));
    r.metrics.record(now, extrapolate(sample, r.pods.length));
    const observed = r.metrics.stableAndPanic('concurrency', now);
    r.decider = decide(spec, { readyPods: r.pods.length, ...observed }, r.decider, now).state;
  }
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const cpu = process.cpuUsage(cpuStart);
times.sort((a, b) => a - b);
const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
const heap = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
process.stdout.write(
  `${revisions} revisions × ${podsPer} pods, ${rounds} rounds: round p50 ${pct(0.5).toFixed(2)} ` +
    `ms, p99 ${pct(0.99).toFixed(2)} ms, max ${times[times.length - 1]!.toFixed(2)} ms ` +
    `(target ≤ 50 ms: ${pct(0.99) <= 50 ? 'met' : 'missed'}); CPU ` +
    `${((cpu.user + cpu.system) / 1000 / rounds).toFixed(2)} ms per round; ` +
    `heap for the state ${heap.toFixed(1)} MiB, rss ${(process.memoryUsage().rss / 1024 / 1024).toFixed(1)} MiB\n`,
);
