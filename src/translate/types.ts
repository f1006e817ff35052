import type { EnvoyResources } from '../envoy/resource.js';

/** A desired state's Envoy resources, and what each route contributes to them. */
export interface Translation extends EnvoyResources {
  /** `{namespace}/{name}` → SHA-256 of everything that route contributes. */
  routeHashes: Map<string, string>;
}
