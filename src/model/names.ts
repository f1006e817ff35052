// Every derived name in one place, so a revision's cluster name is computed once and never changes.

/** `{namespace}/{name}`: the key of any namespaced object (service, configuration, route, lease). */
export function namespacedName(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** A route's virtual host (`{namespace}/{route}`), or the one for a traffic tag (`{namespace}/{route}/{tag}`). */
export function virtualHostName(namespace: string, route: string, tag?: string): string {
  return tag === undefined ? `${namespace}/${route}` : `${namespace}/${route}/${tag}`;
}

/** The namespace and name back out of a `{namespace}/{name}` key. */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function revisionKey(namespace: string, revision: string): string {
  return `${namespace}/${revision}`;
}

/** `{service}-00001`: Knative's revision naming. */
export function revisionName(service: string, generation: number): string {
  return `${service}-${String(generation).padStart(5, '0')}`;
}

/** The revision's public cluster: pods in serve mode, activators in proxy mode. Never renamed. */
export function revisionClusterName(namespace: string, revision: string): string {
  return `${namespace}/${revision}`;
}

export const PRIVATE_CLUSTER_SUFFIX = '-private';

/** The revision's private cluster: always its ready pods. The activator load-balances over it. */
export function privateClusterName(namespace: string, revision: string): string {
  return `${namespace}/${revision}${PRIVATE_CLUSTER_SUFFIX}`;
}

export const LISTENER_EXTERNAL = 'gatehouse-external';
export const LISTENER_LOCAL = 'gatehouse-local';
/** The external HTTPS listener (KIngress spec.tls): TLS terminated per host by SNI. */
export const LISTENER_EXTERNAL_TLS = 'gatehouse-external-tls';

/**
 * The RouteConfiguration of a route with external hosts that both ingress listeners' scopes point at
 * (translate's scoped routing): its virtual hosts, tag hosts included. A cluster-local route's is
 * routeConfigName(LISTENER_LOCAL, …).
 */
export function scopedRouteConfigName(namespace: string, route: string): string {
  return namespacedName(namespace, route);
}

/** A route's own RouteConfiguration behind one listener (the KIngress controller's, and cluster-local routes'). */
export function routeConfigName(listener: string, namespace: string, route: string): string {
  return `${listener}/${namespace}/${route}`;
}

/**
 * The ScopedRouteConfiguration (or, with one RouteConfiguration per listener, the virtual host) for hosts whose first
 * two labels are `labels` on `listener`.
 */
export function scopeName(listener: string, labels: string): string {
  return `${listener}/${labels}`;
}

/** Host names Knative gives a route: external domain (unless cluster-local) and the cluster-local forms. */
export function routeHosts(
  name: string,
  namespace: string,
  domain: string,
  visibility: 'external' | 'cluster-local',
): {
  external: string[];
  local: string[];
} {
  const local = [`${name}.${namespace}.svc.cluster.local`, `${name}.${namespace}.svc`, `${name}.${namespace}`];
  return { external: visibility === 'external' ? [`${name}.${namespace}.${domain}`] : [], local };
}

/** `{tag}-{name}.{namespace}.{domain}` and its cluster-local forms. */
export function tagHosts(
  tag: string,
  name: string,
  namespace: string,
  domain: string,
  visibility: 'external' | 'cluster-local',
) {
  return routeHosts(`${tag}-${name}`, namespace, domain, visibility);
}
