// What an xDS node is, from its node.cluster: an ingress gateway (Envoy or the embedded gateway),
// an activator, or anything else (proxyless gRPC clients and tools). One function, so the snapshot
// per role, the prober's list of gateways and the TLS identity rule agree on it.

/** node.cluster of ingress gateways: the embedded gateway's default and envoy/bootstrap.yaml's. */
export const GATEWAY_NODE_CLUSTER = 'gatehouse-ingress';
/** node.cluster the activators announce. */
export const ACTIVATOR_NODE_CLUSTER = 'gatehouse-activators';

export type NodeRole = 'ingress' | 'activator' | 'proxyless';

export function nodeRole(node: { cluster: string }): NodeRole {
  if (node.cluster === GATEWAY_NODE_CLUSTER) return 'ingress';
  if (node.cluster === ACTIVATOR_NODE_CLUSTER) return 'activator';
  return 'proxyless';
}

export const NODE_ROLES: readonly NodeRole[] = ['ingress', 'activator', 'proxyless'];
