// ClusterLoadAssignments: the public one follows the revision's mode, the private one is always
// the pods. Switching proxy ↔ serve changes only the public assignment.
import type { Endpoint, RevisionRouting } from '../model/desired.js';
import { privateClusterName, revisionClusterName } from '../model/names.js';
import type { EnvoyResource } from '../envoy/resource.js';

export function assignment(clusterName: string, endpoints: Endpoint[]): EnvoyResource {
  return {
    cluster_name: clusterName,
    endpoints:
      endpoints.length === 0
        ? []
        : [
            {
              // gRPC needs a locality, and ignores one without a weight.
              locality: { zone: 'local' },
              load_balancing_weight: { value: 1 },
              lb_endpoints: endpoints.map((e) => ({
                endpoint: { address: { socket_address: { address: e.host, port_value: e.port } } },
                health_status: 'HEALTHY',
              })),
            },
          ],
  };
}

/**
 * Where the revision's public cluster sends: its pods in serve mode, else the activators. Serve mode without a ready
 * pod falls back to the activators, as Knative's SKS does: the gateway must never be left with nowhere to send.
 */
export function publicEndpoints(routing: RevisionRouting): Endpoint[] {
  return routing.mode === 'serve' && routing.pods.length > 0 ? routing.pods : routing.activators;
}

export function revisionAssignments(routing: RevisionRouting): EnvoyResource[] {
  const { namespace, name } = routing.spec;
  return [
    assignment(revisionClusterName(namespace, name), publicEndpoints(routing)),
    assignment(privateClusterName(namespace, name), routing.pods),
  ];
}

/** What revisionAssignments reads besides the (immutable) spec's names: equal keys, equal assignments. */
export function assignmentKey(r: RevisionRouting): string {
  const list = (endpoints: Endpoint[]) => endpoints.map((e) => `${e.host}:${e.port}`).join(',');
  return `${r.spec.namespace}/${r.spec.name}|${r.mode}|${list(r.pods)}|${list(r.activators)}`;
}
