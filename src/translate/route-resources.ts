// What one route puts into xDS besides clusters. Scoped routing (the default): its own
// RouteConfiguration, and per listener it has hosts on one ScopedRouteConfiguration per virtual
// host pointing at it (its hosts share their first two labels, `{name}.{namespace}`, which with
// the listener's name is the scope key). Single
// routing (plain RDS, as Kourier): its virtual hosts go into one RouteConfiguration per listener.
// Either way, an api_listener per external host for proxyless gRPC.
//
// Scopes, virtual hosts of a listener's RouteConfiguration and api_listeners are claims: when two
// routes claim one (Knative calls it a domain conflict), the first in namespace/name order keeps it.
import type { RouteSpec } from '../model/desired.js';
import { H_GATEHOUSE_LISTENER } from '../model/headers.js';
import {
  LISTENER_EXTERNAL,
  LISTENER_LOCAL,
  routeConfigName,
  scopedRouteConfigName,
  scopeName,
} from '../model/names.js';
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
  /** The route's own RouteConfiguration (scoped routing only). */
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
  // Scoped: one RouteConfiguration that both listeners' scopes point at, each virtual host with its
  // external and cluster-local names. A cluster-local route has no external scope, so the external
  // listener never reaches it, and its configuration keeps the local listener's name, so that
  // proxyless gRPC clients (which get every other one) are never sent it.
  const external = vhosts.groups.some((g) => g.external);
  const scopedName =
    mode === 'single'
      ? undefined
      : external
        ? scopedRouteConfigName(route.namespace, route.name)
        : routeConfigName(LISTENER_LOCAL, route.namespace, route.name);
  if (scopedName !== undefined)
    out.routeConfigs.push({
      name: scopedName,
      virtual_hosts: vhosts.groups.map((g) =>
        g.external
          ? { ...g.local, domains: [...(g.external.domains as string[]), ...(g.local.domains as string[])] }
          : g.local,
      ),
      request_headers_to_remove: [H_GATEHOUSE_LISTENER],
    });
  for (const listener of LISTENERS) {
    const groups = vhosts.groups.flatMap((g) => {
      const vhost = listener === LISTENER_EXTERNAL ? g.external : g.local;
      return vhost ? [{ labels: g.labels, vhost }] : [];
    });
    // gRPC clients dial external hosts; they use the route's configuration, or the listener's.
    const rcName = scopedName ?? listener;
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
