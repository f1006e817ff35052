// translate: desired state → Envoy resources and one hash per route. Pure; one module per kind.
import type { DesiredState } from '../model/desired.js';
import { ROUTE_CONFIG_EXTERNAL, ROUTE_CONFIG_LOCAL } from '../model/names.js';
import { revisionClusters } from './cluster.js';
import { revisionAssignments } from './endpoint.js';
import { apiListener, ingressListeners } from './listener.js';
import { routeVirtualHosts } from './route.js';
import type { EnvoyResource, Translation } from './types.js';

export type { EnvoyResource, Translation } from './types.js';
export { routeVirtualHosts } from './route.js';
export { checkSnapshotConsistency } from './consistency.js';
export { fromStruct, toStruct } from './struct.js';

export function translate(state: DesiredState): Translation {
  const externalHosts: EnvoyResource[] = [];
  const localHosts: EnvoyResource[] = [];
  const routeHashes = new Map<string, string>();
  const listeners = ingressListeners(state.listeners);
  const routes = [...state.routes].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  for (const route of routes) {
    const vhosts = routeVirtualHosts(route, state);
    externalHosts.push(...vhosts.external);
    localHosts.push(...vhosts.local);
    routeHashes.set(`${route.namespace}/${route.name}`, vhosts.hash);
    for (const vhost of vhosts.external) for (const domain of vhost.domains as string[]) listeners.push(apiListener(domain, ROUTE_CONFIG_EXTERNAL));
  }
  const clusters: EnvoyResource[] = [];
  const endpoints: EnvoyResource[] = [];
  const revisionKeys = [...state.revisions.keys()].sort();
  for (const key of revisionKeys) {
    const routing = state.revisions.get(key)!;
    clusters.push(...revisionClusters(routing));
    endpoints.push(...revisionAssignments(routing));
  }
  return {
    listeners,
    routes: [
      { name: ROUTE_CONFIG_EXTERNAL, virtual_hosts: externalHosts },
      { name: ROUTE_CONFIG_LOCAL, virtual_hosts: localHosts },
    ],
    clusters,
    endpoints,
    routeHashes,
  };
}
