// KIngress status as Knative's ingress implementations write it (knative.dev/networking
// ingress_lifecycle.go): NetworkConfigured and LoadBalancerReady, and Ready derived from both
// (a living condition set: False if either is False, True if both are True, else Unknown).
// Pure: the previous status keeps each condition's lastTransitionTime while its status holds.
import { canonicalJson } from '../translate/canonical.js';
import type { Condition, KIngressStatus, LoadBalancerIngressStatus } from './types.js';

export type Configured = { ok: true } | { ok: false; reason: string; message: string };
export type LoadBalancer = { ready: true } | { ready: false; reason: string; message: string };

export interface StatusInput {
  generation: number;
  configured: Configured;
  loadBalancer: LoadBalancer;
  publicLoadBalancer: LoadBalancerIngressStatus[];
  privateLoadBalancer: LoadBalancerIngressStatus[];
  now: string;
}

export const NOT_PROBED: LoadBalancer = {
  ready: false,
  reason: 'Uninitialized',
  message: 'Waiting for load balancer to be ready',
};

export function ingressStatus(previous: KIngressStatus | undefined, input: StatusInput): KIngressStatus {
  const networkConfigured: Condition = input.configured.ok
    ? { type: 'NetworkConfigured', status: 'True' }
    : {
        type: 'NetworkConfigured',
        status: 'False',
        reason: input.configured.reason,
        message: input.configured.message,
      };
  // An ingress that is not configured is not probed either.
  const lb: LoadBalancer = input.configured.ok ? input.loadBalancer : NOT_PROBED;
  const loadBalancerReady: Condition = lb.ready
    ? { type: 'LoadBalancerReady', status: 'True' }
    : { type: 'LoadBalancerReady', status: 'Unknown', reason: lb.reason, message: lb.message };
  const dependents = [networkConfigured, loadBalancerReady];
  const failed = dependents.find((c) => c.status === 'False');
  const unknown = dependents.find((c) => c.status === 'Unknown');
  const ready: Condition = failed
    ? { type: 'Ready', status: 'False', reason: failed.reason, message: failed.message }
    : unknown
      ? { type: 'Ready', status: 'Unknown', reason: unknown.reason, message: unknown.message }
      : { type: 'Ready', status: 'True' };
  // Knative keeps conditions sorted by type.
  const conditions = [loadBalancerReady, networkConfigured, ready].map((c) => {
    const before = previous?.conditions?.find((p) => p.type === c.type);
    return { ...c, lastTransitionTime: before && before.status === c.status ? before.lastTransitionTime : input.now };
  });
  const status: KIngressStatus = { ...previous, observedGeneration: input.generation, conditions };
  if (lb.ready && input.configured.ok) {
    status.publicLoadBalancer = { ingress: input.publicLoadBalancer };
    status.privateLoadBalancer = { ingress: input.privateLoadBalancer };
  }
  return status;
}

/** Equal apart from lastTransitionTime: nothing worth writing. */
export function sameStatus(a: KIngressStatus | undefined, b: KIngressStatus): boolean {
  const strip = (s: KIngressStatus | undefined) =>
    canonicalJson({ ...s, conditions: (s?.conditions ?? []).map(({ lastTransitionTime: _t, ...c }) => c) });
  return strip(a) === strip(b);
}

/** `{service}.{namespace}.svc.cluster.local`, as Knative writes domainInternal. */
export function serviceDomain(
  namespace: string,
  name: string,
  clusterDomain = 'cluster.local',
): LoadBalancerIngressStatus {
  return { domainInternal: `${name}.${namespace}.svc.${clusterDomain}` };
}
