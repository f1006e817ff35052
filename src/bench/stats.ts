// Per-request samples reduced to what the benchmark prints: overall percentiles and one row per
// second. Pure.

export interface Sample {
  /** ms since the run started, when the response ended */
  at: number;
  latencyMs: number;
  ok: boolean;
}

export interface Summary {
  requests: number;
  failed: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface SecondRow {
  second: number;
  requests: number;
  failed: number;
  p50: number;
  p99: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: readonly Sample[], durationMs: number): Summary {
  const latencies = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  return {
    requests: samples.length,
    failed: samples.filter((s) => !s.ok).length,
    rps: durationMs > 0 ? samples.length / (durationMs / 1000) : 0,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
  };
}

export function perSecond(samples: readonly Sample[]): SecondRow[] {
  const buckets = new Map<number, Sample[]>();
  for (const s of samples) {
    const second = Math.floor(s.at / 1000);
    let b = buckets.get(second);
    if (!b) buckets.set(second, (b = []));
    b.push(s);
  }
  const last = Math.max(-1, ...buckets.keys());
  const rows: SecondRow[] = [];
  for (let second = 0; second <= last; second++) {
    const b = buckets.get(second) ?? [];
    const latencies = b.map((s) => s.latencyMs).sort((x, y) => x - y);
    rows.push({
      second,
      requests: b.length,
      failed: b.filter((s) => !s.ok).length,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    });
  }
  return rows;
}
