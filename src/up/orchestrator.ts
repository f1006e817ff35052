// `gatehouse up`: every part on one machine. The config file feeds the controller; its revisions
// run as local pods scaled by the KPA; the desired state is translated and pushed over xDS to the
// embedded gateway (and any Envoy), the activator learns revisions from the same server, and the
// prober confirms each route's hash on every gateway before the route counts as Ready. This file
// starts and wires the parts; the reconcile loop's state and passes are reconciler.ts's.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { confirmActivatorInPath } from '../autoscaler/activator-probe.js';
import { Multiscaler } from '../autoscaler/multiscaler.js';
import { KNATIVE_DEFAULTS, type GlobalAutoscalerConfig } from '../model/autoscaling.js';
import { startStatReceiver, type StatReceiver } from '../autoscaler/stat-receiver.js';
import { ConfigError, loadConfigFile, type ParseCache, type ResourceConfig } from '../config/load.js';
import { Controller } from '../control/controller.js';
import { startGateway, type Gateway } from '../gateway/index.js';
import { probeGet } from '../http/probe.js';
import type { Logger } from '../log/logger.js';
import type { Endpoint } from '../model/desired.js';
import { namespacedName, revisionKey } from '../model/names.js';
import { gatewayVerdict, SERVING_TYPES, type GatewayPolicy } from '../prober/gateway-nodes.js';
import { Prober, type GatewayTarget } from '../prober/prober.js';
import { LocalProcessRuntime } from '../runtime/index.js';
import { IncrementalTranslator } from '../translate/incremental.js';
import type { RouteMode } from '../translate/route-resources.js';
import type { XdsClientTls } from '../xds/client/ads-client.js';
import { startXdsServer, type StreamLimits, type XdsServer, type XdsServerTls } from '../xds/index.js';
import { TYPE_URL } from '../envoy/protos.js';
import type { NodeRole } from '../envoy/node-role.js';
import { noResources } from '../envoy/resource.js';
import { startAdmin, type Admin } from './admin.js';
import { superviseChild, type SupervisedChild } from './child.js';
import { History } from './history.js';
import { checkPortsFree, PortInUseError, portInUse, type PortClaim } from './ports.js';
import { UpReconciler } from './reconciler.js';
import { buildStatus, revisionStatuses, type UpStatus } from './status.js';

export interface UpOptions {
  file: string;
  gatewayPort: number;
  localGatewayPort: number;
  xdsPort: number;
  /** The xDS server's bind address (default loopback), limits and TLS. */
  xds?: { host?: string; limits?: Partial<StreamLimits>; tls?: XdsServerTls };
  /** How the embedded gateway and the activators reach the xDS server over TLS (required with mutual TLS). */
  xdsClientTls?: XdsClientTls;
  /** Node ids of other gateways (e.g. Envoy) the prober waits on; see src/prober/gateway-nodes.ts. */
  gatewayNodes?: string[];
  adminPort: number;
  domain: string;
  /** false: no embedded gateway; Envoy (envoy/bootstrap.yaml) is the ingress. */
  embeddedGateway: boolean;
  drainQuietSeconds: number;
  /** Autoscaler tick (Knative: 2 s). */
  tickMs: number;
  /** How many activator processes (default 2). */
  activators?: number;
  /** 'scoped' (default) or 'single': one RouteConfiguration per listener (plain RDS). */
  routing?: RouteMode;
  /** Pods booting at once (default: the core count). */
  maxBootingPods?: number;
  /** Queue-proxies kept booted ahead of cold starts (default: maxBootingPods). */
  queueStandby?: number;
  /** Niceness added for every pod process (default 10). */
  podNiceness?: number;
  /** config-autoscaler overrides (Knative's defaults otherwise), e.g. scaleToZeroGracePeriodMs. */
  autoscaler?: Partial<GlobalAutoscalerConfig>;
  log: Logger;
}

export interface Up {
  gatewayPort: number | undefined;
  localGatewayPort: number | undefined;
  xdsPort: number;
  adminPort: number;
  activatorPorts: number[];
  /** Pids of the activator processes, for operators (and tests that restart one). */
  activatorPids(): Array<number | undefined>;
  status(): UpStatus;
  /** One route, cheaply: the revisions it sends to as programmed, and whether every gateway confirmed it. */
  route(namespace: string, name: string): { revisions: string[]; ready: boolean } | undefined;
  /** Resolves when every route is Ready (or rejects after timeoutMs). */
  whenReady(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

const EMBEDDED_GATEWAY_ID = 'gatehouse-gateway';
/** When up stops, how long a request in flight has to be answered before it is cut (Kubernetes' default grace). */
const STOP_GRACE_MS = 30_000;

/** Where local clients reach a server bound to `host`: a wildcard address is reached on loopback. */
export function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export async function startUp(o: UpOptions): Promise<Up> {
  const log = o.log;
  const file = path.resolve(o.file);
  const autoscalerConfig: GlobalAutoscalerConfig = { ...KNATIVE_DEFAULTS, ...o.autoscaler };
  const parseCache: ParseCache = new Map();
  // A bad file at start-up is fatal.
  let resources: ResourceConfig[] = loadConfigFile(file, autoscalerConfig, parseCache);
  let configError: string | undefined;
  const controller = new Controller();
  const translator = new IncrementalTranslator(
    o.domain,
    { externalPort: o.gatewayPort, localPort: o.localGatewayPort, address: '127.0.0.1' },
    { routing: o.routing ?? 'scoped' },
  );

  // Every fixed port is checked before anything starts, and a start that fails later stops
  // whatever it had started (undone in reverse; once `shutdown` exists, that does it all).
  const claims: PortClaim[] = [
    { port: o.xdsPort, flag: '--xds-port' },
    { port: o.adminPort, flag: '--admin-port' },
    ...(o.embeddedGateway
      ? [
          { port: o.gatewayPort, flag: '--gateway-port' },
          { port: o.localGatewayPort, flag: '--local-gateway-port' },
        ]
      : []),
  ];
  await checkPortsFree(claims);
  const undoOnFailure: Array<() => Promise<void>> = [];
  const failStart = async (err: unknown): Promise<never> => {
    for (const undo of undoOnFailure.reverse()) await undo().catch(() => {});
    throw err;
  };
  const xds: XdsServer = await startXdsServer({ port: o.xdsPort, groupBy: 'role', log, ...o.xds }).catch((err: Error) =>
    failStart(listenError(err, o.xdsPort, claims)),
  );
  const xdsTarget = `${connectHost(xds.host)}:${xds.port}`;
  const clientTlsArgs = o.xdsClientTls
    ? [
        '--xds-ca',
        o.xdsClientTls.ca,
        ...(o.xdsClientTls.cert ? ['--xds-cert', o.xdsClientTls.cert, '--xds-key', o.xdsClientTls.key!] : []),
      ]
    : [];
  const gatewayPolicy: GatewayPolicy = {
    mutualTls: xds.security === 'mtls',
    named: new Set(o.gatewayNodes ?? []),
    embeddedId: EMBEDDED_GATEWAY_ID,
  };
  undoOnFailure.push(() => xds.close());
  const runtime = new LocalProcessRuntime({
    baseDir: path.dirname(file),
    drainQuietSeconds: o.drainQuietSeconds,
    maxBootingPods: o.maxBootingPods,
    queueStandby: o.queueStandby,
    podNiceness: o.podNiceness,
    log,
  });
  undoOnFailure.push(() => runtime.close());
  // The status page's history: pod starts are timed from the runtime's own change events.
  const history = new History();
  let admin: Admin | undefined;
  runtime.onChange((key) => {
    history.podsChanged(key, runtime.pods(key), Date.now());
    admin?.changed();
  });
  let multiscaler: Multiscaler | undefined;
  const receiver: StatReceiver = await startStatReceiver(
    0,
    '127.0.0.1',
    (stats) => {
      for (const s of stats) multiscaler?.recordActivatorStat(revisionKey(s.namespace, s.name), s.stat);
    },
    log,
  ).catch(failStart);
  undoOnFailure.push(() => receiver.close());
  // Activators are processes of their own (a core each under load) that learn revisions from the
  // xDS server like any activator and split each revision's pods (Knative's subsetting). Two by
  // default, so one restarting never leaves the path empty; each restarts on its own port.
  const activatorCount = o.activators ?? 2;
  const startActivatorProcess = async (i: number): Promise<SupervisedChild> => {
    let port = 0;
    const child = await superviseChild(
      `activator-${i}`,
      () => [
        'activator',
        '--xds',
        xdsTarget,
        ...clientTlsArgs,
        '--port',
        String(port),
        '--node-id',
        `activator-${i}`,
        '--index',
        String(i),
        '--replicas',
        String(activatorCount),
        '--autoscaler',
        `ws://127.0.0.1:${receiver.port}`,
        '--metrics-port',
        '0',
        '--drain-quiet-seconds',
        '1',
      ],
      'activator listening',
      log,
    );
    port = Number(child.started.port);
    return child;
  };
  const activatorStarts = await Promise.allSettled(
    Array.from({ length: activatorCount }, (_, i) => startActivatorProcess(i)),
  );
  const activators = activatorStarts.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  undoOnFailure.push(async () => void (await Promise.all(activators.map((a) => a.stop(5000)))));
  const activatorFailure = activatorStarts.find((r) => r.status === 'rejected');
  if (activatorFailure) await failStart(activatorFailure.reason);
  const activatorEndpoints: Endpoint[] = activators.map((a) => ({ host: '127.0.0.1', port: Number(a.started.port) }));
  // Like the kubelet: an activator that fails its readiness probe (draining, restarting) leaves
  // the endpoints until it answers again, so its drain finishes and nothing is sent to it.
  let readyActivators: Endpoint[] = activatorEndpoints;
  const probeActivators = async (): Promise<void> => {
    const answers = await Promise.all(activatorEndpoints.map((e) => kubeletProbe(e)));
    const ready = activatorEndpoints.filter((_, i) => answers[i]);
    if (ready.map((e) => e.port).join() === readyActivators.map((e) => e.port).join()) return;
    log.info('activators ready', { ports: ready.map((e) => e.port) });
    readyActivators = ready;
    reconciler.activatorsChanged();
  };
  const prober = new Prober(log, (key) => reconciler.routeProbed(key));
  const readyMetrics = (key: string): Endpoint[] =>
    runtime.pods(key).flatMap((p) => (p.phase === 'ready' && p.metrics ? [p.metrics] : []));
  const reconciler = new UpReconciler({
    domain: o.domain,
    autoscalerConfig,
    controller,
    translator,
    runtime,
    prober,
    publish: (changes) => xds.cache.applyChanges(changes),
    autoscaler: {
      watch: (key, spec) => multiscaler!.watch(key, spec),
      unwatch: (key) => multiscaler!.unwatch(key),
    },
    gateways: () => gatewayTargets(),
    activators: () => (readyActivators.length > 0 ? readyActivators : activatorEndpoints),
    log,
  });
  const { watched, modes } = reconciler;
  const activatorProbeTimer = setInterval(() => void probeActivators(), 500);
  activatorProbeTimer.unref();

  let gateway: Gateway | undefined;
  let watcher: FSWatcher | undefined;
  let reloadTimer: NodeJS.Timeout | undefined;
  /** Stops everything started so far: pods start draining first, the xDS server goes last. Once. */
  let stopped: Promise<void> | undefined;
  const shutdown = (): Promise<void> => (stopped ??= stopEverything());
  const stopEverything = async (): Promise<void> => {
    reconciler.stop();
    clearInterval(activatorProbeTimer);
    watcher?.close();
    clearTimeout(reloadTimer);
    multiscaler?.close();
    prober.close();
    // Pods start draining at once, as Kubernetes signals every pod of a deleted deployment; from
    // here an app that exits (a Ctrl-C reaches the whole process group) is not a crash to restart.
    const podsStopped = runtime.close();
    // No pod will come for a request still waiting at an activator: the revisions are gone for them,
    // so they answer those at once (503), and what the gateway waits for is only what pods serve.
    xds.cache.setTranslation(noResources(), 'activator' satisfies NodeRole); // the cache groups by role
    await gateway?.close(STOP_GRACE_MS);
    await Promise.all(activators.map((a) => a.stop(STOP_GRACE_MS)));
    // The gateway and the activators are gone (an Envoy in front loses its xDS server too): the
    // pods' drains have nothing left to wait for but the requests in flight, not a quiet period.
    runtime.endQuietPeriods();
    await receiver.close();
    await podsStopped;
    await admin?.close();
    await xds.close();
  };
  undoOnFailure.splice(0, undoOnFailure.length, shutdown);
  /** Ingress nodes already told that they are not waited on (bounded: ids are the client's to invent). */
  const unnamedNoticed = new Set<string>();
  /** Connected gateways other than the embedded one that the prober waits on (src/prober/gateway-nodes.ts). */
  const countedGatewayNodes = (): string[] => {
    const ids: string[] = [];
    for (const node of xds.status.list()) {
      const verdict = gatewayVerdict(node, gatewayPolicy);
      if (verdict === 'counted') ids.push(node.id);
      else if (verdict === 'unnamed' && !unnamedNoticed.has(node.id) && unnamedNoticed.size < 1000) {
        unnamedNoticed.add(node.id);
        log.warn(
          'an ingress node connected that the prober does not wait on: name ' +
            'it with --gateway-node, or run the xDS server with mutual TLS',
          { node: node.id },
        );
      }
    }
    return ids;
  };
  /** The embedded gateway plus every counted gateway node (e.g. Envoy). */
  const gatewayTargets = (): GatewayTarget[] => {
    const targets: GatewayTarget[] = [];
    const ports = gateway?.listenerPorts();
    if (gateway && ports?.has('gatehouse-external') && ports.has('gatehouse-local')) {
      targets.push({
        id: EMBEDDED_GATEWAY_ID,
        host: '127.0.0.1',
        externalPort: ports.get('gatehouse-external')!,
        localPort: ports.get('gatehouse-local')!,
      });
    }
    for (const id of countedGatewayNodes())
      targets.push({ id, host: '127.0.0.1', externalPort: o.gatewayPort, localPort: o.localGatewayPort });
    return targets;
  };
  // Knative probes on a backoff alone; probing again when a gateway ACKs new config confirms sooner.
  xds.status.on('ack', (e) => {
    if (SERVING_TYPES.has(e.typeUrl)) prober.retryNow(e.nodeId);
  });
  xds.status.on('connect', () => reconciler.scheduleSync());
  xds.status.on('disconnect', () => reconciler.scheduleSync());

  /** Proxy mode is real only once every gateway ACKed the endpoints that name the activator. */
  // Shared by every revision switching at once: one wait per endpoints version, one activator probe.
  let proxyCheck: { version: string | undefined; result: Promise<string | undefined> } | undefined;
  const confirmProxy = (): Promise<string | undefined> => {
    const version = xds.cache.get('ingress', TYPE_URL.endpoint)?.version;
    const current = proxyCheck;
    if (current && current.version === version) return current.result;
    const result = (async () => {
      const gatewayIds = () =>
        new Set(gateway ? [EMBEDDED_GATEWAY_ID, ...countedGatewayNodes()] : countedGatewayNodes());
      const lagging = await xds.status.whenAcked(gatewayIds, TYPE_URL.endpoint, version, 5000);
      if (lagging.length > 0)
        return `gateways ${lagging.join(', ')} have not acknowledged the endpoints that point at the activator`;
      return confirmActivatorInPath(activatorEndpoints);
    })();
    proxyCheck = { version, result };
    return result;
  };

  multiscaler = new Multiscaler({
    tickMs: o.tickMs,
    log,
    scaler: {
      scale: (key, n) => {
        if (watched.has(key)) runtime.scale(key, n); // a tick may finish after the revision retired
      },
      readyMetricsEndpoints: readyMetrics,
    },
    modeSwitch: {
      async setMode(key, mode) {
        // Revisions start in proxy mode, so most calls change nothing that needs pushing.
        if (reconciler.setMode(key, mode)) log.info('serving mode', { revision: key, mode });
        if (mode === 'serve') return { confirmed: true };
        const problem = await confirmProxy();
        return problem === undefined ? { confirmed: true } : { confirmed: false, reason: problem };
      },
    },
  });
  runtime.onChange((key) => reconciler.revisionChanged(key));

  controller.apply(resources);
  reconciler.sync();

  if (o.embeddedGateway) {
    gateway = await startGateway({
      xds: xdsTarget,
      nodeId: EMBEDDED_GATEWAY_ID,
      ...(o.xdsClientTls ? { xdsTls: o.xdsClientTls } : {}),
      log,
    }).catch(failStart);
    await gateway.ready;
    const failed = gateway.status().listeners.filter((l) => l.error);
    if (failed.length > 0) {
      const first = failed[0]!;
      await failStart(
        listenError(
          new Error(`the embedded gateway ${first.error}`),
          first.name === 'gatehouse-local' ? o.localGatewayPort : o.gatewayPort,
          claims,
        ),
      );
    }
    reconciler.scheduleSync();
  }

  // Edits to the file roll out; a bad edit is reported and the last good config keeps serving.
  const reload = (): void => {
    try {
      const next = loadConfigFile(file, autoscalerConfig, parseCache);
      configError = undefined;
      resources = next;
      const created = controller.apply(next);
      for (const rev of created)
        log.info('new revision', { revision: revisionKey(rev.namespace, rev.name), service: rev.service });
      reconciler.sync();
      admin?.changed();
    } catch (err) {
      configError = err instanceof ConfigError ? err.problems.join('\n') : (err as Error).message;
      log.error('configuration rejected; the last good configuration keeps serving', {
        file,
        problems: err instanceof ConfigError ? err.problems : [configError],
      });
    }
  };
  watcher = watch(path.dirname(file), (_event, name) => {
    if (name !== path.basename(file)) return;
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(reload, 5);
  });

  const status = (): UpStatus =>
    buildStatus({
      file,
      configError,
      resources,
      controller,
      routes: controller.routes(),
      prober,
      multiscaler: multiscaler,
      runtime,
      watched,
      modes,
      gateways: gatewayTargets(),
      nodes: xds.status.list(),
      domain: o.domain,
    });

  const revisions = () => revisionStatuses({ controller, multiscaler, runtime, watched, modes });
  admin = await startAdmin({ port: o.adminPort, status, revisions, history, podMetrics: readyMetrics, log }).catch(
    (err: Error) => failStart(listenError(err, o.adminPort, claims)),
  );
  const adminPort = admin.port;
  const ports = gateway?.listenerPorts();

  return {
    gatewayPort: ports?.get('gatehouse-external'),
    localGatewayPort: ports?.get('gatehouse-local'),
    xdsPort: xds.port,
    adminPort,
    activatorPorts: activatorEndpoints.map((e) => e.port),
    activatorPids: () => activators.map((a) => a.pid),
    status,
    route(namespace, name) {
      const r = reconciler.programmedRoute(namespace, name);
      return (
        r && {
          revisions: r.spec.traffic.map((t) => t.revisionName),
          ready: prober.isReady(namespacedName(namespace, name)),
        }
      );
    },
    whenReady: (timeoutMs) => reconciler.whenReady(timeoutMs),
    close: shutdown,
  };
}

/** A listen that failed because the port was taken (after the check: a race) names the port and its flag. */
function listenError(err: Error, port: number, claims: PortClaim[]): Error {
  const claim = claims.find((c) => c.port === port);
  if (!claim || !/EADDRINUSE/.test(err.message)) return err;
  return new PortInUseError([portInUse(claim)]);
}

/** A kubelet-style readiness probe: 200 within a second. */
async function kubeletProbe(e: Endpoint): Promise<boolean> {
  return (await probeGet(e, { 'user-agent': 'kube-probe/1.27' }, 1000))?.status === 200;
}
