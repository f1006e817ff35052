// How the activator decides that a pod it has not been vouched for can take requests: Knative's
// activator probe through the pod's queue-proxy, 200 "queue" within 300 ms.
import { probeGet } from '../http/probe.js';
import type { Endpoint } from '../model/desired.js';
import { H_NETWORK_PROBE } from '../model/headers.js';

const PROBE_TIMEOUT_MS = 300;
/** Between probes of a pod that did not answer yet. */
export const DEFAULT_PROBE_INTERVAL_MS = 200;

export async function probePod(e: Endpoint): Promise<boolean> {
  const answer = await probeGet(
    e,
    { 'user-agent': 'Knative-Activator-Probe', [H_NETWORK_PROBE]: 'queue' },
    PROBE_TIMEOUT_MS,
  );
  return answer?.status === 200 && answer.body === 'queue';
}
