// Envoy resources as plain objects in Envoy's own snake_case field names; typed loosely on
// purpose: their shape is checked against Envoy's protos (validate.ts), not against hand copies.
// What producers (translate, kube) hand the xDS snapshot cache, and what the cache stores.

export type EnvoyResource = { name?: string; cluster_name?: string } & Record<string, unknown>;

/** A whole set of the resource types a gateway needs, by kind. */
export interface EnvoyResources {
  listeners: EnvoyResource[];
  /** ScopedRouteConfigurations: host + listener → a route's RouteConfiguration. */
  scopedRoutes: EnvoyResource[];
  routes: EnvoyResource[];
  clusters: EnvoyResource[];
  endpoints: EnvoyResource[];
}

/** A set with nothing in it (a new object each time: callers fill it). */
export function noResources(): EnvoyResources {
  return { listeners: [], scopedRoutes: [], routes: [], clusters: [], endpoints: [] };
}

/**
 * Some of one type's resources changed in one group of snapshots (undefined: the default group):
 * these to set, those names to remove, the others left as they are.
 */
export interface ResourceChange {
  typeUrl: string;
  group: string | undefined;
  upserts: EnvoyResource[];
  removals: string[];
}

/** A resource's name: ClusterLoadAssignments carry it as cluster_name, every other type as name. */
export function resourceName(resource: EnvoyResource): string {
  return String(resource.cluster_name ?? resource.name);
}
