// Assembles the activator, as queue/server does the queue-proxy: one module per concern, wired
// here. A request is answered in this order: the activator's own probes; the revision from the
// gateway's headers (routing); a slot from that revision's throttler, waiting while pods start;
// the request forwarded to the granted pod with K-Proxy-Request (exchange, websocket); counted for
// the autoscaler (reporting) and for Prometheus (metrics).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  closeServer,
  createAutoCodecServer,
  listen,
  plain,
  type InboundRequest,
  type OutboundResponse,
} from '../http/auto-codec.js';
import { DeadlineTicker } from '../http/deadlines.js';
import { httpLimitsFromEnv, type HttpLimits } from '../http/limits.js';
import type { Logger } from '../log/logger.js';
import { H_NETWORK_HASH, H_NETWORK_PROBE } from '../model/headers.js';
import { ActivatorExchange, type ActivatorContext } from './exchange.js';
import { ActivatorCounters, startMetricsServer } from './metrics.js';
import { PodConnections } from './pod-connections.js';
import { DEFAULT_PROBE_INTERVAL_MS } from './probing.js';
import { ConcurrencyReporter } from './reporting.js';
import type { RevisionSource } from './revision-source.js';
import { RevisionRouter } from './routing.js';
import { StatPusher } from './stat-pusher.js';
import type { RevisionThrottler } from './throttler.js';
import { ActivatorUpgrade, refuseUpgrade } from './websocket.js';

export interface ActivatorOptions {
  port: number;
  host?: string;
  source: RevisionSource;
  /** ws:// URL of the autoscaler's stat websocket; no pushes without it. */
  autoscalerUrl?: string;
  /** This activator's index and the number of activators, for pod subsetting. */
  index?: number;
  replicas?: number;
  name?: string;
  probeIntervalMs?: number;
  /** Prometheus metrics port (0 = any free port); none when undefined. */
  metricsPort?: number;
  /** Listener limits; GATEHOUSE_* environment variables by default. */
  limits?: HttpLimits;
  /** Requests that may wait for a pod, per revision and in all (default DEFAULT_QUEUE_LIMITS); beyond them 503. */
  maxQueuedPerRevision?: number;
  maxQueued?: number;
  log: Logger;
}

/** Knative's activator queues up to 10,000 requests per revision (breakerQueueDepth); twice that in all. */
export const DEFAULT_QUEUE_LIMITS = { perRevision: 10_000, overall: 20_000 };

/** What the activator holds, for tests and operators: each map only as large as what exists. */
export interface ActivatorFootprint {
  revisions: number;
  pods: number;
  stats: number;
  counterSeries: number;
  pools: number;
  h2Sessions: number;
}

export interface Activator {
  port: number;
  metricsPort: number | undefined;
  throttler(key: string): RevisionThrottler | undefined;
  footprint(): ActivatorFootprint;
  /**
   * SIGTERM: probes answer 503, new requests are still served until `quietMs` pass without one, then in-flight ones
   * finish. Once.
   */
  drain(quietMs: number): Promise<void>;
  /** Requests still waiting for a pod get 503; connections close. Once: later calls return the same promise. */
  close(): Promise<void>;
}

export { ACTIVATOR_TIMEOUT_BODY } from './exchange.js';
/** Period of the shared tick that checks request deadlines. */
const TIMEOUT_TICK_MS = 50;

export async function startActivator(o: ActivatorOptions): Promise<Activator> {
  const name = o.name ?? `activator-${o.index ?? 0}`;
  const host = o.host ?? '127.0.0.1';
  const counters = new ActivatorCounters();
  const connections = new PodConnections();
  const router = new RevisionRouter({
    source: o.source,
    connections,
    counters,
    probeIntervalMs: o.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS,
    activatorIndex: o.index ?? 0,
    activatorCount: o.replicas ?? 1,
    maxQueuedPerRevision: o.maxQueuedPerRevision ?? DEFAULT_QUEUE_LIMITS.perRevision,
    maxQueued: o.maxQueued ?? DEFAULT_QUEUE_LIMITS.overall,
  });
  const pusher = o.autoscalerUrl ? new StatPusher(o.autoscalerUrl, o.log) : undefined;
  const known = (key: string) => o.source.get(key) !== undefined;
  // Counters of revisions that are gone go with their stats.
  const reporter = new ConcurrencyReporter(name, pusher, known, () =>
    counters.forget((key) => reporter.has(key) || known(key)),
  );
  let draining = false;
  let stopping = false;
  let lastRequest = Date.now();

  const limits = o.limits ?? httpLimitsFromEnv();
  const context: ActivatorContext = {
    ticker: new DeadlineTicker(TIMEOUT_TICK_MS),
    bodyIdleTimeoutMs: limits.bodyIdleTimeoutMs,
    drainMs: limits.drainMs,
    upstreamFor: (pod, h2) => connections.upstream(pod.address, h2),
    countProxied: (key) => counters.countProxied(key),
    countFailure: (key, reason) => counters.countFailure(key, reason),
    queueFull: (key, throttler) => router.queueFull(key, throttler),
    abandonedBody: (key) =>
      stopping
        ? 'the activator is shutting down\n'
        : `revision ${key} was removed while the request waited for a pod\n`,
  };

  const handle = (req: InboundRequest, res: OutboundResponse): void => {
    const probe = req.headers[H_NETWORK_PROBE];
    if (draining && (probe !== undefined || req.headers['user-agent']?.startsWith('kube-probe/')))
      return plain(res, 503, 'shutting down');
    if (probe === 'activator') return plain(res, 200, 'activator');
    if (probe === 'probe') {
      const hash = req.headers[H_NETWORK_HASH];
      if (typeof hash !== 'string' || hash === '')
        return plain(res, 400, 'no K-Network-Hash header in the probe request');
      return plain(res, 200, 'probe', { [H_NETWORK_HASH]: hash });
    }
    if (req.headers['user-agent']?.startsWith('kube-probe/')) return plain(res, 200, 'ok');
    lastRequest = Date.now();
    const routed = router.route(req);
    if ('status' in routed) return plain(res, routed.status, routed.body);
    new ActivatorExchange(context, req, res, routed.key, routed.throttler, reporter.arrived(routed.key)).begin(
      router.timeoutMs(routed.key),
    );
  };

  const onUpgrade = (req: IncomingMessage, client: Duplex, head: Buffer): void => {
    lastRequest = Date.now();
    const routed = router.route(req);
    if ('status' in routed) return refuseUpgrade(client, 404, 'Not Found', routed.body);
    new ActivatorUpgrade(context, req, client, head, routed.key, routed.throttler, reporter.arrived(routed.key)).begin(
      router.timeoutMs(routed.key),
    );
  };

  const {
    front: server,
    h1,
    sockets,
  } = createAutoCodecServer(handle, onUpgrade, { limits, name: 'activator', log: o.log });
  const port = await listen(server, o.port, host);
  const metrics =
    o.metricsPort !== undefined
      ? await startMetricsServer(o.metricsPort, host, counters, router.throttlers)
      : undefined;
  o.log.info('activator listening', {
    port,
    metricsPort: metrics?.port,
    index: o.index ?? 0,
    replicas: o.replicas ?? 1,
  });
  let drained: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  return {
    port,
    metricsPort: metrics?.port,
    throttler: (key) => router.throttlers.get(key),
    footprint: () => ({
      revisions: router.throttlers.size,
      pods: router.pods,
      stats: reporter.size,
      counterSeries: counters.series,
      ...connections.counts,
    }),
    drain(quietMs) {
      drained ??= (async () => {
        draining = true;
        lastRequest = Date.now(); // the quiet period starts now at the earliest
        o.log.info('draining', { quietMs });
        while (Date.now() - lastRequest < quietMs)
          await new Promise((r) => setTimeout(r, Math.max(10, quietMs - (Date.now() - lastRequest))));
        server.close();
        h1.closeIdleConnections();
        while (reporter.inFlight > 0 && !stopping) await new Promise((r) => setTimeout(r, 20));
      })();
      return drained;
    },
    close() {
      closed ??= (async () => {
        stopping = true;
        metrics?.server.close();
        reporter.close();
        pusher?.close();
        // Whatever still waits for a pod is answered (503) before the connections go.
        router.close();
        for (const socket of sockets) socket.destroy();
        await closeServer(server);
        await connections.close();
      })();
      return closed;
    },
  };
}
