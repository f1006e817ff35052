// Virtual hosts for one Knative route: its own hosts and one per traffic tag, each with one route
// splitting traffic over revision clusters. A probe (K-Network-Hash: override) gets the route's
// hash written over the placeholder, so its answer proves this exact config is live; Knative's
// net-kourier does the same with OVERWRITE_IF_EXISTS, which leaves other requests untouched and
// needs no second route per virtual host.
import type { DesiredState, RouteSpec, TrafficTarget } from '../model/desired.js';
import { H_NETWORK_HASH, H_SERVING_NAMESPACE, H_SERVING_REVISION, H_UNPROCESSED } from '../model/headers.js';
import {
  namespacedName,
  revisionClusterName,
  revisionKey,
  routeHosts,
  tagHosts,
  virtualHostName,
} from '../model/names.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import type { EnvoyResource } from '../envoy/resource.js';

/** One virtual host, with its domains split by the listener that serves them. */
export interface VirtualHostGroup {
  /** `{namespace}/{route}` or `{namespace}/{route}/{tag}`. */
  name: string;
  /** `{name}.{namespace}`, or `{tag}-{name}.{namespace}`: the first two labels of every host here. */
  labels: string;
  external: EnvoyResource | undefined;
  local: EnvoyResource;
}

export interface RouteVirtualHosts {
  groups: VirtualHostGroup[];
  hash: string;
}

/** A header a request gets, replacing any it came with. */
export function overwrite(key: string, value: string) {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

/** Everything routeVirtualHosts reads, so that equal inputs (as JSON) give equal virtual hosts. */
export interface RouteInputs {
  route: RouteSpec;
  domain: string;
  /** timeoutSeconds of each target revision that exists, by revision name. */
  timeouts: Record<string, number>;
}

/** `state` needs only the domain and the revisions (an IncrementalTranslator passes its own). */
export function routeInputs(route: RouteSpec, state: Pick<DesiredState, 'domain' | 'revisions'>): RouteInputs {
  const timeouts: Record<string, number> = {};
  for (const t of route.traffic) {
    const revision = state.revisions.get(revisionKey(route.namespace, t.revisionName));
    if (revision) timeouts[t.revisionName] = revision.spec.timeoutSeconds;
  }
  return { route, domain: state.domain, timeouts };
}

/** A string equal for equal inputs: the Translator's memo key (cheaper than JSON for 10,000 routes). */
export function routeInputsKey({ route, domain, timeouts }: RouteInputs): string {
  let key = `${domain}|${route.namespace}|${route.name}|${route.visibility}`;
  for (const t of route.traffic)
    key += `|${t.revisionName}:${t.percent}:${t.tag ?? ''}:${timeouts[t.revisionName] ?? ''}`;
  return key;
}

/**
 * Every ingress route's retry policy: a request that no endpoint took (connect failure, refused
 * stream) or whose app never saw it (a queue-proxy's 502 with H_UNPROCESSED) goes to another.
 */
export const INGRESS_RETRY_POLICY = {
  retry_on: 'connect-failure,refused-stream,retriable-headers',
  num_retries: { value: 2 },
  retriable_headers: [{ name: H_UNPROCESSED, present_match: true }],
};

function routeAction(
  route: RouteSpec,
  targets: TrafficTarget[],
  timeouts: Record<string, number>,
): Record<string, unknown> {
  let timeoutSeconds = 0;
  const clusters = targets
    .filter((t) => t.percent > 0)
    .map((t) => {
      const timeout = timeouts[t.revisionName];
      if (timeout !== undefined) timeoutSeconds = Math.max(timeoutSeconds, timeout);
      return {
        name: revisionClusterName(route.namespace, t.revisionName),
        weight: { value: t.percent },
        request_headers_to_add: [
          overwrite(H_SERVING_NAMESPACE, route.namespace),
          overwrite(H_SERVING_REVISION, t.revisionName),
        ],
      };
    });
  // WebSocket upgrades are enabled once, on the connection manager.
  return {
    weighted_clusters: { clusters },
    timeout: { seconds: timeoutSeconds },
    // An activator restarting, a pod that just left, an app that crashed: try another endpoint.
    retry_policy: INGRESS_RETRY_POLICY,
  };
}

/** A virtual host's headers: the hash written over a probe's placeholder (no other request carries K-Network-Hash). */
export function probeHashHeaders(hash: string): Array<Record<string, unknown>> {
  return [{ header: { key: H_NETWORK_HASH, value: hash }, append_action: 'OVERWRITE_IF_EXISTS' }];
}

function virtualHost(name: string, domains: string[], action: Record<string, unknown>, hash: string): EnvoyResource {
  return {
    name,
    domains,
    request_headers_to_add: probeHashHeaders(hash),
    routes: [{ match: { prefix: '/' }, route: action }],
  };
}

/** Everything one route puts into the route configurations, with its hash. */
export function routeVirtualHosts({ route, domain, timeouts }: RouteInputs): RouteVirtualHosts {
  const inputs: Array<{
    name: string;
    labels: string;
    hosts: { external: string[]; local: string[] };
    action: Record<string, unknown>;
  }> = [
    {
      name: virtualHostName(route.namespace, route.name),
      labels: `${route.name}.${route.namespace}`,
      hosts: routeHosts(route.name, route.namespace, domain, route.visibility),
      action: routeAction(route, route.traffic, timeouts),
    },
  ];
  for (const target of route.traffic) {
    if (target.tag === undefined) continue;
    inputs.push({
      name: virtualHostName(route.namespace, route.name, target.tag),
      labels: `${target.tag}-${route.name}.${route.namespace}`,
      hosts: tagHosts(target.tag, route.name, route.namespace, domain, route.visibility),
      action: routeAction(route, [{ revisionName: target.revisionName, percent: 100 }], timeouts),
    });
  }
  // The hash covers what the route asks for; it cannot cover itself, so it is computed first.
  const hash = sha256Hex(
    canonicalJson({
      route: namespacedName(route.namespace, route.name),
      groups: inputs.map(({ name, hosts, action }) => ({ name, hosts, action })),
    }),
  );
  const groups = inputs.map(({ name, labels, hosts, action }) => ({
    name,
    labels,
    external: hosts.external.length > 0 ? virtualHost(name, hosts.external, action, hash) : undefined,
    local: virtualHost(name, hosts.local, action, hash),
  }));
  return { groups, hash };
}
