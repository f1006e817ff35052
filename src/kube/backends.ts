// A split's backend (one port of one Service) → an EDS cluster and its ClusterLoadAssignment from
// the Service's EndpointSlices. Pure. The split names the Service port by number or name; the
// EndpointSlices carry the target port under that Service port's name, so the Service is the
// bridge. Without a Service, a matching port or a ready endpoint the assignment is empty (Envoy
// answers 503) and `problem` says why, for the KIngress status.
import type { Endpoint } from '../model/desired.js';
import { h2cProtocolOptions } from '../translate/cluster.js';
import { assignment } from '../translate/endpoint.js';
import type { EnvoyResource } from '../envoy/resource.js';
import { backendClusterName, type BackendRef } from './translate.js';
import type { EndpointSlice, Service, ServicePort } from './types.js';

export interface BackendResources {
  cluster: EnvoyResource;
  assignment: EnvoyResource;
  endpoints: Endpoint[];
  problem: string | undefined;
}

export function findServicePort(service: Service, port: number | string): ServicePort | undefined {
  return (service.spec?.ports ?? []).find((p) =>
    typeof port === 'number' ? p.port === port : p.name === port || String(p.port) === port,
  );
}

/** Ready endpoints of the slices for the Service port named `portName` ('' for an unnamed port), sorted and unique. */
export function sliceEndpoints(slices: readonly EndpointSlice[], portName: string): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const slice of slices) {
    if (slice.addressType !== undefined && slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const port = (slice.ports ?? []).find((p) => (p.name ?? '') === portName)?.port;
    if (typeof port !== 'number') continue;
    for (const e of slice.endpoints ?? []) {
      // Kubernetes: a nil ready condition means ready; a terminating endpoint takes no new requests.
      if (e.conditions?.ready === false || e.conditions?.terminating === true) continue;
      for (const host of e.addresses ?? []) seen.set(`${host}:${port}`, { host, port });
    }
  }
  return [...seen.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port));
}

function isH2c(port: ServicePort | undefined): boolean {
  return port?.name === 'h2c' || port?.appProtocol === 'kubernetes.io/h2c' || port?.appProtocol === 'h2c';
}

export function backendResources(
  ref: BackendRef,
  service: Service | undefined,
  slices: readonly EndpointSlice[],
): BackendResources {
  const name = backendClusterName(ref);
  const servicePort = service && findServicePort(service, ref.port);
  let problem: string | undefined;
  let endpoints: Endpoint[] = [];
  if (!service) problem = `Service ${ref.namespace}/${ref.service} does not exist`;
  else if (service.spec?.type === 'ExternalName')
    problem =
      `Service ${ref.namespace}/${ref.service} is an ExternalName ` + `Service, which gatehouse does not route to yet`;
  else if (!servicePort) problem = `Service ${ref.namespace}/${ref.service} has no port ${ref.port}`;
  else {
    endpoints = sliceEndpoints(slices, servicePort.name ?? '');
    if (endpoints.length === 0)
      problem = `Service ${ref.namespace}/${ref.service} port ${ref.port} has no ready endpoints`;
  }
  const cluster: EnvoyResource = {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: { seconds: 1 },
    lb_policy: 'ROUND_ROBIN',
  };
  if (isH2c(servicePort)) cluster.typed_extension_protocol_options = h2cProtocolOptions();
  return { cluster, assignment: assignment(name, endpoints), endpoints, problem };
}
