// The embedded gateway: an Envoy-compatible xDS client of the gatehouse control server that binds
// the Listeners it is given and proxies by their routes. Each update is applied as the changes the
// xDS client reports (resources new or changed, names removed), so its cost follows the change, not
// the thousands of routes held; a rejected one is NACKed with the field paths and changes nothing:
// the last good config keeps serving, also while the xDS server is away.
//
//   const gw = await startGateway({ xds: '127.0.0.1:18000', nodeId: 'gatehouse-gateway', log });
//   await gw.ready;                      // listeners bound from an accepted config
//   gw.listenerPorts();                  // Map: listener name → bound port
//   await gw.close();
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from '../log/logger.js';
import { createAutoCodecServer, listen, type AutoCodecServer } from '../http/auto-codec.js';
import { DeadlineTicker } from '../http/deadlines.js';
import type { ExchangeSettings } from '../http/exchange.js';
import { httpLimitsFromEnv, type HttpLimits } from '../http/limits.js';
import { AdsClient, type AdsClientStatus, type XdsClientTls, type XdsProtocol } from '../xds/client/ads-client.js';
import { GATEWAY_NODE_CLUSTER } from '../envoy/node-role.js';
import { TYPE_URL } from '../envoy/protos.js';
import { assignmentEndpoints, compileCluster, type ClusterConfig, type Endpoint } from './compile-cluster.js';
import { ConfigErrors } from './compile-errors.js';
import { compileListener, type ListenerConfig } from './compile-listener.js';
import { compileRouteConfiguration, type RouteTable } from './compile-routes.js';
import { ScopeIndex, type ScopeEntry } from './compile-scopes.js';
import { Drainer } from '../http/drain.js';
import { handleRequest, handleUpgrade, type GatewayConfig } from './proxy.js';
import { RefCounts } from './ref-counts.js';
import { createTlsFront, useFallback } from './tls-front.js';
import { ClusterRuntime, UpstreamPools } from './upstreams.js';

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

/** How long the connections of a listener that LDS removed may finish what they are doing. */
const REMOVED_LISTENER_GRACE_MS = 5000;

export interface Gateway {
  /** Resolves once every listener of the first accepted LDS update is bound. */
  ready: Promise<void>;
  listenerPorts(): Map<string, number>;
  status(): GatewayStatus;
  /**
   * Knative's drain: keeps serving until `quietMs` pass without a new request (each request starts the wait over),
   * so that what routing still sends here is answered; then `close` stops listening.
   */
  drain(quietMs: number): Promise<void>;
  /** Whether drain has started. */
  readonly draining: boolean;
  /** Stops listening; the requests in flight get up to `graceMs` (default 0) to be answered, then are cut. */
  close(graceMs?: number): Promise<void>;
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

/**
 * Compiles the resources an update changed. Any error refuses the whole update (the caller NACKs
 * with the message and keeps what it holds); otherwise the compiled resources by name.
 */
function compileChanged<R, T extends { name: string }>(
  changed: ReadonlyMap<string, R>,
  compile: (r: R, errors: ConfigErrors) => T | undefined,
  kind: string,
): Map<string, T> | string {
  const errors = new ConfigErrors();
  const compiled = new Map<string, T>();
  for (const [name, r] of changed) {
    const value = compile(r, errors);
    if (!value) continue;
    if (value.name !== name)
      errors.add(`${kind} ${value.name}.name`, `differs from the name '${name}' it was sent under`);
    compiled.set(name, value);
  }
  return errors.empty ? compiled : errors.toString();
}

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const log = o.log;
  // Each accepted update changes these in place, at the cost of what it changed; an update is
  // compiled and checked whole before any of it is applied, so a refused one changes nothing.
  // A request reads them once, synchronously, when it picks its route and cluster.
  const listenerConfigs = new Map<string, ListenerConfig>();
  const routeTables = new Map<string, RouteTable>();
  const scopes = new ScopeIndex();
  const clusterConfigs = new Map<string, ClusterConfig>();
  const clusters = new Map<string, ClusterRuntime>();
  /** EDS name → its ClusterLoadAssignment's endpoints, and the clusters that use it. */
  const assignments = new Map<string, Endpoint[]>();
  const clustersByEds = new Map<string, Set<string>>();
  /** RDS names wanted: each listener's own, and each SRDS scope's while a listener uses scoped_rds. */
  const routeNames = new RefCounts();
  let usesSrds = false;
  const pools = new UpstreamPools();
  const bound = new Map<string, BoundListener>();
  const config: GatewayConfig = { routeTables, scopes, clusters };
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let closed = false;
  /** Set once draining starts: every request then restarts its quiet period. */
  let drainer: Drainer | undefined;

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

  /** Applies changes to the RDS names wanted: subscribes to the new ones and forgets the tables of the dropped. */
  const changeRouteNames = (add: Iterable<string>, remove: Iterable<string>): void => {
    // Added first, so that a name both added and removed (a scope replaced) never counts zero.
    const wanted = new Set<string>();
    const unwanted: string[] = [];
    for (const n of add) if (routeNames.add(n)) wanted.add(n);
    for (const n of remove) if (routeNames.remove(n) && !wanted.delete(n)) unwanted.push(n);
    for (const n of unwanted) routeTables.delete(n);
    ads.changeNames(TYPE_URL.route, wanted, unwanted);
  };
  const scopeRoutes = (list: Iterable<ScopeEntry>): string[] =>
    [...list].flatMap((s) => (s.routeConfigName === undefined ? [] : [s.routeConfigName]));
  /** A listener's own RDS names: its rds name and those its inline scopes point at. */
  const listenerRoutes = (l: ListenerConfig): string[] => [
    ...(l.routeConfigName === undefined ? [] : [l.routeConfigName]),
    ...(l.scoped?.inlineScopes ? scopeRoutes(l.scoped.inlineScopes.byName.values()) : []),
  ];

  /** Brings a cluster's runtime in line with its config and endpoints; an unchanged one keeps its round robin. */
  const refreshCluster = (name: string): void => {
    const c = clusterConfigs.get(name);
    const previous = clusters.get(name);
    if (!c) {
      clusters.delete(name);
      if (previous) pools.release(previous.endpoints);
      return;
    }
    const assigned = c.edsName === undefined ? c.staticEndpoints : (assignments.get(c.edsName) ?? NO_ENDPOINTS);
    if (previous && previous.config === c && previous.assigned === assigned) return;
    clusters.set(
      name,
      new ClusterRuntime(
        c,
        assigned,
        assigned.map((e) => pools.acquire(e, c)),
      ),
    );
    if (previous) pools.release(previous.endpoints);
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
      (req, res) => {
        drainer?.touch();
        handleRequest(entry.config, config, exchangeSettings, req, res);
      },
      (req, socket, head) => {
        drainer?.touch();
        handleUpgrade(entry.config, config, req, socket, head);
      },
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

  // A listener removed by LDS stops accepting; its open connections get a while to finish what they are doing.
  const unbind = (entry: BoundListener): void => {
    void entry.binding.then(() => entry.server?.shutDown(entry.listening!, REMOVED_LISTENER_GRACE_MS));
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

  ads.subscribe(TYPE_URL.cluster, [], ({ changed, removed }) => {
    const compiled = compileChanged(changed, compileCluster, 'Cluster');
    if (typeof compiled === 'string') return compiled;
    const edsAdded: string[] = [];
    const edsLeft: string[] = [];
    for (const name of [...removed, ...compiled.keys()]) {
      const eds = clusterConfigs.get(name)?.edsName;
      if (eds === undefined) continue;
      clustersByEds.get(eds)?.delete(name);
      edsLeft.push(eds);
    }
    for (const name of removed) clusterConfigs.delete(name);
    for (const [name, c] of compiled) {
      clusterConfigs.set(name, c);
      if (c.edsName === undefined) continue;
      const users = clustersByEds.get(c.edsName);
      if (users) users.add(name);
      else {
        clustersByEds.set(c.edsName, new Set([name]));
        edsAdded.push(c.edsName);
      }
    }
    // An EDS name no cluster uses any more: unsubscribed, its endpoints forgotten.
    const edsDropped = edsLeft.filter((eds) => clustersByEds.get(eds)?.size === 0);
    for (const eds of edsDropped) {
      clustersByEds.delete(eds);
      assignments.delete(eds);
    }
    ads.changeNames(TYPE_URL.endpoint, edsAdded, edsDropped);
    for (const name of [...removed, ...compiled.keys()]) refreshCluster(name);
    return undefined;
  });
  ads.subscribe(TYPE_URL.endpoint, [], ({ changed, removed }) => {
    for (const name of removed) assignments.delete(name);
    for (const [name, cla] of changed) assignments.set(name, assignmentEndpoints(cla));
    for (const name of [...removed, ...changed.keys()])
      for (const cluster of clustersByEds.get(name) ?? []) refreshCluster(cluster);
    return undefined;
  });
  ads.subscribe(TYPE_URL.listener, [], ({ changed, removed }) => {
    const compiled = compileChanged(changed, compileListener, 'Listener');
    if (typeof compiled === 'string') return compiled;
    const leaving = [...removed, ...compiled.keys()].flatMap((n) => {
      const l = listenerConfigs.get(n);
      return l ? listenerRoutes(l) : [];
    });
    for (const name of removed) listenerConfigs.delete(name);
    for (const [name, l] of compiled) listenerConfigs.set(name, l);
    const coming = [...compiled.values()].flatMap(listenerRoutes);
    // SRDS: one wildcard subscription whose scopes every scoped_rds listener shares, as in Envoy.
    const nowSrds = [...listenerConfigs.values()].some((l) => l.scoped && !l.scoped.inlineScopes);
    if (nowSrds !== usesSrds) (nowSrds ? coming : leaving).push(...scopeRoutes(scopes.byName.values()));
    usesSrds = nowSrds;
    changeRouteNames(coming, leaving);
    if (!closed) syncListeners();
    return undefined;
  });
  ads.subscribe(TYPE_URL.scopedRoute, [], ({ changed, removed }) => {
    const errors = new ConfigErrors();
    const { left, came } = scopes.apply(changed, removed, errors);
    if (!errors.empty) return errors.toString();
    if (usesSrds) changeRouteNames(scopeRoutes(came), scopeRoutes(left));
    return undefined;
  });
  ads.subscribe(TYPE_URL.route, [], ({ changed, removed }) => {
    const compiled = compileChanged(changed, compileRouteConfiguration, 'RouteConfiguration');
    if (typeof compiled === 'string') return compiled;
    for (const name of removed) routeTables.delete(name);
    for (const [name, table] of compiled) routeTables.set(name, table);
    return undefined;
  });
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
      clusters: [...clusters.values()].map((c) => ({ name: c.config.name, endpoints: c.endpoints.length })),
      routeConfigurations: [...routeTables.keys()],
      scopes: scopes.byName.size,
    }),
    drain(quietMs) {
      drainer ??= new Drainer(quietMs);
      return drainer.drain();
    },
    get draining() {
      return drainer !== undefined;
    },
    async close(graceMs = 0) {
      closed = true;
      ads.close();
      const servers = [...bound.values()];
      bound.clear();
      await Promise.all(servers.map((b) => b.binding));
      await Promise.all(servers.flatMap((b) => (b.server ? [b.server.shutDown(b.listening!, graceMs)] : [])));
      await pools.close();
    },
  };
}
