// What one route puts into xDS besides clusters. Scoped routing (the default): per listener it has
// hosts on, its own RouteConfiguration and one ScopedRouteConfiguration per virtual host (its
// hosts share their first two labels, `{name}.{namespace}`, which is the scope key). Single
// routing (plain RDS, as Kourier): its virtual hosts go into one RouteConfiguration per listener.
// Either way, an api_listener per external host for proxyless gRPC.
//
// Scopes, virtual hosts of a listener's RouteConfiguration and api_listeners are claims: when two
// routes claim one (Knative calls it a domain conflict), the first in namespace/name order keeps it.
import type { RouteSpec } from '../model/desired.js';
import { H_GATEHOUSE_LISTENER } from '../model/headers.js';
import { LISTENER_EXTERNAL, LISTENER_LOCAL, routeConfigName, scopeName } from '../model/names.js';
import { apiListener, labelScopedRoute } from './listener.js';
import type { RouteVirtualHosts } from './route.js';
import type { EnvoyResource } from '../envoy/resource.js';

/** 'scoped': SRDS, a RouteConfiguration per route (a change costs one small resource); 'single': one per listener. */
export type RouteMode = 'scoped' | 'single';

export interface Claim {
  /** scopedRoutes and listeners are resources; virtualHosts go into their listener's RouteConfiguration. */
  kind: 'scopedRoutes' | 'listeners' | 'virtualHosts';
  name: string;
  resource: EnvoyResource;
}

export interface RouteResources {
  hash: string;
  /** The route's own RouteConfigurations (scoped routing only). */
  routeConfigs: EnvoyResource[];
  claims: Claim[];
}

const LISTENERS = [LISTENER_EXTERNAL, LISTENER_LOCAL] as const;

/** The virtual host claim `name` on `listener`'s single RouteConfiguration is named `{listener}/{labels}`. */
export function claimListener(name: string): string {
  return name.slice(0, name.indexOf('/'));
}

export function routeResources(
  route: Pick<RouteSpec, 'namespace' | 'name'>,
  vhosts: RouteVirtualHosts,
  mode: RouteMode,
): RouteResources {
  const out: RouteResources = { hash: vhosts.hash, routeConfigs: [], claims: [] };
  for (const listener of LISTENERS) {
    const groups = vhosts.groups.flatMap((g) => {
      const vhost = listener === LISTENER_EXTERNAL ? g.external : g.local;
      return vhost ? [{ labels: g.labels, vhost }] : [];
    });
    if (groups.length === 0) continue;
    // gRPC clients dial external hosts; they use the route's configuration, or the listener's.
    const rcName = mode === 'scoped' ? routeConfigName(listener, route.namespace, route.name) : listener;
    if (mode === 'scoped')
      out.routeConfigs.push({
        name: rcName,
        virtual_hosts: groups.map((g) => g.vhost),
        request_headers_to_remove: [H_GATEHOUSE_LISTENER],
      });
    for (const { labels, vhost } of groups) {
      const name = scopeName(listener, labels);
      if (mode === 'scoped')
        out.claims.push({ kind: 'scopedRoutes', name, resource: labelScopedRoute(name, labels, listener, rcName) });
      else out.claims.push({ kind: 'virtualHosts', name, resource: vhost });
      if (listener === LISTENER_EXTERNAL)
        for (const host of vhost.domains as string[])
          out.claims.push({ kind: 'listeners', name: host, resource: apiListener(host, rcName) });
    }
  }
  return out;
}
