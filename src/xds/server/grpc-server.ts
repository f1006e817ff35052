// The gRPC surface: ADS (state of the world and Delta) and the per-type LDS/RDS/CDS/EDS services,
// with method paths read from Envoy's service definitions.
import * as grpc from '@grpc/grpc-js';
import { envoyRoot, TYPE_URL } from '../../envoy/protos.js';
import { DeltaStream } from './delta.js';
import { SotwStream } from './sotw.js';
import type { DuplexCall, StreamDeps } from './stream-base.js';

const identity = (b: Buffer) => b;
const passBytes = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function method(path: string): grpc.MethodDefinition<Buffer, Uint8Array> {
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: passBytes,
    responseDeserialize: identity,
  };
}

/** [service, sotw method, delta method, the one type it serves (undefined for ADS)]. */
const SERVICES: Array<[string, string, string, string | undefined]> = [
  [
    'envoy.service.discovery.v3.AggregatedDiscoveryService',
    'StreamAggregatedResources',
    'DeltaAggregatedResources',
    undefined,
  ],
  ['envoy.service.listener.v3.ListenerDiscoveryService', 'StreamListeners', 'DeltaListeners', TYPE_URL.listener],
  ['envoy.service.route.v3.RouteDiscoveryService', 'StreamRoutes', 'DeltaRoutes', TYPE_URL.route],
  [
    'envoy.service.route.v3.ScopedRoutesDiscoveryService',
    'StreamScopedRoutes',
    'DeltaScopedRoutes',
    TYPE_URL.scopedRoute,
  ],
  ['envoy.service.cluster.v3.ClusterDiscoveryService', 'StreamClusters', 'DeltaClusters', TYPE_URL.cluster],
  ['envoy.service.endpoint.v3.EndpointDiscoveryService', 'StreamEndpoints', 'DeltaEndpoints', TYPE_URL.endpoint],
];

export function addXdsServices(server: grpc.Server, deps: StreamDeps): void {
  const root = envoyRoot();
  for (const [serviceName, sotw, delta, onlyType] of SERVICES) {
    const service = root.lookupService(serviceName);
    if (!service.methods[sotw] || !service.methods[delta])
      throw new Error(`Envoy's ${serviceName} has no ${sotw}/${delta}`);
    const definition = {
      [sotw]: method(`/${serviceName}/${sotw}`),
      [delta]: method(`/${serviceName}/${delta}`),
    };
    server.addService(definition, {
      [sotw]: (call: DuplexCall) => new SotwStream(call, deps, onlyType),
      [delta]: (call: DuplexCall) => new DeltaStream(call, deps, onlyType),
    });
  }
}
