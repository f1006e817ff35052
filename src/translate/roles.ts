// Which role receives each resource a translation makes (src/xds/node-role.ts names the roles):
// gateways get the ingress listeners, scopes, route configurations and the public clusters with
// their assignments; activators the private clusters and theirs; proxyless gRPC clients the
// api_listeners, the external route configurations they name and the public clusters.
import { LISTENER_EXTERNAL, LISTENER_EXTERNAL_TLS, LISTENER_LOCAL, PRIVATE_CLUSTER_SUFFIX } from '../model/names.js';
import type { NodeRole } from '../xds/node-role.js';
import { NODE_ROLES } from '../xds/node-role.js';
import type { SnapshotCache } from '../xds/cache/snapshot-cache.js';
import { TYPE_URL } from '../xds/protos.js';
import type { EnvoyResource, Translation } from './types.js';

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

const EXTERNAL_ROUTES = `${LISTENER_EXTERNAL}/`;

/** The roles that receive the resource `name` of `kind`; names alone decide, so removals classify too. */
export function rolesOf(kind: ResourceKind, name: string): readonly NodeRole[] {
  switch (kind) {
    case 'clusters':
    case 'endpoints':
      return name.endsWith(PRIVATE_CLUSTER_SUFFIX) ? ACTIVATOR : PUBLIC;
    case 'listeners':
      return name === LISTENER_EXTERNAL || name === LISTENER_LOCAL || name === LISTENER_EXTERNAL_TLS ? INGRESS : PROXYLESS;
    case 'scopedRoutes':
      return INGRESS;
    case 'routes':
      // api_listeners name the external route configurations (or the external listener's one).
      return name === LISTENER_EXTERNAL || name.startsWith(EXTERNAL_ROUTES) ? PUBLIC : INGRESS;
  }
}

export const resourceName = (r: EnvoyResource): string => (r.name ?? r.cluster_name) as string;

/** Sets each role's snapshot (the cache's groups when it groups by role) from a whole translation. */
export function setTranslationByRole(cache: SnapshotCache, translation: Pick<Translation, ResourceKind>): void {
  const split = new Map<NodeRole, Map<ResourceKind, EnvoyResource[]>>(NODE_ROLES.map((role) => [role, new Map(KINDS.map(([kind]) => [kind, []]))]));
  for (const [kind] of KINDS) for (const r of translation[kind]) for (const role of rolesOf(kind, resourceName(r))) split.get(role)!.get(kind)!.push(r);
  for (const [role, kinds] of split) for (const [kind, typeUrl] of KINDS) cache.setResources(typeUrl, kinds.get(kind)!, role);
}
