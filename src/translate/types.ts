// Envoy resources as plain objects in Envoy's own snake_case field names; typed loosely on
// purpose: their shape is checked against Envoy's protos (validate.ts), not against hand copies.
export type EnvoyResource = { name?: string; cluster_name?: string } & Record<string, unknown>;

export interface Translation {
  listeners: EnvoyResource[];
  /** ScopedRouteConfigurations: host + listener → a route's RouteConfiguration. */
  scopedRoutes: EnvoyResource[];
  routes: EnvoyResource[];
  clusters: EnvoyResource[];
  endpoints: EnvoyResource[];
  /** `{namespace}/{name}` → SHA-256 of everything that route contributes. */
  routeHashes: Map<string, string>;
}
