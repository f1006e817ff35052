// Listeners: the external and cluster-local ingress ports, each an HTTP connection manager using
// RDS over ADS; and one api_listener per external host so proxyless gRPC (`xds:///host`) gets the
// same routes.
import type { GatewayListeners } from '../model/desired.js';
import { LISTENER_EXTERNAL, LISTENER_LOCAL, ROUTE_CONFIG_EXTERNAL, ROUTE_CONFIG_LOCAL } from '../model/names.js';
import { TYPE_URL } from '../xds/protos.js';
import type { EnvoyResource } from './types.js';

function connectionManager(statPrefix: string, routeConfigName: string): Record<string, unknown> {
  return {
    '@type': TYPE_URL.httpConnectionManager,
    stat_prefix: statPrefix,
    codec_type: 'AUTO',
    strip_any_host_port: true,
    rds: { route_config_name: routeConfigName, config_source: { ads: {}, resource_api_version: 'V3' } },
    upgrade_configs: [{ upgrade_type: 'websocket' }],
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } }],
  };
}

function ingressListener(name: string, address: string, port: number, routeConfigName: string): EnvoyResource {
  return {
    name,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [
      {
        filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: connectionManager(name, routeConfigName) }],
      },
    ],
  };
}

export function ingressListeners(listeners: GatewayListeners): EnvoyResource[] {
  return [
    ingressListener(LISTENER_EXTERNAL, listeners.address, listeners.externalPort, ROUTE_CONFIG_EXTERNAL),
    ingressListener(LISTENER_LOCAL, listeners.address, listeners.localPort, ROUTE_CONFIG_LOCAL),
  ];
}

/** A Listener named after the host a gRPC client dials as `xds:///host`. */
export function apiListener(host: string, routeConfigName: string): EnvoyResource {
  return { name: host, api_listener: { api_listener: connectionManager(host, routeConfigName) } };
}
