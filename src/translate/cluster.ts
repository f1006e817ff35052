// One EDS cluster per revision that never changes name, plus its private twin for the activator.
import type { RevisionRouting } from '../model/desired.js';
import { privateClusterName, revisionClusterName } from '../model/names.js';
import { TYPE_URL } from '../envoy/protos.js';
import { toStruct } from '../envoy/struct.js';
import type { EnvoyResource } from '../envoy/resource.js';

const CONNECT_TIMEOUT = { seconds: 1 };

/** A cluster's typed_extension_protocol_options for an upstream that speaks HTTP/2 in cleartext (h2c). */
export function h2cProtocolOptions(): Record<string, unknown> {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': TYPE_URL.httpProtocolOptions,
      explicit_http_config: { http2_protocol_options: {} },
    },
  };
}

/** The private cluster carries what the activator needs (its metadata); gateways need none of it. */
function edsCluster(name: string, routing: RevisionRouting, forActivator: boolean): EnvoyResource {
  const spec = routing.spec;
  const cluster: EnvoyResource = {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: 'ROUND_ROBIN',
  };
  if (forActivator) {
    cluster.metadata = {
      filter_metadata: {
        gatehouse: toStruct({
          namespace: spec.namespace,
          revision: spec.name,
          containerConcurrency: spec.containerConcurrency,
          timeoutSeconds: spec.timeoutSeconds,
        }),
      },
    };
  }
  if (spec.container.protocol === 'h2c') cluster.typed_extension_protocol_options = h2cProtocolOptions();
  return cluster;
}

export function revisionClusters(routing: RevisionRouting): EnvoyResource[] {
  const { namespace, name } = routing.spec;
  return [
    edsCluster(revisionClusterName(namespace, name), routing, false),
    edsCluster(privateClusterName(namespace, name), routing, true),
  ];
}
