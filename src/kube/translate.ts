// A valid KIngress → what it puts into xDS: per listener its own RouteConfiguration and a
// ScopedRouteConfiguration per host (the layout `gatehouse up` uses, built from the same pieces
// of src/translate), the backends its splits name, and the hash a probe must see. Pure.
//
// ExternalIP rules are served on the external listeners and the cluster-local one, ClusterLocal
// rules on the local one only, as Kourier does. A KIngress with spec.tls also has its ExternalIP
// rules on the HTTPS listener; with httpOption Redirected the plain external listener answers
// them with a 301 to https instead. As in `gatehouse up`, each virtual host writes its hash over
// a probe's K-Network-Hash placeholder, so a probe answered by the backend proves this exact config
// is live, without a route of its own.
import { H_GATEHOUSE_LISTENER } from '../model/headers.js';
import {
  LISTENER_EXTERNAL,
  LISTENER_EXTERNAL_TLS,
  LISTENER_LOCAL,
  namespacedName,
  routeConfigName,
  scopeName,
} from '../model/names.js';
import { canonicalJson, sha256Hex } from '../translate/canonical.js';
import { scopedRoute } from '../translate/listener.js';
import { INGRESS_RETRY_POLICY, probeHashHeaders } from '../translate/route.js';
import type { EnvoyResource } from '../envoy/resource.js';
import type { HTTPIngressPath } from './types.js';
import { tlsCovers, type TlsRef, type ValidIngress } from './validate.js';

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
  /** Hosts a probe checks on each listener: plain external, cluster-local, and HTTPS (by SNI). */
  externalHosts: string[];
  localHosts: string[];
  tlsHosts: string[];
  /** spec.tls: the certificates the HTTPS listener needs, by Secret. */
  tls: TlsRef[];
}

function headersToAdd(headers: Record<string, string> | undefined) {
  return Object.keys(headers ?? {})
    .sort()
    .map((k) => ({ header: { key: k, value: headers![k]! }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }));
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
    // WebSocket upgrades are enabled once, on the connection manager, as in `gatehouse up`.
    timeout: { seconds: 0 },
    retry_policy: INGRESS_RETRY_POLICY,
  };
  if (p.rewriteHost) action.host_rewrite_literal = p.rewriteHost;
  return action;
}

function pathMatch(p: HTTPIngressPath): Record<string, unknown> {
  const headers = Object.keys(p.headers ?? {})
    .sort()
    .map((h) => ({ name: h, string_match: { exact: p.headers![h]!.exact } }));
  return { prefix: p.path || '/', ...(headers.length > 0 ? { headers } : {}) };
}

function pathRoute(p: HTTPIngressPath): Record<string, unknown> {
  const route: Record<string, unknown> = { match: pathMatch(p), route: routeAction(p) };
  const add = headersToAdd(p.appendHeaders);
  if (add.length > 0) route.request_headers_to_add = add;
  return route;
}

/** httpOption Redirected on the plain external listener: the same matches, answered with a 301 to https. */
function redirectRoute(p: HTTPIngressPath): Record<string, unknown> {
  return { match: pathMatch(p), redirect: { https_redirect: true } };
}

export function translateIngress(namespace: string, name: string, spec: ValidIngress): IngressResources {
  const key = namespacedName(namespace, name);
  const redirected = spec.httpOption === 'Redirected';
  const hasTls = spec.tls.length > 0;
  const groups = spec.rules.map((rule, r) => ({
    name: `${key}/${r}`,
    hosts: rule.hosts,
    external: rule.visibility === 'ExternalIP',
    routes: rule.paths.map(pathRoute),
    redirects: redirected && rule.visibility === 'ExternalIP' ? rule.paths.map(redirectRoute) : undefined,
  }));
  // The hash covers what the ingress asks for; it cannot cover itself, so it is computed first.
  const hash = sha256Hex(canonicalJson({ ingress: key, groups, tls: spec.tls }));
  const byListener = new Map<string, EnvoyResource[]>([
    [LISTENER_EXTERNAL, []],
    [LISTENER_EXTERNAL_TLS, []],
    [LISTENER_LOCAL, []],
  ]);
  const externalHosts = new Set<string>();
  const localHosts = new Set<string>();
  const tlsHosts = new Set<string>();
  const vhost = (g: (typeof groups)[number], routes: Array<Record<string, unknown>>): EnvoyResource => ({
    name: g.name,
    domains: g.hosts,
    request_headers_to_add: probeHashHeaders(hash),
    routes,
  });
  for (const g of groups) {
    const served = vhost(g, g.routes);
    if (g.external) {
      byListener.get(LISTENER_EXTERNAL)!.push(g.redirects ? vhost(g, g.redirects) : served);
      // A redirect answers a probe with 301: such hosts are probed over HTTPS only.
      if (!g.redirects) for (const h of g.hosts) externalHosts.add(h);
      if (hasTls) {
        byListener.get(LISTENER_EXTERNAL_TLS)!.push(served);
        for (const h of g.hosts) if (tlsCovers(spec.tls, h)) tlsHosts.add(h);
      }
    }
    byListener.get(LISTENER_LOCAL)!.push(served);
    for (const h of g.hosts) localHosts.add(h);
  }
  const routeConfigs: EnvoyResource[] = [];
  const scopes: EnvoyResource[] = [];
  for (const [listener, vhosts] of byListener) {
    if (vhosts.length === 0) continue;
    const rcName = routeConfigName(listener, namespace, name);
    // As `gatehouse up`'s route configurations: the scope key's listener header goes no further.
    routeConfigs.push({
      name: rcName,
      virtual_hosts: mergeDomains(vhosts),
      request_headers_to_remove: [H_GATEHOUSE_LISTENER],
    });
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
  return {
    hash,
    routeConfigs,
    scopes,
    backends: [...backends.values()],
    externalHosts: [...externalHosts],
    localHosts: [...localHosts],
    tlsHosts: [...tlsHosts],
    tls: spec.tls,
  };
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
