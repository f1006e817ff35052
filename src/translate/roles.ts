// Which role receives each resource a translation makes (src/envoy/node-role.ts names the roles):
// gateways get the ingress listeners, scopes, route configurations and the public clusters with
// their assignments; activators the private clusters and theirs; proxyless gRPC clients the
// api_listeners, the route configurations of external routes (which they name) and the public clusters.
import { LISTENER_EXTERNAL, LISTENER_EXTERNAL_TLS, LISTENER_LOCAL, PRIVATE_CLUSTER_SUFFIX } from '../model/names.js';
import { NODE_ROLES, type NodeRole } from '../envoy/node-role.js';
import { TYPE_URL } from '../envoy/protos.js';
import { noResources, resourceName, type EnvoyResources } from '../envoy/resource.js';

export type ResourceKind = 'clusters' | 'endpoints' | 'listeners' | 'scopedRoutes' | 'routes';

/** Push order, as SnapshotCache.setTranslation: CDS → EDS → LDS → SRDS → RDS. */
export const KINDS: ReadonlyArray<readonly [ResourceKind, string]> = [
  ['clusters', TYPE_URL.cluster],
  ['endpoints', TYPE_URL.endpoint],
  ['listeners', TYPE_URL.listener],
  ['scopedRoutes', TYPE_URL.scopedRoute],
  ['routes', TYPE_URL.route],
];

const INGRESS: readonly NodeRole[] = ['ingress'];
const ACTIVATOR: readonly NodeRole[] = ['activator'];
const PROXYLESS: readonly NodeRole[] = ['proxyless'];
const PUBLIC: readonly NodeRole[] = ['ingress', 'proxyless'];

const LOCAL_ROUTES = `${LISTENER_LOCAL}/`;

/** The roles that receive the resource `name` of `kind`; names alone decide, so removals classify too. */
export function rolesOf(kind: ResourceKind, name: string): readonly NodeRole[] {
  switch (kind) {
    case 'clusters':
    case 'endpoints':
      return name.endsWith(PRIVATE_CLUSTER_SUFFIX) ? ACTIVATOR : PUBLIC;
    case 'listeners':
      return name === LISTENER_EXTERNAL || name === LISTENER_LOCAL || name === LISTENER_EXTERNAL_TLS
        ? INGRESS
        : PROXYLESS;
    case 'scopedRoutes':
      return INGRESS;
    case 'routes':
      // api_listeners name a route's configuration (or the external listener's); only the cluster-local
      // listener's are of no use to them.
      return name === LISTENER_LOCAL || name.startsWith(LOCAL_ROUTES) ? INGRESS : PUBLIC;
  }
}

/**
 * Each role's share of a whole translation: what a snapshot cache grouping by role holds per group
 * (`for (const [role, share] of splitByRole(t)) cache.setTranslation(share, role)`).
 */
export function splitByRole(resources: EnvoyResources): Map<NodeRole, EnvoyResources> {
  const split = new Map<NodeRole, EnvoyResources>(NODE_ROLES.map((role) => [role, noResources()]));
  for (const [kind] of KINDS)
    for (const r of resources[kind]) for (const role of rolesOf(kind, resourceName(r))) split.get(role)![kind].push(r);
  return split;
}
