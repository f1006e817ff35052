// What one route puts into xDS besides clusters: per listener, its own RouteConfiguration and a
// ScopedRouteConfiguration for each of its hosts; per external host, an api_listener for gRPC.
import type { RouteSpec } from '../model/desired.js';
import { LISTENER_EXTERNAL, LISTENER_LOCAL, routeConfigName, scopeName } from '../model/names.js';
import { apiListener, scopedRoute } from './listener.js';
import type { RouteVirtualHosts } from './route.js';
import type { EnvoyResource } from './types.js';

export interface RouteResources {
  hash: string;
  routeConfigs: EnvoyResource[];
  scopes: EnvoyResource[];
  apiListeners: EnvoyResource[];
}

export function routeResources(route: Pick<RouteSpec, 'namespace' | 'name'>, vhosts: RouteVirtualHosts): RouteResources {
  const out: RouteResources = { hash: vhosts.hash, routeConfigs: [], scopes: [], apiListeners: [] };
  for (const [listener, hosts] of [[LISTENER_EXTERNAL, vhosts.external], [LISTENER_LOCAL, vhosts.local]] as const) {
    if (hosts.length === 0) continue;
    const rcName = routeConfigName(listener, route.namespace, route.name);
    out.routeConfigs.push({ name: rcName, virtual_hosts: hosts });
    for (const vhost of hosts) {
      for (const host of vhost.domains as string[]) {
        out.scopes.push(scopedRoute(scopeName(listener, host), host, listener, rcName));
        if (listener === LISTENER_EXTERNAL) out.apiListeners.push(apiListener(host, rcName));
      }
    }
  }
  return out;
}
