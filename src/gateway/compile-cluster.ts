// Clusters and their endpoints (CDS, EDS) → where the embedded gateway sends a route's requests.
import type * as envoy from '../envoy/envoy-types.js';
import { TYPE_URL } from '../envoy/protos.js';
import { ConfigErrors, durationMs, memoized, messageName } from './compile-errors.js';

export interface ClusterConfig {
  name: string;
  /** The ClusterLoadAssignment name to subscribe to (EDS), or undefined for STATIC. */
  edsName: string | undefined;
  staticEndpoints: Endpoint[];
  h2c: boolean;
  connectTimeoutMs: number;
  lbPolicy: 'ROUND_ROBIN' | 'RANDOM' | 'LEAST_REQUEST';
}

export interface Endpoint {
  host: string;
  port: number;
}

/** Keyed by the message name, as Envoy keys typed_extension_protocol_options. */
const PROTOCOL_OPTIONS_KEY = messageName(TYPE_URL.httpProtocolOptions);
const LB_POLICIES: readonly string[] = ['ROUND_ROBIN', 'RANDOM', 'LEAST_REQUEST'] satisfies envoy.LbPolicy[];

export function compileCluster(c: envoy.Cluster, errors: ConfigErrors): ClusterConfig | undefined {
  return compileClusterOnce(c, clusterPath, errors);
}

const clusterPath = (c: envoy.Cluster): string => `Cluster ${c.name}`;

const compileClusterOnce = memoized(
  (c: envoy.Cluster, path: string, errors: ConfigErrors): ClusterConfig | undefined => {
    errors.unsupported(c, path, [
      'name',
      'type',
      'eds_cluster_config',
      'connect_timeout',
      'lb_policy',
      'metadata',
      'typed_extension_protocol_options',
      'load_assignment',
    ]);
    const type = c.type ?? 'STATIC';
    if (type !== 'EDS' && type !== 'STATIC') {
      errors.add(`${path}.type`, `${type} is not supported; use EDS or STATIC`);
      return undefined;
    }
    const lbPolicy = c.lb_policy ?? 'ROUND_ROBIN';
    if (!LB_POLICIES.includes(lbPolicy))
      errors.add(`${path}.lb_policy`, `${lbPolicy} is not supported; use ROUND_ROBIN, RANDOM or LEAST_REQUEST`);
    const allOptions = c.typed_extension_protocol_options ?? {};
    for (const k of Object.keys(allOptions))
      if (k !== PROTOCOL_OPTIONS_KEY) errors.add(`${path}.typed_extension_protocol_options.${k}`, 'is not supported');
    const options = allOptions[PROTOCOL_OPTIONS_KEY] as envoy.HttpProtocolOptions | undefined;
    errors.unsupported(options, `${path}.typed_extension_protocol_options`, ['explicit_http_config']);
    return {
      name: String(c.name),
      edsName: type === 'EDS' ? String(c.eds_cluster_config?.service_name || c.name) : undefined,
      staticEndpoints: type === 'STATIC' ? assignmentEndpoints(c.load_assignment ?? {}) : [],
      h2c: options?.explicit_http_config?.http2_protocol_options !== undefined,
      connectTimeoutMs: durationMs(c.connect_timeout) ?? 5000,
      lbPolicy: lbPolicy as ClusterConfig['lbPolicy'],
    };
  },
);

/** Endpoints that may get traffic: HEALTHY or UNKNOWN, as Envoy treats them without health checks. */
export function assignmentEndpoints(cla: envoy.ClusterLoadAssignment): Endpoint[] {
  return assignmentEndpointsOnce(cla, '', new ConfigErrors());
}

const assignmentEndpointsOnce = memoized((cla: envoy.ClusterLoadAssignment): Endpoint[] => {
  const out: Endpoint[] = [];
  for (const locality of cla.endpoints ?? []) {
    for (const lb of locality.lb_endpoints ?? []) {
      const status = lb.health_status ?? 'UNKNOWN';
      if (status !== 'HEALTHY' && status !== 'UNKNOWN') continue;
      const socket = lb.endpoint?.address?.socket_address;
      if (socket) out.push({ host: String(socket.address), port: Number(socket.port_value) });
    }
  }
  return out;
});
