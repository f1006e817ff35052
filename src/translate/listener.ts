// Listeners: the external and cluster-local ingress ports, and one api_listener per external host
// so proxyless gRPC (`xds:///host`) gets the same routes.
//
// By default the ingress listeners use scoped routes (SRDS): each virtual host has a
// ScopedRouteConfiguration pointing at its route's own small RouteConfiguration, so changing one
// route among thousands sends one small resource instead of a RouteConfiguration holding every
// virtual host. The scope key is the host's first two labels (`{name}.{namespace}`, which every
// host of a Knative virtual host shares; the virtual host then checks the whole host) plus the
// listener's name, which each listener writes into a request header before routing: over ADS all
// scopes reach every listener, and this keeps a cluster-local host from being served on the
// external port. With routing 'single', each listener has one RouteConfiguration (plain RDS).
import type { GatewayListeners } from '../model/desired.js';
import { H_GATEHOUSE_LISTENER, H_PROXY_REQUEST } from '../model/headers.js';
import { LISTENER_EXTERNAL, LISTENER_EXTERNAL_TLS, LISTENER_LOCAL } from '../model/names.js';
import { TYPE_URL } from '../envoy/protos.js';
import type { RouteMode } from './route-resources.js';
import type { EnvoyResource } from '../envoy/resource.js';

const ADS = { ads: {}, resource_api_version: 'V3' };

/**
 * Host names are case-insensitive. Envoy lower-cases the host to pick a virtual host, but a scope
 * key is the header's bytes as sent, and no declarative Envoy option lower-cases a header value.
 * This Lua filter does, only when the host has an upper-case letter; changing a request header
 * from Lua clears Envoy's route cache, which selects the scope again with the new key. The
 * embedded gateway implements exactly this script and refuses any other Lua code.
 */
export const LOWER_CASE_AUTHORITY_LUA = `function envoy_on_request(request)
  local headers = request:headers()
  local host = headers:get(":authority")
  if host ~= nil and string.find(host, "%u") ~= nil then
    headers:replace(":authority", string.lower(host))
  end
end
`;

const LOWER_CASE_AUTHORITY_FILTER = {
  name: 'envoy.filters.http.lua',
  typed_config: { '@type': TYPE_URL.lua, default_source_code: { inline_string: LOWER_CASE_AUTHORITY_LUA } },
};
const ROUTER_FILTER = { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } };

function connectionManager(
  statPrefix: string,
  routing: Record<string, unknown>,
  httpFilters: unknown[] = [ROUTER_FILTER],
): Record<string, unknown> {
  return {
    '@type': TYPE_URL.httpConnectionManager,
    stat_prefix: statPrefix,
    codec_type: 'AUTO',
    strip_any_host_port: true,
    ...routing,
    upgrade_configs: [{ upgrade_type: 'websocket' }],
    http_filters: httpFilters,
  };
}

/**
 * How the scope key starts: 'labels' (translate's): the host's first two labels, one scope per
 * Knative virtual host; 'host': the whole host before any `:port`, one scope per host, for hosts
 * of any shape (the KIngress controller's).
 */
export type ScopeKey = 'labels' | 'host';

function scopedRouting(listener: string, scopeKey: ScopeKey): Record<string, unknown> {
  const label = (index: number) => ({ header_value_extractor: { name: ':authority', element_separator: '.', index } });
  const host =
    scopeKey === 'labels'
      ? [label(0), label(1)]
      : [{ header_value_extractor: { name: ':authority', element_separator: ':', index: 0 } }];
  return {
    scoped_routes: {
      name: listener,
      scope_key_builder: { fragments: [...host, { header_value_extractor: { name: H_GATEHOUSE_LISTENER, index: 0 } }] },
      rds_config_source: ADS,
      scoped_rds: { scoped_rds_config_source: ADS },
    },
    // Once per listener rather than per virtual host: the listener's name for the scope key, and
    // the activator's header, which no client may send.
    early_header_mutation_extensions: [
      {
        name: 'envoy.http.early_header_mutation.header_mutation',
        typed_config: {
          '@type': TYPE_URL.earlyHeaderMutation,
          mutations: [
            {
              append: {
                header: { key: H_GATEHOUSE_LISTENER, value: listener },
                append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
              },
            },
            { remove: H_PROXY_REQUEST },
          ],
        },
      },
    ],
  };
}

export interface IngressOptions {
  routing?: RouteMode;
  scopeKey?: ScopeKey;
}

/**
 * The HTTP connection manager of the ingress listener `name` (scoped routes keyed by host unless
 * told). The external one is the edge: use_remote_address makes Envoy (and the embedded gateway)
 * append the client's address to X-Forwarded-For and overwrite X-Forwarded-Proto / X-Request-Id
 * sent from outside. The cluster-local one is called by services inside, whose request ids must
 * flow through.
 */
export function ingressConnectionManager(
  name: string,
  { routing = 'scoped', scopeKey = 'host' }: IngressOptions = {},
): Record<string, unknown> {
  // Plain RDS needs no Lua: Envoy lower-cases the host when it picks a virtual host.
  const hcm =
    routing === 'single'
      ? connectionManager(name, { rds: { route_config_name: name, config_source: ADS } })
      : connectionManager(name, scopedRouting(name, scopeKey), [LOWER_CASE_AUTHORITY_FILTER, ROUTER_FILTER]);
  return name === LISTENER_EXTERNAL || name === LISTENER_EXTERNAL_TLS
    ? { ...hcm, use_remote_address: { value: true } }
    : hcm;
}

function ingressListener(name: string, address: string, port: number, options: IngressOptions): EnvoyResource {
  return {
    name,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: ingressConnectionManager(name, options),
          },
        ],
      },
    ],
  };
}

export function ingressListeners(listeners: GatewayListeners, options: IngressOptions = {}): EnvoyResource[] {
  return [
    ingressListener(LISTENER_EXTERNAL, listeners.address, listeners.externalPort, options),
    ingressListener(LISTENER_LOCAL, listeners.address, listeners.localPort, options),
  ];
}

/** One certificate and the SNI server names it is served for. */
export interface TlsChain {
  serverNames: string[];
  /** PEM. */
  certificateChain: string;
  privateKey: string;
}

/**
 * The external HTTPS listener, shaped as Kourier's (and Envoy's SNI FAQ): the TLS inspector reads
 * the SNI, and each certificate has a filter chain matching its server names with its own
 * DownstreamTlsContext; every chain runs the same connection manager. Envoy refuses a listener
 * without filter chains, so there is none while no host has a certificate.
 */
export function httpsListener(
  address: string,
  port: number,
  chains: TlsChain[],
  options: IngressOptions = {},
): EnvoyResource {
  const hcm = [
    {
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: ingressConnectionManager(LISTENER_EXTERNAL_TLS, options),
    },
  ];
  return {
    name: LISTENER_EXTERNAL_TLS,
    address: { socket_address: { address, port_value: port } },
    listener_filters: [
      { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TYPE_URL.tlsInspector } },
    ],
    filter_chains: chains.map((c) => ({
      filter_chain_match: { server_names: c.serverNames },
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': TYPE_URL.downstreamTlsContext,
          common_tls_context: {
            alpn_protocols: ['h2', 'http/1.1'],
            tls_certificates: [
              {
                certificate_chain: { inline_string: c.certificateChain },
                private_key: { inline_string: c.privateKey },
              },
            ],
          },
        },
      },
      filters: hcm,
    })),
  };
}

/**
 * A Listener named after the host a gRPC client dials as `xds:///host`, routed by a RouteConfiguration holding that
 * host.
 */
export function apiListener(host: string, routeConfigName: string): EnvoyResource {
  return {
    name: host,
    api_listener: {
      api_listener: connectionManager(host, { rds: { route_config_name: routeConfigName, config_source: ADS } }),
    },
  };
}

/** Sends `host` on `listener` to `routeConfigName` (scope key 'host'). */
export function scopedRoute(name: string, host: string, listener: string, routeConfigName: string): EnvoyResource {
  return {
    name,
    route_configuration_name: routeConfigName,
    key: { fragments: [{ string_key: host }, { string_key: listener }] },
  };
}

/**
 * Sends hosts whose first two labels are `labels` (`name.namespace`) on `listener` to `routeConfigName` (scope key
 * 'labels').
 */
export function labelScopedRoute(
  name: string,
  labels: string,
  listener: string,
  routeConfigName: string,
): EnvoyResource {
  const dot = labels.indexOf('.');
  return {
    name,
    route_configuration_name: routeConfigName,
    key: {
      fragments: [
        { string_key: labels.slice(0, dot) },
        { string_key: labels.slice(dot + 1) },
        { string_key: listener },
      ],
    },
  };
}

/**
 * One RouteConfiguration per listener (routing 'single'): the virtual hosts of every route, and the activator's header
 * removed.
 */
export function listenerRouteConfig(listener: string, virtualHosts: EnvoyResource[]): EnvoyResource {
  return { name: listener, virtual_hosts: virtualHosts, request_headers_to_remove: [H_PROXY_REQUEST] };
}
