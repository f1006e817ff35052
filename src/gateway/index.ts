// The embedded gateway: an Envoy-compatible xDS client of the gatehouse control server that binds
// the Listeners it is given and proxies by their routes. Every accepted update becomes one
// immutable GatewayConfig; a rejected one is NACKed with the field paths and the last good config
// keeps serving, also while the xDS server is away.
//
//   const gw = await startGateway({ xds: '127.0.0.1:18000', nodeId: 'gatehouse-gateway', log });
//   await gw.ready;                      // listeners bound from an accepted config
//   gw.listenerPorts();                  // Map: listener name → bound port
//   await gw.close();
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from '../log/logger.js';
import { closeServer, createAutoCodecServer, listen, type AutoCodecServer } from '../http/auto-codec.js';
import { DeadlineTicker } from '../http/deadlines.js';
import type { ExchangeSettings } from '../http/exchange.js';
import { httpLimitsFromEnv, type HttpLimits } from '../http/limits.js';
import { AdsClient, type AdsClientStatus, type XdsClientTls, type XdsProtocol } from '../xds/client/ads-client.js';
import { GATEWAY_NODE_CLUSTER } from '../envoy/node-role.js';
import type * as envoy from '../envoy/envoy-types.js';
import { TYPE_URL } from '../envoy/protos.js';
import { assignmentEndpoints, compileCluster, type ClusterConfig, type Endpoint } from './compile-cluster.js';
import { ConfigErrors } from './compile-errors.js';
import { compileListener, type ListenerConfig } from './compile-listener.js';
import { compileRouteConfiguration, type RouteTable } from './compile-routes.js';
import { compileScopes, EMPTY_SCOPES, type ScopeSet } from './compile-scopes.js';
import { handleRequest, handleUpgrade, type GatewayConfig } from './proxy.js';
import { createTlsFront, useFallback } from './tls-front.js';
import { ClusterRuntime, UpstreamPools, type UpstreamEndpoint } from './upstreams.js';

export { GATEWAY_NODE_CLUSTER } from '../envoy/node-role.js';
const NO_ENDPOINTS: readonly Endpoint[] = [];

export interface GatewayOptions {
  /** host:port of the xDS server. */
  xds: string;
  nodeId: string;
  nodeCluster?: string;
  /** xDS transport: 'delta' (default) or 'sotw'. */
  protocol?: XdsProtocol;
  /** Listener limits; GATEHOUSE_* environment variables by default. */
  limits?: HttpLimits;
  /** TLS (and mutual TLS) to the xDS server. */
  xdsTls?: XdsClientTls;
  log: Logger;
}

export interface GatewayStatus {
  nodeId: string;
  xds: AdsClientStatus;
  listeners: Array<{ name: string; address: string; port: number | undefined; error?: string }>;
  clusters: Array<{ name: string; endpoints: number }>;
  /** Names of the RouteConfigurations held (RDS). */
  routeConfigurations: string[];
  /** How many ScopedRouteConfigurations (SRDS) are held. */
  scopes: number;
}

export interface Gateway {
  /** Resolves once every listener of the first accepted LDS update is bound. */
  ready: Promise<void>;
  listenerPorts(): Map<string, number>;
  status(): GatewayStatus;
  close(): Promise<void>;
}

interface BoundListener {
  config: ListenerConfig;
  server: AutoCodecServer | undefined;
  /** The socket that listens: the TLS front for a TLS listener, else the auto-codec's own. */
  listening: net.Server | undefined;
  port: number | undefined;
  error: string | undefined;
  binding: Promise<void>;
}

function sameNames(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const n of a) if (!b.has(n)) return false;
  return a.size === b.size;
}

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const log = o.log;
  // Each accepted update replaces these maps whole (never mutated afterwards), so a GatewayConfig
  // can share them without copying.
  let listenerConfigs: ReadonlyMap<string, ListenerConfig> = new Map();
  let routeTables: ReadonlyMap<string, RouteTable> = new Map();
  let scopes: ScopeSet = EMPTY_SCOPES;
  let clusterConfigs: ReadonlyMap<string, ClusterConfig> = new Map();
  const assignments = new Map<string, Endpoint[]>();
  const pools = new UpstreamPools();
  const bound = new Map<string, BoundListener>();
  let config: GatewayConfig = { routeTables, scopes, clusters: new Map() };
  let routeNames: ReadonlySet<string> = new Set();
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let closed = false;

  const limits = o.limits ?? httpLimitsFromEnv();
  const exchangeSettings: ExchangeSettings = {
    ticker: new DeadlineTicker(50),
    bodyIdleTimeoutMs: limits.bodyIdleTimeoutMs,
    drainMs: limits.drainMs,
  };

  const ads = new AdsClient({
    target: o.xds,
    node: { id: o.nodeId, cluster: o.nodeCluster ?? GATEWAY_NODE_CLUSTER },
    protocol: o.protocol,
    ...(o.xdsTls ? { tls: o.xdsTls } : {}),
    log,
  });

  /** A new config after an accepted RDS or SRDS update (clusters unchanged); requests in flight keep the old one. */
  const publishRoutes = (): void => {
    config = { routeTables, scopes, clusters: config.clusters };
  };

  /** RDS names: every bound listener's rds name and every name its scopes (inline, or the SRDS set) point at. */
  const updateRouteNames = (): void => {
    const names = new Set<string>();
    let usesSrds = false;
    for (const l of listenerConfigs.values()) {
      if (l.routeConfigName !== undefined) names.add(l.routeConfigName);
      if (!l.scoped) continue;
      if (!l.scoped.inlineScopes) usesSrds = true;
      else for (const s of l.scoped.inlineScopes.all) if (s.routeConfigName !== undefined) names.add(s.routeConfigName);
    }
    if (usesSrds) for (const s of scopes.all) if (s.routeConfigName !== undefined) names.add(s.routeConfigName);
    if (names.size === routeNames.size && sameNames(names, routeNames)) return;
    routeNames = names;
    ads.setNames(TYPE_URL.route, [...names]);
  };

  /** Rebuilds the lookup structures after an accepted CDS or EDS update; requests in flight keep the old ones. */
  const rebuild = (): void => {
    const clusters = new Map<string, ClusterRuntime>();
    const inUse = new Set<UpstreamEndpoint>();
    for (const [name, c] of clusterConfigs) {
      const assigned = c.edsName === undefined ? c.staticEndpoints : (assignments.get(c.edsName) ?? NO_ENDPOINTS);
      const previous = config.clusters.get(name);
      // Unchanged clusters keep their runtime (and its round-robin position).
      const runtime =
        previous && previous.config === c && previous.assigned === assigned
          ? previous
          : new ClusterRuntime(
              c,
              assigned,
              assigned.map((e) => pools.endpoint(e, c)),
            );
      for (const e of runtime.endpoints) inUse.add(e);
      clusters.set(name, runtime);
    }
    pools.retainOnly(inUse);
    config = { routeTables, scopes, clusters };
  };

  const bindListener = (l: ListenerConfig): BoundListener => {
    const entry: BoundListener = {
      config: l,
      server: undefined,
      listening: undefined,
      port: undefined,
      error: undefined,
      binding: Promise.resolve(),
    };
    const server = createAutoCodecServer(
      (req, res) => handleRequest(entry.config, config, exchangeSettings, req, res),
      (req, socket, head) => handleUpgrade(entry.config, config, req, socket, head),
      { limits, name: `gateway listener ${l.name}`, log },
    );
    // The certificates are read from entry.config at each handshake, so new ones need no new socket.
    const listening = l.tls
      ? createTlsFront(server.front, () => entry.config.tls, limits.headersTimeoutMs)
      : server.front;
    entry.binding = listen(listening, l.port, l.address).then(
      (port) => {
        entry.server = server;
        entry.listening = listening;
        entry.port = port;
        log.info('gateway listener bound', { listener: l.name, address: l.address, port });
      },
      (err: Error) => {
        entry.error = `cannot listen on ${l.address}:${l.port}: ${err.message}`;
        log.error('gateway listener failed', { listener: l.name, error: entry.error });
      },
    );
    return entry;
  };

  const unbind = (entry: BoundListener): void => {
    void entry.binding.then(() => {
      if (!entry.server) return;
      // Stop accepting; let open connections finish what they are doing.
      void closeServer(entry.listening!);
      if (entry.listening !== entry.server.front) void closeServer(entry.server.front);
      entry.server.h1.closeIdleConnections();
      setTimeout(() => {
        for (const s of entry.server!.sockets) s.destroy();
      }, 5000).unref();
    });
  };

  const syncListeners = (): void => {
    for (const [name, entry] of bound) {
      const wanted = listenerConfigs.get(name);
      if (
        wanted &&
        wanted.port === entry.config.port &&
        wanted.address === entry.config.address &&
        !wanted.tls === !entry.config.tls
      ) {
        entry.config = wanted; // same socket, new routing settings (and certificates)
        if (wanted.tls && entry.listening) useFallback(entry.listening as tls.Server, wanted.tls);
        continue;
      }
      bound.delete(name);
      unbind(entry);
    }
    for (const [name, l] of listenerConfigs) if (!bound.has(name)) bound.set(name, bindListener(l));
    void Promise.all([...bound.values()].map((b) => b.binding)).then(() => {
      if (bound.size > 0) markReady();
    });
  };

  /**
   * The xDS handler for one type: compile every resource; any error NACKs the whole update and
   * keeps what was accepted before; otherwise `accepted` gets the new map (by name).
   */
  const replaceAll =
    <R, T>(
      compile: (r: R, errors: ConfigErrors) => [string, T] | undefined,
      accepted: (next: Map<string, T>) => void,
    ) =>
    (resources: R[]) => {
      const errors = new ConfigErrors();
      const next = new Map<string, T>();
      for (const r of resources) {
        const entry = compile(r, errors);
        if (entry) next.set(entry[0], entry[1]);
      }
      if (!errors.empty) return errors.toString();
      accepted(next);
      return undefined;
    };
  const named = <T extends { name: string }>(value: T | undefined): [string, T] | undefined =>
    value && [value.name, value];

  ads.subscribe(
    TYPE_URL.cluster,
    [],
    replaceAll(
      (r: envoy.Cluster, errors) => named(compileCluster(r, errors)),
      (next) => {
        clusterConfigs = next;
        const edsNames = new Set(
          [...clusterConfigs.values()].flatMap((c) => (c.edsName === undefined ? [] : [c.edsName])),
        );
        for (const name of [...assignments.keys()]) if (!edsNames.has(name)) assignments.delete(name);
        ads.setNames(TYPE_URL.endpoint, [...edsNames]);
        rebuild();
      },
    ),
  );
  ads.subscribe(TYPE_URL.endpoint, [], (resources) => {
    for (const cla of resources) assignments.set(String(cla.cluster_name), assignmentEndpoints(cla));
    rebuild();
    return undefined;
  });
  ads.subscribe(
    TYPE_URL.listener,
    [],
    replaceAll(
      (r: envoy.Listener, errors) => named(compileListener(r, errors)),
      (next) => {
        listenerConfigs = next;
        updateRouteNames();
        if (!closed) syncListeners();
      },
    ),
  );
  // SRDS: one wildcard subscription whose scopes every scoped_rds listener shares, as in Envoy.
  ads.subscribe(TYPE_URL.scopedRoute, [], (resources) => {
    const errors = new ConfigErrors();
    const next = compileScopes(resources, errors);
    if (!errors.empty) return errors.toString();
    scopes = next;
    updateRouteNames();
    publishRoutes();
    return undefined;
  });
  ads.subscribe(
    TYPE_URL.route,
    [],
    replaceAll(
      (r: envoy.RouteConfiguration, errors) => named(compileRouteConfiguration(r, errors)),
      (next) => {
        routeTables = next;
        publishRoutes();
      },
    ),
  );
  ads.on('connected', () => log.info('connected to the xDS server', { target: o.xds, node: o.nodeId }));
  ads.on('disconnected', () => log.warn('lost the xDS server; serving the last good config', { target: o.xds }));

  return {
    ready,
    listenerPorts: () =>
      new Map([...bound].flatMap(([name, b]) => (b.port === undefined ? [] : [[name, b.port] as [string, number]]))),
    status: () => ({
      nodeId: o.nodeId,
      xds: ads.status(),
      listeners: [...bound.values()].map((b) => ({
        name: b.config.name,
        address: b.config.address,
        port: b.port,
        ...(b.error ? { error: b.error } : {}),
      })),
      clusters: [...config.clusters.values()].map((c) => ({ name: c.config.name, endpoints: c.endpoints.length })),
      routeConfigurations: [...routeTables.keys()],
      scopes: scopes.all.length,
    }),
    async close() {
      closed = true;
      ads.close();
      const servers = [...bound.values()];
      bound.clear();
      await Promise.all(servers.map((b) => b.binding));
      for (const b of servers) {
        if (!b.server) continue;
        for (const s of b.server.sockets) s.destroy();
        await closeServer(b.listening!);
        if (b.listening !== b.server.front) await closeServer(b.server.front);
      }
      await pools.close();
    },
  };
}
