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
import type { Logger } from '../log/logger.js';
import { closeServer, createAutoCodecServer, listen, type AutoCodecServer } from '../http/auto-codec.js';
import { AdsClient, type AdsClientStatus, type DecodedResource, type XdsProtocol } from '../xds/client/ads-client.js';
import { TYPE_URL } from '../xds/protos.js';
import { assignmentEndpoints, compileCluster, compileListener, compileRouteConfiguration, ConfigErrors, type ClusterConfig, type Endpoint, type ListenerConfig, type RouteTable } from './compile.js';
import { handleRequest, handleUpgrade, type GatewayConfig } from './proxy.js';
import { ClusterRuntime, UpstreamPools, type UpstreamEndpoint } from './upstreams.js';

export const GATEWAY_NODE_CLUSTER = 'gatehouse-ingress';
const NO_ENDPOINTS: readonly Endpoint[] = [];

export interface GatewayOptions {
  /** host:port of the xDS server. */
  xds: string;
  nodeId: string;
  nodeCluster?: string;
  /** xDS transport: 'delta' (default) or 'sotw'. */
  protocol?: XdsProtocol;
  log: Logger;
}

export interface GatewayStatus {
  nodeId: string;
  xds: AdsClientStatus;
  listeners: Array<{ name: string; address: string; port: number | undefined; error?: string }>;
  clusters: Array<{ name: string; endpoints: number }>;
  routeConfigurations: string[];
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
  port: number | undefined;
  error: string | undefined;
  binding: Promise<void>;
}

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const log = o.log;
  const listenerConfigs = new Map<string, ListenerConfig>();
  const routeTables = new Map<string, RouteTable>();
  const clusterConfigs = new Map<string, ClusterConfig>();
  const assignments = new Map<string, Endpoint[]>();
  const pools = new UpstreamPools();
  const bound = new Map<string, BoundListener>();
  let config: GatewayConfig = { routeTables, clusters: new Map() };
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let closed = false;

  const ads = new AdsClient({ target: o.xds, node: { id: o.nodeId, cluster: o.nodeCluster ?? GATEWAY_NODE_CLUSTER }, protocol: o.protocol, log });

  /** Rebuilds the lookup structures after an accepted update; requests in flight keep the old ones. */
  const rebuild = (): void => {
    const clusters = new Map<string, ClusterRuntime>();
    const inUse = new Set<UpstreamEndpoint>();
    for (const [name, c] of clusterConfigs) {
      const assigned = c.edsName === undefined ? c.staticEndpoints : assignments.get(c.edsName) ?? NO_ENDPOINTS;
      const previous = config.clusters.get(name);
      // Unchanged clusters keep their runtime (and its round-robin position).
      const runtime = previous && previous.config === c && previous.assigned === assigned ? previous : new ClusterRuntime(c, assigned, assigned.map((e) => pools.endpoint(e, c)));
      for (const e of runtime.endpoints) inUse.add(e);
      clusters.set(name, runtime);
    }
    pools.retainOnly(inUse);
    config = { routeTables: new Map(routeTables), clusters };
  };

  const bindListener = (l: ListenerConfig): BoundListener => {
    const entry: BoundListener = { config: l, server: undefined, port: undefined, error: undefined, binding: Promise.resolve() };
    const server = createAutoCodecServer(
      (req, res) => handleRequest(entry.config, config, req, res),
      (req, socket, head) => handleUpgrade(entry.config, config, req, socket, head),
    );
    entry.binding = listen(server.front, l.port, l.address).then(
      (port) => {
        entry.server = server;
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
      void closeServer(entry.server.front);
      entry.server.h1.closeIdleConnections();
      setTimeout(() => {
        for (const s of entry.server!.sockets) s.destroy();
      }, 5000).unref();
    });
  };

  const syncListeners = (): void => {
    for (const [name, entry] of bound) {
      const wanted = listenerConfigs.get(name);
      if (wanted && wanted.port === entry.config.port && wanted.address === entry.config.address) {
        entry.config = wanted; // same socket, new routing settings
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
   * keeps `target` as it was; otherwise `target` is replaced and `accepted` runs.
   */
  const replaceAll = <T>(target: Map<string, T>, compile: (r: DecodedResource, errors: ConfigErrors) => [string, T] | undefined, accepted: () => void) => (resources: DecodedResource[]) => {
    const errors = new ConfigErrors();
    const next = new Map<string, T>();
    for (const r of resources) {
      const entry = compile(r, errors);
      if (entry) next.set(entry[0], entry[1]);
    }
    if (!errors.empty) return errors.toString();
    target.clear();
    for (const [k, v] of next) target.set(k, v);
    accepted();
    return undefined;
  };
  const named = <T extends { name: string }>(value: T | undefined): [string, T] | undefined => value && [value.name, value];

  ads.subscribe(
    TYPE_URL.cluster,
    [],
    replaceAll(clusterConfigs, (r, errors) => named(compileCluster(r, errors)), () => {
      const edsNames = new Set([...clusterConfigs.values()].flatMap((c) => (c.edsName === undefined ? [] : [c.edsName])));
      for (const name of [...assignments.keys()]) if (!edsNames.has(name)) assignments.delete(name);
      ads.setNames(TYPE_URL.endpoint, [...edsNames]);
      rebuild();
    }),
  );
  ads.subscribe(TYPE_URL.endpoint, [], (resources: DecodedResource[]) => {
    for (const cla of resources) assignments.set(String(cla.cluster_name), assignmentEndpoints(cla));
    rebuild();
    return undefined;
  });
  ads.subscribe(
    TYPE_URL.listener,
    [],
    replaceAll(listenerConfigs, (r, errors) => named(compileListener(r, errors)), () => {
      ads.setNames(TYPE_URL.route, [...new Set([...listenerConfigs.values()].flatMap((l) => (l.routeConfigName === undefined ? [] : [l.routeConfigName])))]);
      if (!closed) syncListeners();
    }),
  );
  ads.subscribe(TYPE_URL.route, [], replaceAll(routeTables, (r, errors) => named(compileRouteConfiguration(r, errors)), rebuild));
  ads.on('connected', () => log.info('connected to the xDS server', { target: o.xds, node: o.nodeId }));
  ads.on('disconnected', () => log.warn('lost the xDS server; serving the last good config', { target: o.xds }));

  return {
    ready,
    listenerPorts: () => new Map([...bound].flatMap(([name, b]) => (b.port === undefined ? [] : [[name, b.port] as [string, number]]))),
    status: () => ({
      nodeId: o.nodeId,
      xds: ads.status(),
      listeners: [...bound.values()].map((b) => ({ name: b.config.name, address: b.config.address, port: b.port, ...(b.error ? { error: b.error } : {}) })),
      clusters: [...config.clusters.values()].map((c) => ({ name: c.config.name, endpoints: c.endpoints.length })),
      routeConfigurations: [...routeTables.keys()],
    }),
    async close() {
      closed = true;
      ads.close();
      const servers = [...bound.values()];
      bound.clear();
      await Promise.all(servers.map((b) => b.binding));
      for (const b of servers) {
        if (!b.server) continue;
        for (const s of b.server.sockets) (s as net.Socket).destroy();
        await closeServer(b.server.front);
      }
      await pools.close();
    },
  };
}
