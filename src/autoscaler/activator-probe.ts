// Before a revision goes to zero, its public endpoints must really reach the activator: probe each
// with `K-Network-Probe: activator` and expect 200 "activator", as Knative's scaler does.
import { H_NETWORK_PROBE, UA_AUTOSCALING_PROBE } from '../model/headers.js';
import type { Endpoint } from '../model/desired.js';

export type ProbeHttp = (
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
) => Promise<{ status: number; body: string }>;

export const fetchProbe: ProbeHttp = async (url, headers, timeoutMs) => {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
};

/** Resolves to undefined when every endpoint is the activator, else to the first reason it is not. */
export async function confirmActivatorInPath(
  endpoints: readonly Endpoint[],
  http: ProbeHttp = fetchProbe,
  timeoutMs = 1000,
): Promise<string | undefined> {
  if (endpoints.length === 0) return 'the revision has no public endpoints to probe';
  for (const e of endpoints) {
    const url = `http://${e.host}:${e.port}/healthz`;
    try {
      const res = await http(url, { [H_NETWORK_PROBE]: 'activator', 'user-agent': UA_AUTOSCALING_PROBE }, timeoutMs);
      if (res.status !== 200 || res.body.trim() !== 'activator')
        return `${url} answered ${res.status} "${res.body.trim().slice(0, 60)}", not the activator`;
    } catch (err) {
      return `${url} did not answer: ${(err as Error).message}`;
    }
  }
  return undefined;
}
