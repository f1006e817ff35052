// The activator's request path: its own probes first, then the target revision from the headers
// the gateway adds, a slot from that revision's throttler (waiting while pods start), and the
// request forwarded to the granted pod with K-Proxy-Request so the pod counts it as proxied.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import client from 'prom-client';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from '../log/logger.js';
import type { Endpoint } from '../model/desired.js';
import { H_NETWORK_HASH, H_NETWORK_PROBE, H_PROXY_REQUEST, H_SERVING_NAMESPACE, H_SERVING_REVISION } from '../model/headers.js';
import { downstreamResponseHeaders, upstreamRequestHeaders } from '../http/forward-headers.js';
import { RequestStats } from '../queue/stats.js';
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
  log: Logger;
}

export interface Activator {
  port: number;
  metricsPort: number | undefined;
  throttler(key: string): RevisionThrottler | undefined;
  /** SIGTERM: probes answer 503, new requests are still served until `quietMs` pass without one, then in-flight ones finish. */
  drain(quietMs: number): Promise<void>;
  close(): Promise<void>;
}

export const ACTIVATOR_TIMEOUT_BODY = 'activator request timeout';

/** Knative's activator probe of a pod: 200 "queue" within 300 ms. */
async function probePod(e: Endpoint): Promise<boolean> {
  try {
    const res = await fetch(`http://${e.host}:${e.port}/`, {
      headers: { 'user-agent': 'Knative-Activator-Probe', [H_NETWORK_PROBE]: 'queue' },
      signal: AbortSignal.timeout(300),
    });
    return res.status === 200 && (await res.text()) === 'queue';
  } catch {
    return false;
  }
}

function plain(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...extra });
  res.end(body);
}

export async function startActivator(o: ActivatorOptions): Promise<Activator> {
  const name = o.name ?? `activator-${o.index ?? 0}`;
  const throttlers = new Map<string, RevisionThrottler>();
  const stats = new Map<string, RequestStats>();
  const pools = new Map<string, Pool>();
  const pusher = o.autoscalerUrl ? new StatPusher(o.autoscalerUrl, o.log) : undefined;
  // Plain counters on the request path; prom-client reads them when scraped.
  const proxied = new Map<string, number>();
  const failures = new Map<string, number>(); // "revision\0reason" → count
  const countFailure = (key: string, reason: string) => failures.set(`${key}\0${reason}`, (failures.get(`${key}\0${reason}`) ?? 0) + 1);
  let draining = false;
  let lastRequest = Date.now();

  const sync = (key: string): void => {
    const info = o.source.get(key);
    const throttler = throttlers.get(key);
    if (!info) {
      throttler?.close();
      throttlers.delete(key);
      return;
    }
    if (!throttler) return; // created on first request
    throttler.updateConcurrency(info.containerConcurrency);
    throttler.updatePods(info.pods);
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

  const reporter = setInterval(() => {
    const now = Date.now();
    const out = [];
    for (const [key, s] of stats) {
      const period = s.report(now);
      if (period.averageConcurrency > 0 || period.requestCount > 0) out.push(wireStat(key, period.averageConcurrency, period.requestCount));
    }
    pusher?.push(out);
  }, 1000);
  reporter.unref();

  const poolFor = (pod: PodTracker): Pool => {
    let pool = pools.get(pod.address);
    if (!pool) pools.set(pod.address, (pool = new Pool(`http://${pod.address}`, { headersTimeout: 0, bodyTimeout: 0 })));
    return pool;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const probe = req.headers[H_NETWORK_PROBE];
    if (draining && (probe !== undefined || req.headers['user-agent']?.startsWith('kube-probe/'))) return plain(res, 503, 'shutting down');
    if (probe === 'activator') return plain(res, 200, 'activator');
    if (probe === 'probe') {
      const hash = req.headers[H_NETWORK_HASH];
      if (typeof hash !== 'string' || hash === '') return plain(res, 400, 'no K-Network-Hash header in the probe request');
      return plain(res, 200, 'probe', { [H_NETWORK_HASH]: hash });
    }
    if (req.headers['user-agent']?.startsWith('kube-probe/')) return plain(res, 200, 'ok');
    const namespace = req.headers[H_SERVING_NAMESPACE];
    const revision = req.headers[H_SERVING_REVISION];
    if (typeof namespace !== 'string' || typeof revision !== 'string') return plain(res, 404, 'no Knative-Serving-Namespace / Knative-Serving-Revision headers: the activator only serves requests routed by the gateway\n');
    const key = `${namespace}/${revision}`;
    lastRequest = Date.now();
    const throttler = throttlerFor(key);
    if (!throttler) {
      countFailure(key, 'unknown_revision');
      return plain(res, 404, `revision ${key} is unknown to the activator\n`);
    }
    const timeoutMs = (o.source.get(key)?.timeoutSeconds ?? 300) * 1000;
    const s = statsFor(key);
    const started = Date.now();
    s.requestIn(started, false);
    // Scale from zero must not wait for the next tick: tell the autoscaler now.
    if (throttler.readyPods === 0) pusher?.push([wireStat(key, throttler.queued + 1, 1)]);
    let done = false;
    const abort = new AbortController();
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      s.requestOut(Date.now(), false);
    };
    const waiter: SlotWaiter = {
      grant(pod) {
        if (done) return throttler.release(pod);
        forward(pod);
      },
    };
    const deadline = setTimeout(() => {
      throttler.cancel(waiter);
      abort.abort();
      if (!res.headersSent) plain(res, 504, ACTIVATOR_TIMEOUT_BODY + '\n');
      else res.destroy();
      countFailure(key, 'timeout');
      finish();
    }, timeoutMs);
    res.once('close', () => {
      // A response that completed is not a client leaving: nothing to cancel (and aborting costs).
      if (done || res.writableFinished) return;
      throttler.cancel(waiter);
      abort.abort();
      finish();
    });
    const forward = (pod: PodTracker): void => {
      const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
      const headers = upstreamRequestHeaders(req.rawHeaders, req.socket.remoteAddress, false);
      headers.push(H_PROXY_REQUEST, 'activator');
      poolFor(pod)
        .request({ path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers, body: hasBody ? req : null, signal: abort.signal })
        .then((upstream) => {
          proxied.set(key, (proxied.get(key) ?? 0) + 1);
          res.writeHead(upstream.statusCode, downstreamResponseHeaders(upstream.headers as Record<string, string | string[] | undefined>));
          upstream.body.pipe(res);
          upstream.body.once('error', () => res.destroy());
          res.once('close', () => {
            throttler.release(pod);
            finish();
          });
        })
        .catch((err: NodeJS.ErrnoException) => {
          throttler.release(pod);
          if (done) return;
          // Refused: the request never reached the pod, so it is safe to send it elsewhere.
          if (err.code === 'ECONNREFUSED') {
            throttler.markUnready(pod);
            throttler.acquire(waiter);
            return;
          }
          if (!res.headersSent) plain(res, 502, `the pod at ${pod.address} failed: ${err.message}\n`);
          countFailure(key, 'pod_failed');
          finish();
        });
    };
    throttler.acquire(waiter);
  };

  const server = http.createServer({ keepAliveTimeout: 65_000, noDelay: true }, handle);
  await new Promise<void>((resolve) => server.listen(o.port, o.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
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
      help: 'Requests the activator answered with an error, by reason (timeout 504, pod_failed 502, unknown_revision 404)',
      labelNames: ['revision', 'reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [k, n] of failures) {
          const [revision, reason] = k.split('\0') as [string, string];
          this.inc({ revision, reason }, n);
        }
      },
    });
    metricsServer = http.createServer((_req, res) => void registry.metrics().then((text) => plain(res, 200, text, { 'content-type': registry.contentType })));
    await new Promise<void>((resolve) => metricsServer!.listen(o.metricsPort, o.host ?? '127.0.0.1', resolve));
    metricsPort = (metricsServer.address() as AddressInfo).port;
  }
  o.log.info('activator listening', { port, metricsPort, index: o.index ?? 0, replicas: o.replicas ?? 1 });
  const inFlightTotal = () => [...stats.values()].reduce((n, s) => n + s.inFlight, 0);
  return {
    port,
    metricsPort,
    throttler: (key) => throttlers.get(key),
    async drain(quietMs) {
      draining = true;
      lastRequest = Date.now(); // the quiet period starts now at the earliest
      o.log.info('draining', { quietMs });
      while (Date.now() - lastRequest < quietMs) await new Promise((r) => setTimeout(r, Math.max(10, quietMs - (Date.now() - lastRequest))));
      server.close();
      while (inFlightTotal() > 0) await new Promise((r) => setTimeout(r, 20));
    },
    async close() {
      metricsServer?.close();
      clearInterval(reporter);
      unsubscribe();
      pusher?.close();
      for (const t of throttlers.values()) t.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}
