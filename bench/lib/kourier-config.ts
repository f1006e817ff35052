// The reference for bench:xds: the xDS resources net-kourier (tag knative-v1.12.3, the Knative
// release gatehouse follows) generates for the same desired state, so that bytes and time are
// compared in one run against what a Kourier gateway actually receives. Its shape, from
// net-kourier's pkg/generator and pkg/envoy/api at that tag:
// - per Knative Ingress rule (a route's external hosts, its cluster-local hosts, and the same per
//   traffic tag) one virtual host named `(ns/name).Rules[i]`, domains `host` and `host:*` for each
//   host; every rule's host goes into `internal_services`, external rules' also into `external_services`;
// - per path two routes: the probe route Knative's ingress.InsertProbe adds (header match
//   K-Network-Hash: override, the Ingress hash appended) and the path itself; each route a weighted
//   cluster per split with Knative-Serving-Namespace/-Revision appended, a zero timeout and
//   WebSocket upgrades enabled;
// - per split one STATIC cluster `ns/revision` with its endpoints inline (the revision's public
//   Service: pods when serving, activators when at zero), 5 s connect timeout, HTTP/2 options for h2c;
// - three listeners (external, internal, probe) with an HTTP connection manager over RDS (without the
//   access log Kourier adds by default: a few bytes per listener), and a status virtual host.
import { createHash } from 'node:crypto';
import type { DesiredState, Endpoint, RouteSpec } from '../../src/model/desired.js';
import { revisionKey, routeHosts, tagHosts } from '../../src/model/names.js';
import { noResources, type EnvoyResource, type EnvoyResources } from '../../src/envoy/resource.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { h2cProtocolOptions } from '../../src/translate/cluster.js';
import { publicEndpoints } from '../../src/translate/endpoint.js';
import { overwrite } from '../../src/translate/route.js';

export const KOURIER_ROUTE_CONFIGS = ['external_services', 'internal_services'] as const;

interface Rule {
  hosts: string[];
  external: boolean;
  splits: Array<{ revisionName: string; percent: number }>;
}

function rulesOf(route: RouteSpec, domain: string): Rule[] {
  const splits = route.traffic.filter((t) => t.percent > 0);
  const targets: Array<{ hosts: { external: string[]; local: string[] }; splits: Rule['splits'] }> = [
    { hosts: routeHosts(route.name, route.namespace, domain, route.visibility), splits },
  ];
  for (const t of route.traffic)
    if (t.tag !== undefined)
      targets.push({
        hosts: tagHosts(t.tag, route.name, route.namespace, domain, route.visibility),
        splits: [{ revisionName: t.revisionName, percent: 100 }],
      });
  return targets.flatMap(({ hosts, splits }) => [
    ...(hosts.external.length > 0 ? [{ hosts: hosts.external, external: true, splits }] : []),
    { hosts: hosts.local, external: false, splits },
  ]);
}

function kourierRoute(name: string, namespace: string, rule: Rule, probeHash?: string): EnvoyResource {
  return {
    name,
    match: {
      prefix: '/',
      headers: probeHash === undefined ? [] : [{ name: 'K-Network-Hash', string_match: { exact: 'override' } }],
    },
    route: {
      weighted_clusters: {
        clusters: rule.splits.map((s) => ({
          name: `${namespace}/${s.revisionName}`,
          weight: { value: s.percent },
          request_headers_to_add: [
            overwrite('Knative-Serving-Namespace', namespace),
            overwrite('Knative-Serving-Revision', s.revisionName),
          ],
        })),
      },
      timeout: {},
      upgrade_configs: [{ upgrade_type: 'websocket', enabled: { value: true } }],
    },
    request_headers_to_add: probeHash === undefined ? [] : [overwrite('K-Network-Hash', probeHash)],
  };
}

function staticCluster(name: string, endpoints: Endpoint[], h2c: boolean): EnvoyResource {
  const cluster: EnvoyResource = {
    name,
    type: 'STATIC',
    connect_timeout: { seconds: 5 },
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: endpoints.map((e) => ({
            endpoint: {
              address: { socket_address: { address: e.host, port_value: e.port, ipv4_compat: true } },
            },
          })),
        },
      ],
    },
  };
  if (h2c) cluster.typed_extension_protocol_options = h2cProtocolOptions();
  return cluster;
}

function httpListener(port: number, routeConfigName: string): EnvoyResource {
  return {
    name: `listener_${port}`,
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': TYPE_URL.httpConnectionManager,
              codec_type: 'AUTO',
              stat_prefix: 'ingress_http',
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } }],
              rds: {
                config_source: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: { seconds: 10 } },
                route_config_name: routeConfigName,
              },
              stream_idle_timeout: {},
            },
          },
        ],
      },
    ],
  };
}

/** What net-kourier (knative-v1.12.3) sends a gateway for `state`: CDS, LDS and RDS, no EDS or SRDS. */
export function kourierResources(state: DesiredState): EnvoyResources {
  const out = noResources();
  const clusters = new Map<string, EnvoyResource>();
  const external: EnvoyResource[] = [];
  const internal: EnvoyResource[] = [];
  for (const route of state.routes) {
    const hash = createHash('sha256').update(JSON.stringify(route)).digest('hex');
    rulesOf(route, state.domain).forEach((rule, i) => {
      const ruleName = `(${route.namespace}/${route.name}).Rules[${i}]`;
      const pathName = `${ruleName}.Paths[/]`;
      const vhost = {
        name: ruleName,
        domains: rule.hosts.flatMap((h) => [h, `${h}:*`]),
        routes: [kourierRoute(pathName, route.namespace, rule, hash), kourierRoute(pathName, route.namespace, rule)],
      };
      internal.push(vhost);
      if (rule.external) external.push(vhost);
      for (const split of rule.splits) {
        const name = `${route.namespace}/${split.revisionName}`;
        const revision = state.revisions.get(revisionKey(route.namespace, split.revisionName));
        if (!revision || clusters.has(name)) continue;
        clusters.set(name, staticCluster(name, publicEndpoints(revision), revision.spec.container.protocol === 'h2c'));
      }
    });
  }
  internal.push({
    name: 'internalkourier',
    domains: ['internalkourier'],
    routes: [
      {
        name: 'gateway_ready',
        match: { prefix: '/ready' },
        route: {
          weighted_clusters: { clusters: [{ name: 'service_stats', weight: { value: 100 } }] },
          timeout: { seconds: 1 },
          upgrade_configs: [{ upgrade_type: 'websocket', enabled: { value: true } }],
        },
      },
    ],
  });
  // service_stats, which the status host routes to, is in Kourier's bootstrap, not sent over xDS.
  out.clusters.push(...clusters.values());
  out.listeners.push(
    httpListener(8080, 'external_services'),
    httpListener(8081, 'internal_services'),
    httpListener(8090, 'external_services'),
  );
  out.routes.push(
    { name: 'external_services', virtual_hosts: external, validate_clusters: { value: true } },
    { name: 'internal_services', virtual_hosts: internal, validate_clusters: { value: true } },
  );
  return out;
}
