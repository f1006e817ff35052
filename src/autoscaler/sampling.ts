// How many pods to scrape, and how to turn a sample into revision-wide numbers, as Knative does:
// n = N·X / (N + X − 1) with X = 1.96² · 100 / 5² (95 % confidence, margin of error 5, variance
// 100), all pods when N ≤ 3; the sample's sums are scaled by N / n.
import type { Stat } from '../model/stat.js';

const UNBOUNDED_SAMPLE = (1.96 * 1.96 * 100) / (5 * 5);

export function sampleSize(population: number): number {
  if (population <= 3) return Math.max(population, 0);
  return Math.ceil((population * UNBOUNDED_SAMPLE) / (population + UNBOUNDED_SAMPLE - 1));
}

/** Revision-wide stat from a sample of `sampled` pods out of `population`. */
export function extrapolate(sample: Stat[], population: number): Stat {
  const scale = sample.length === 0 ? 0 : population / sample.length;
  const sum = (pick: (s: Stat) => number) => sample.reduce((acc, s) => acc + pick(s), 0) * scale;
  return {
    podName: 'service-scraper',
    averageConcurrentRequests: sum((s) => s.averageConcurrentRequests),
    averageProxiedConcurrentRequests: sum((s) => s.averageProxiedConcurrentRequests),
    requestCount: sum((s) => s.requestCount),
    proxiedRequestCount: sum((s) => s.proxiedRequestCount),
    processUptime: sample.length === 0 ? 0 : sample.reduce((acc, s) => acc + s.processUptime, 0) / sample.length,
    timestamp: Math.max(0, ...sample.map((s) => s.timestamp)),
  };
}

/** Picks `count` distinct items at random (partial Fisher–Yates); `random` is injectable for tests. */
export function pickSample<T>(items: readonly T[], count: number, random: () => number = Math.random): T[] {
  const copy = [...items];
  const n = Math.min(count, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}
