// Scrapes a sample of a revision's ready pods: each queue-proxy's metrics port answers Knative's
// Stat protobuf for `Accept: application/protobuf`. Failed pods are left out of the sample.
import type { Endpoint } from '../model/desired.js';
import { extrapolate, pickSample, sampleSize } from './sampling.js';
import type { Stat } from '../model/stat.js';
import { decodeStat } from '../stats/wire.js';

export type FetchBytes = (url: string, timeoutMs: number) => Promise<Uint8Array>;

export const fetchStatBytes: FetchBytes = async (url, timeoutMs) => {
  const res = await fetch(url, { headers: { accept: 'application/protobuf' }, signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
};

export interface ScrapeResult {
  stat: Stat | undefined;
  scraped: number;
  failed: Array<{ endpoint: string; error: string }>;
}

/** `metricsEndpoints` are the ready pods' queue-proxy metrics ports. */
export async function scrapeRevision(
  metricsEndpoints: readonly Endpoint[],
  fetchBytes: FetchBytes = fetchStatBytes,
  timeoutMs = 1000,
): Promise<ScrapeResult> {
  const population = metricsEndpoints.length;
  const sample = pickSample(metricsEndpoints, sampleSize(population));
  const failed: ScrapeResult['failed'] = [];
  const stats: Stat[] = [];
  await Promise.all(
    sample.map(async (e) => {
      const url = `http://${e.host}:${e.port}/metrics`;
      try {
        stats.push(decodeStat(await fetchBytes(url, timeoutMs)));
      } catch (err) {
        failed.push({ endpoint: url, error: (err as Error).message });
      }
    }),
  );
  return { stat: stats.length > 0 ? extrapolate(stats, population) : undefined, scraped: stats.length, failed };
}
