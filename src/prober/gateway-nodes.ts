// Which xDS nodes count as gateways for rollout confirmation: the prober waits until each of them
// serves a route's hash, so a node counts only when it is trusted to be one. The embedded gateway
// is probed directly and is not among them. Another node of the ingress role counts while
// connected and when either
//   - it is named by the operator (`gatehouse up --gateway-node envoy-1`), or
//   - no names are given and the xDS server runs mutual TLS: its certificate vouches for it.
// Without TLS and without names, any local process could claim to be a gateway and hold every
// route back, so unnamed ingress nodes get their configuration but are not waited on.
import { nodeRole } from '../envoy/node-role.js';
import { TYPE_URL } from '../envoy/protos.js';

export interface GatewayPolicy {
  mutualTls: boolean;
  /** Node ids the operator named as gateways; empty = decide by mutualTls. */
  named: ReadonlySet<string>;
  /** The embedded gateway's node id. */
  embeddedId: string;
}

export interface ConnectedNode {
  id: string;
  cluster: string;
  connectedStreams: number;
}

export type GatewayVerdict = 'counted' | 'unnamed' | 'not-a-gateway';

export function gatewayVerdict(node: ConnectedNode, policy: GatewayPolicy): GatewayVerdict {
  if (node.id === policy.embeddedId || node.connectedStreams === 0 || nodeRole(node) !== 'ingress')
    return 'not-a-gateway';
  if (policy.named.size > 0) return policy.named.has(node.id) ? 'counted' : 'unnamed';
  return policy.mutualTls ? 'counted' : 'unnamed';
}

/**
 * The resource types a gateway serves a route with. A probe can fail for want of any of them (a new
 * host's scope, its route, its listener, the cluster and endpoints behind it), so an ACK of any of
 * them is worth probing again for, not only a route's.
 */
export const SERVING_TYPES: ReadonlySet<string> = new Set([
  TYPE_URL.listener,
  TYPE_URL.scopedRoute,
  TYPE_URL.route,
  TYPE_URL.cluster,
  TYPE_URL.endpoint,
]);
