// A valid KIngress → what it puts into xDS: per listener its own RouteConfiguration and a
// ScopedRouteConfiguration per host (the layout `gatehouse up` uses, built from the same pieces
// of src/translate), the backends its splits name, and the hash a probe must see. Pure.
//
// ExternalIP rules are served on both listeners, ClusterLocal rules on the local one only, as
// Kourier does. Every virtual host starts with the probe route, which writes the hash into
// K-Network-Hash so that a probe answered by the backend proves this exact config is live.
import { H_GATEHOUSE_LISTENER, H_NETWORK_HASH, H_PROXY_REQUEST, HASH_PLACEHOLDER } from '../model/headers.js';
import { LISTENER_EXTERNAL, LISTENER_LOCAL, routeConfigName, scopeName } from '../model/names.js';
import { canonicalJson, sha256Hex } from '../translate/canonical.js';
import { scopedRoute } from '../translate/listener.js';
import type { EnvoyResource } from '../translate/types.js';
import type { HTTPIngressPath } from './types.js';
import type { ValidIngress } from './validate.js';

/** A split's target: one port of one Service. Its cluster is shared by every KIngress naming it. */
export interface BackendRef {
  namespace: string;
  service: string;
  port: number | string;
}

export function backendClusterName(b: BackendRef): string {
  return `kube/${b.namespace}/${b.service}:${b.port}`;
}

export interface IngressResources {
  hash: string;
  routeConfigs: EnvoyResource[];
  scopes: EnvoyResource[];
  backends: BackendRef[];
  externalHosts: string[];
  localHosts: string[];
}

function overwrite(key: string, value: string) {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

function headersToAdd(headers: Record<string, string> | undefined) {
  return Object.keys(headers ?? {})
    .sort()
    .map((k) => overwrite(k, headers![k]!));
}

function routeAction(p: HTTPIngressPath): Record<string, unknown> {
  const action: Record<string, unknown> = {
    weighted_clusters: {
      clusters: p.splits
        .filter((s) => (s.percent ?? 0) > 0)
        .map((s) => ({
          name: backendClusterName({ namespace: s.serviceNamespace, service: s.serviceName, port: s.servicePort }),
          weight: { value: s.percent },
          request_headers_to_add: headersToAdd(s.appendHeaders),
        })),
    },
    // Knative enforces request timeouts in the queue-proxy and activator; the gateway waits for them.
    timeout: { seconds: 0 },
    upgrade_configs: [{ upgrade_type: 'websocket' }],
    retry_policy: { retry_on: 'connect-failure,refused-stream', num_retries: { value: 2 } },
  };
  if (p.rewriteHost) action.host_rewrite_literal = p.rewriteHost;
  return action;
}

function pathRoute(name: string, p: HTTPIngressPath): Record<string, unknown> {
  const headers = Object.keys(p.headers ?? {})
    .sort()
    .map((h) => ({ name: h, string_match: { exact: p.headers![h]!.exact } }));
  const route: Record<string, unknown> = { name, match: { prefix: p.path || '/', ...(headers.length > 0 ? { headers } : {}) }, route: routeAction(p) };
  const add = headersToAdd(p.appendHeaders);
  if (add.length > 0) route.request_headers_to_add = add;
  return route;
}

/** The path a probe (any path, no header match) would take: the first catch-all path, else the last. */
function probePath(paths: HTTPIngressPath[]): HTTPIngressPath {
  return paths.find((p) => (!p.path || p.path === '/') && Object.keys(p.headers ?? {}).length === 0) ?? paths[paths.length - 1]!;
}

export function translateIngress(namespace: string, name: string, spec: ValidIngress): IngressResources {
  const key = `${namespace}/${name}`;
  const groups = spec.rules.map((rule, r) => ({
    name: `${key}/${r}`,
    hosts: rule.hosts,
    external: rule.visibility === 'ExternalIP',
    routes: rule.paths.map((p, i) => pathRoute(`${key}/${r}/${i}`, p)),
    probe: routeAction(probePath(rule.paths)),
  }));
  // The hash covers what the ingress asks for; it cannot cover itself, so it is computed first.
  const hash = sha256Hex(canonicalJson({ ingress: key, groups }));
  const byListener = new Map<string, EnvoyResource[]>([
    [LISTENER_EXTERNAL, []],
    [LISTENER_LOCAL, []],
  ]);
  const externalHosts = new Set<string>();
  const localHosts = new Set<string>();
  for (const g of groups) {
    const vhost: EnvoyResource = {
      name: g.name,
      domains: g.hosts,
      request_headers_to_remove: [H_PROXY_REQUEST, H_GATEHOUSE_LISTENER],
      routes: [
        {
          name: `${g.name}/probe`,
          match: { prefix: '/', headers: [{ name: H_NETWORK_HASH, string_match: { exact: HASH_PLACEHOLDER } }] },
          route: g.probe,
          request_headers_to_add: [overwrite(H_NETWORK_HASH, hash)],
        },
        ...g.routes,
      ],
    };
    if (g.external) {
      byListener.get(LISTENER_EXTERNAL)!.push(vhost);
      for (const h of g.hosts) externalHosts.add(h);
    }
    byListener.get(LISTENER_LOCAL)!.push(vhost);
    for (const h of g.hosts) localHosts.add(h);
  }
  const routeConfigs: EnvoyResource[] = [];
  const scopes: EnvoyResource[] = [];
  for (const [listener, vhosts] of byListener) {
    if (vhosts.length === 0) continue;
    const rcName = routeConfigName(listener, namespace, name);
    routeConfigs.push({ name: rcName, virtual_hosts: mergeDomains(vhosts) });
    const seen = new Set<string>();
    for (const vh of vhosts) {
      for (const host of vh.domains as string[]) {
        if (seen.has(host)) continue;
        seen.add(host);
        scopes.push(scopedRoute(scopeName(listener, host), host, listener, rcName));
      }
    }
  }
  const backends = new Map<string, BackendRef>();
  for (const rule of spec.rules)
    for (const p of rule.paths)
      for (const s of p.splits) {
        const b = { namespace: s.serviceNamespace, service: s.serviceName, port: s.servicePort };
        backends.set(backendClusterName(b), b);
      }
  return { hash, routeConfigs, scopes, backends: [...backends.values()], externalHosts: [...externalHosts], localHosts: [...localHosts] };
}

/** A host named by two rules stays with the first: a RouteConfiguration may not list a domain twice. */
function mergeDomains(vhosts: EnvoyResource[]): EnvoyResource[] {
  const taken = new Set<string>();
  const out: EnvoyResource[] = [];
  for (const vh of vhosts) {
    const domains = (vh.domains as string[]).filter((d) => !taken.has(d));
    for (const d of domains) taken.add(d);
    if (domains.length > 0) out.push(domains.length === (vh.domains as string[]).length ? vh : { ...vh, domains });
  }
  return out;
}
