// The activator's request path: its own probes first, then the target revision from the headers
// the gateway adds, a slot from that revision's throttler (waiting while pods start), and the
// request forwarded to the granted pod with K-Proxy-Request so the pod counts it as proxied.
import http, { type IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import client from 'prom-client';
import { closeServer, createAutoCodecServer, listen, type InboundRequest, type OutboundResponse } from '../http/auto-codec.js';
import { DeadlineTicker } from '../http/deadlines.js';
import { rawResponse } from '../http/exchange.js';
import { rawRequestHead } from '../http/forward-headers.js';
import { httpLimitsFromEnv, type HttpLimits } from '../http/limits.js';
import { probeGet } from '../http/probe.js';
import { spliceUpgrade } from '../http/upgrade.js';
import type { Logger } from '../log/logger.js';
import type { Endpoint } from '../model/desired.js';
import { H_NETWORK_HASH, H_NETWORK_PROBE, H_PROXY_REQUEST, H_SERVING_NAMESPACE, H_SERVING_REVISION } from '../model/headers.js';
import { RequestStats } from '../queue/stats.js';
import { ACTIVATOR_TIMEOUT_BODY, ActivatorExchange, type ActivatorContext } from './exchange.js';
import { PodConnections } from './pod-connections.js';
import type { RevisionSource } from './revision-source.js';
import { StatPusher } from './stat-pusher.js';
import { RevisionThrottler, type PodTracker, type SlotWaiter } from './throttler.js';

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
  /** SIGTERM: probes answer 503, new requests are still served until `quietMs` pass without one, then in-flight ones finish. Once. */
  drain(quietMs: number): Promise<void>;
  /** Requests still waiting for a pod get 503; connections close. Once: later calls return the same promise. */
  close(): Promise<void>;
}

export { ACTIVATOR_TIMEOUT_BODY } from './exchange.js';
/** Period of the shared tick that checks request deadlines. */
const TIMEOUT_TICK_MS = 50;

/** Knative's activator probe of a pod: 200 "queue" within 300 ms. */
async function probePod(e: Endpoint): Promise<boolean> {
  const answer = await probeGet(e, { 'user-agent': 'Knative-Activator-Probe', [H_NETWORK_PROBE]: 'queue' }, 300);
  return answer?.status === 200 && answer.body === 'queue';
}

function plain(res: OutboundResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extra });
  res.end(body);
}

export async function startActivator(o: ActivatorOptions): Promise<Activator> {
  const name = o.name ?? `activator-${o.index ?? 0}`;
  const throttlers = new Map<string, RevisionThrottler>();
  const stats = new Map<string, RequestStats>();
  const pusher = o.autoscalerUrl ? new StatPusher(o.autoscalerUrl, o.log) : undefined;
  // Plain counters on the request path; prom-client reads them when scraped.
  const proxied = new Map<string, number>();
  const failures = new Map<string, number>(); // "revision\0reason" → count
  const countFailure = (key: string, reason: string) => failures.set(`${key}\0${reason}`, (failures.get(`${key}\0${reason}`) ?? 0) + 1);
  // One series, not one per header value a client makes up.
  let unknownRevisionRequests = 0;
  const maxQueuedPerRevision = o.maxQueuedPerRevision ?? DEFAULT_QUEUE_LIMITS.perRevision;
  const maxQueued = o.maxQueued ?? DEFAULT_QUEUE_LIMITS.overall;
  const connections = new PodConnections();
  let draining = false;
  let stopping = false;
  let lastRequest = Date.now();

  /** A pod no revision lists any more: its connections go once the requests on them finish. */
  const forgetPods = (addresses: string[]): void => {
    for (const address of addresses) if (![...throttlers.values()].some((t) => t.hasPod(address))) connections.release(address);
  };

  const sync = (key: string): void => {
    const info = o.source.get(key);
    const throttler = throttlers.get(key);
    if (!throttler) return; // created on first request
    if (!info) {
      throttlers.delete(key);
      forgetPods(throttler.close());
      return;
    }
    throttler.updateConcurrency(info.containerConcurrency);
    forgetPods(throttler.updatePods(info.pods));
  };
  const unsubscribe = o.source.subscribe(sync);

  const throttlerFor = (key: string): RevisionThrottler | undefined => {
    let throttler = throttlers.get(key);
    if (throttler) return throttler;
    const info = o.source.get(key);
    if (!info) return undefined;
    throttler = new RevisionThrottler({ containerConcurrency: info.containerConcurrency, probe: probePod, probeIntervalMs: o.probeIntervalMs ?? 200, activatorIndex: o.index ?? 0, activatorCount: o.replicas ?? 1 });
    throttlers.set(key, throttler);
    throttler.updatePods(info.pods);
    return throttler;
  };

  const statsFor = (key: string): RequestStats => {
    let s = stats.get(key);
    if (!s) stats.set(key, (s = new RequestStats(Date.now())));
    return s;
  };

  const wireStat = (key: string, averageConcurrentRequests: number, requestCount: number) => {
    const [namespace, revision] = key.split('/') as [string, string];
    return { namespace, name: revision, stat: { podName: name, averageConcurrentRequests, averageProxiedConcurrentRequests: 0, requestCount, proxiedRequestCount: 0, processUptime: 0, timestamp: Math.floor(Date.now() / 1000) } };
  };

  // Knative's concurrency reporter: the first request for an idle revision is pushed at once as
  // one request, so a revision at zero starts scaling without waiting for the next report, and
  // that report leaves the one out, so each request is counted once. (Pushing every arrival
  // instead summed 1 + 2 + … + n into one second of the autoscaler's window.)
  const pushedFirst = new Set<string>();
  /** Before the request is counted in `s`. */
  const pushFirstRequest = (key: string, s: RequestStats): void => {
    if (s.inFlight > 0 || !pusher || pushedFirst.has(key)) return;
    pushedFirst.add(key);
    pusher.push([wireStat(key, 1, 1)]);
  };

  /** Stats and counters of revisions the source no longer has, once nothing of theirs is in flight. */
  const forgetGoneRevisions = (): void => {
    for (const [key, s] of stats) if (s.inFlight === 0 && !o.source.get(key)) stats.delete(key);
    for (const key of proxied.keys()) if (!stats.has(key) && !o.source.get(key)) proxied.delete(key);
    for (const k of failures.keys()) {
      const key = k.slice(0, k.indexOf('\0'));
      if (!stats.has(key) && !o.source.get(key)) failures.delete(k);
    }
    for (const key of pushedFirst) if (!stats.has(key)) pushedFirst.delete(key);
  };

  const reporter = setInterval(() => {
    const now = Date.now();
    const out = [];
    for (const [key, s] of stats) {
      const period = s.report(now);
      const first = pushedFirst.delete(key) ? 1 : 0;
      const concurrency = Math.max(0, period.averageConcurrency - first);
      const count = Math.max(0, period.requestCount - first);
      if (concurrency > 0 || count > 0) out.push(wireStat(key, concurrency, count));
    }
    pusher?.push(out);
    forgetGoneRevisions();
  }, 1000);
  reporter.unref();

  const limits = o.limits ?? httpLimitsFromEnv();
  const exchangeContext: ActivatorContext = {
    ticker: new DeadlineTicker(TIMEOUT_TICK_MS),
    bodyIdleTimeoutMs: limits.bodyIdleTimeoutMs,
    drainMs: limits.drainMs,
    upstreamFor: (pod, h2) => connections.upstream(pod.address, h2),
    countProxied: (key) => proxied.set(key, (proxied.get(key) ?? 0) + 1),
    countFailure,
    queueFull(key, throttler) {
      // Knative's wording ("pending request queue full"), and which limit it is.
      if (throttler.queued >= maxQueuedPerRevision) return `pending request queue full: ${throttler.queued} requests already wait at this activator for revision ${key} (limit --max-queued-per-revision ${maxQueuedPerRevision})\n`;
      let total = 0;
      for (const t of throttlers.values()) total += t.queued;
      if (total >= maxQueued) return `pending request queue full: ${total} requests already wait at this activator (limit --max-queued ${maxQueued})\n`;
      return undefined;
    },
    abandonedBody: (key) => (stopping ? 'the activator is shutting down\n' : `revision ${key} was removed while the request waited for a pod\n`),
  };

  /** The revision a routed request is for, or the reply that says why there is none. */
  const routedRevision = (req: IncomingMessage | Http2ServerRequest): { key: string; throttler: RevisionThrottler } | { status: number; body: string } => {
    const namespace = req.headers[H_SERVING_NAMESPACE];
    const revision = req.headers[H_SERVING_REVISION];
    if (typeof namespace !== 'string' || typeof revision !== 'string') return { status: 404, body: 'no Knative-Serving-Namespace / Knative-Serving-Revision headers: the activator only serves requests routed by the gateway\n' };
    const key = `${namespace}/${revision}`;
    lastRequest = Date.now();
    const throttler = throttlerFor(key);
    if (!throttler) {
      unknownRevisionRequests++;
      return { status: 404, body: `revision ${key} is unknown to the activator\n` };
    }
    return { key, throttler };
  };

  const handle = (req: InboundRequest, res: OutboundResponse): void => {
    const probe = req.headers[H_NETWORK_PROBE];
    if (draining && (probe !== undefined || req.headers['user-agent']?.startsWith('kube-probe/'))) return plain(res, 503, 'shutting down');
    if (probe === 'activator') return plain(res, 200, 'activator');
    if (probe === 'probe') {
      const hash = req.headers[H_NETWORK_HASH];
      if (typeof hash !== 'string' || hash === '') return plain(res, 400, 'no K-Network-Hash header in the probe request');
      return plain(res, 200, 'probe', { [H_NETWORK_HASH]: hash });
    }
    if (req.headers['user-agent']?.startsWith('kube-probe/')) return plain(res, 200, 'ok');
    const routed = routedRevision(req);
    if ('status' in routed) return plain(res, routed.status, routed.body);
    const { key, throttler } = routed;
    const s = statsFor(key);
    pushFirstRequest(key, s);
    new ActivatorExchange(exchangeContext, req, res, key, throttler, s).begin((o.source.get(key)?.timeoutSeconds ?? 300) * 1000);
  };

  /** WebSocket (any HTTP/1.1 Upgrade): a slot at a pod, then the connection spliced to it. */
  const onUpgrade = (req: IncomingMessage, client: Duplex, upgradeHead: Buffer): void => {
    client.on('error', () => client.destroy());
    const routed = routedRevision(req);
    if ('status' in routed) return void client.end(rawResponse(404, 'Not Found', routed.body));
    const { key, throttler } = routed;
    const s = statsFor(key);
    pushFirstRequest(key, s);
    s.requestIn(Date.now(), false);
    let closed = false;
    let holding: PodTracker | undefined;
    const refuse = (status: number, reason: string, body: string) => void client.end(rawResponse(status, reason, body));
    // Waiting for a pod is bounded by the revision's timeout, as for any request; once spliced, the
    // connection lasts as long as its ends keep it.
    const deadline = setTimeout(() => {
      throttler.cancel(waiter);
      countFailure(key, 'timeout');
      refuse(504, 'Gateway Timeout', ACTIVATOR_TIMEOUT_BODY + '\n');
    }, (o.source.get(key)?.timeoutSeconds ?? 300) * 1000);
    const waiter: SlotWaiter = {
      grant(pod) {
        clearTimeout(deadline);
        if (closed) return throttler.release(pod);
        holding = pod;
        const head = rawRequestHead(req.method, req.url, [...req.rawHeaders, H_PROXY_REQUEST, 'activator']);
        spliceUpgrade(client, upgradeHead, pod.endpoint.host, pod.endpoint.port, head, rawResponse(502, 'Bad Gateway', `the pod at ${pod.address} is not reachable\n`), {
          opened: () => exchangeContext.countProxied(key),
        });
      },
      abandon() {
        clearTimeout(deadline);
        countFailure(key, 'abandoned');
        refuse(503, 'Service Unavailable', exchangeContext.abandonedBody(key));
      },
      mayQueue: () => exchangeContext.queueFull(key, throttler) === undefined,
    };
    client.once('close', () => {
      clearTimeout(deadline);
      closed = true;
      if (holding) throttler.release(holding);
      else throttler.cancel(waiter);
      s.requestOut(Date.now(), false);
    });
    if (throttler.acquire(waiter) === 'rejected') {
      clearTimeout(deadline);
      countFailure(key, 'queue_full');
      refuse(503, 'Service Unavailable', exchangeContext.queueFull(key, throttler)!);
    }
  };

  const { front: server, h1, sockets } = createAutoCodecServer(handle, onUpgrade, { limits, name: 'activator', log: o.log });
  const port = await listen(server, o.port, o.host ?? '127.0.0.1');
  let metricsServer: http.Server | undefined;
  let metricsPort: number | undefined;
  if (o.metricsPort !== undefined) {
    const registry = new client.Registry();
    const perRevision = (name: string, help: string, read: (t: RevisionThrottler) => number) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['revision'],
        registers: [registry],
        collect() {
          this.reset();
          for (const [key, t] of throttlers) this.set({ revision: key }, read(t));
        },
      });
    perRevision('activator_queued_requests', 'Requests waiting for a pod', (t) => t.queued);
    perRevision('activator_in_flight_requests', 'Requests at pods', (t) => t.inFlight);
    perRevision('activator_capacity', 'Requests this activator may have at the pods at once', (t) => t.capacity);
    perRevision('activator_ready_pods', 'Pods this activator sends to', (t) => t.readyPods);
    new client.Counter({
      name: 'activator_proxied_requests_total',
      help: 'Requests forwarded to a pod',
      labelNames: ['revision'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, n] of proxied) this.inc({ revision: key }, n);
      },
    });
    new client.Counter({
      name: 'activator_errors_total',
      help: 'Requests the activator answered with an error, by reason (timeout 504, queue_full 503, abandoned 503: revision removed or activator stopping, pod_failed 502, unknown_revision 404 with no revision label)',
      labelNames: ['revision', 'reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [k, n] of failures) {
          const [revision, reason] = k.split('\0') as [string, string];
          this.inc({ revision, reason }, n);
        }
        if (unknownRevisionRequests > 0) this.inc({ reason: 'unknown_revision' }, unknownRevisionRequests);
      },
    });
    metricsServer = http.createServer((_req, res) => void registry.metrics().then((text) => plain(res, 200, text, { 'content-type': registry.contentType })));
    await new Promise<void>((resolve) => metricsServer!.listen(o.metricsPort, o.host ?? '127.0.0.1', resolve));
    metricsPort = (metricsServer.address() as AddressInfo).port;
  }
  o.log.info('activator listening', { port, metricsPort, index: o.index ?? 0, replicas: o.replicas ?? 1 });
  const inFlightTotal = () => [...stats.values()].reduce((n, s) => n + s.inFlight, 0);
  let drained: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  return {
    port,
    metricsPort,
    throttler: (key) => throttlers.get(key),
    footprint: () => ({
      revisions: throttlers.size,
      pods: [...throttlers.values()].reduce((n, t) => n + t.pods, 0),
      stats: stats.size,
      counterSeries: proxied.size + failures.size,
      ...connections.counts,
    }),
    drain(quietMs) {
      drained ??= (async () => {
        draining = true;
        lastRequest = Date.now(); // the quiet period starts now at the earliest
        o.log.info('draining', { quietMs });
        while (Date.now() - lastRequest < quietMs) await new Promise((r) => setTimeout(r, Math.max(10, quietMs - (Date.now() - lastRequest))));
        server.close();
        h1.closeIdleConnections();
        while (inFlightTotal() > 0 && !stopping) await new Promise((r) => setTimeout(r, 20));
      })();
      return drained;
    },
    close() {
      closed ??= (async () => {
        stopping = true;
        metricsServer?.close();
        clearInterval(reporter);
        unsubscribe();
        pusher?.close();
        // Whatever still waits for a pod is answered (503) before the connections go.
        for (const t of throttlers.values()) t.close();
        throttlers.clear();
        for (const socket of sockets) socket.destroy();
        await closeServer(server);
        await connections.close();
      })();
      return closed;
    },
  };
}
