// Which requests the queue-proxy answers itself, in Knative's order. Pure over header values.
import {
  PROBE_INGRESS,
  PROBE_QUEUE,
  UA_ACTIVATOR_PROBE,
  UA_AUTOSCALING_PROBE,
  UA_KUBE_PROBE_PREFIX,
} from '../model/headers.js';

export type ProbeKind =
  /** kubelet / activator / autoscaler health check carrying K-Network-Probe: queue. */
  | 'health'
  /** A health check without K-Network-Probe: queue → 400. */
  | 'health-bad-header'
  /** K-Network-Probe: probe with a hash → 200 echoing it. */
  | 'ingress'
  /** K-Network-Probe: probe without K-Network-Hash → 400. */
  | 'ingress-no-hash'
  /** An ordinary request for the app. */
  | 'none';

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function isHealthCheck(userAgent: string | undefined, kubeletProbe: string | undefined): boolean {
  if (kubeletProbe !== undefined) return true;
  if (userAgent === undefined) return false;
  return (
    userAgent.startsWith(UA_KUBE_PROBE_PREFIX) ||
    userAgent.startsWith(UA_ACTIVATOR_PROBE) ||
    userAgent.startsWith(UA_AUTOSCALING_PROBE)
  );
}

export function classifyProbe(
  userAgent: string | string[] | undefined,
  kubeletProbe: string | string[] | undefined,
  networkProbe: string | string[] | undefined,
  networkHash: string | string[] | undefined,
): ProbeKind {
  const probe = first(networkProbe);
  if (isHealthCheck(first(userAgent), first(kubeletProbe))) {
    return probe === PROBE_QUEUE ? 'health' : 'health-bad-header';
  }
  if (probe === PROBE_INGRESS) {
    const hash = first(networkHash);
    return hash === undefined || hash === '' ? 'ingress-no-hash' : 'ingress';
  }
  return 'none';
}
