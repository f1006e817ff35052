// The activator's request path: its own probes first, then the target revision from the headers
// the gateway adds, a slot from that revision's throttler (waiting while pods start), and the
// request forwarded to the granted pod with K-Proxy-Request so the pod counts it as proxied.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type ClientHttp2Stream, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import client from 'prom-client';
import { Pool, type Dispatcher } from 'undici';
import { closeServer, createAutoCodecServer, listen, type InboundRequest, type OutboundResponse } from '../http/auto-codec.js';
import { H2Upstream, h2RequestHeaders, h2ResponseHeaders, pipeH2Body } from '../http/h2-upstream.js';
import { probeGet } from '../http/probe.js';
import type { Logger } from '../log/logger.js';
import type { Endpoint } from '../model/desired.js';
import { H_NETWORK_HASH, H_NETWORK_PROBE, H_PROXY_REQUEST, H_SERVING_NAMESPACE, H_SERVING_REVISION } from '../model/headers.js';
import { downstreamResponseHeaders, rawRequestHead, upstreamRequestHeaders } from '../http/forward-headers.js';
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

  const h2Upstreams = new Map<string, H2Upstream>();
  const h2For = (pod: PodTracker): H2Upstream => {
    let upstream = h2Upstreams.get(pod.address);
    if (!upstream) h2Upstreams.set(pod.address, (upstream = new H2Upstream(`http://${pod.address}`)));
    return upstream;
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
      countFailure(key, 'unknown_revision');
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
    const timeoutMs = (o.source.get(key)?.timeoutSeconds ?? 300) * 1000;
    const s = statsFor(key);
    const started = Date.now();
    s.requestIn(started, false);
    // Scale from zero must not wait for the next tick: tell the autoscaler now.
    if (throttler.readyPods === 0) pusher?.push([wireStat(key, throttler.queued + 1, 1)]);
    let done = false;
    /** Ends the exchange with the pod, once one started (client gone, or the deadline passed). */
    let cancelUpstream: (() => void) | undefined;
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
      cancelUpstream?.();
      if (!res.headersSent) plain(res, 504, ACTIVATOR_TIMEOUT_BODY + '\n');
      else res.destroy();
      countFailure(key, 'timeout');
      finish();
    }, timeoutMs);
    res.once('close', () => {
      // A response that completed is not a client leaving: nothing to cancel (and aborting costs).
      if (done || res.writableFinished) return;
      throttler.cancel(waiter);
      cancelUpstream?.();
      finish();
    });
    const podFailed = (pod: PodTracker, err: NodeJS.ErrnoException): void => {
      if (done) return;
      // Refused: the request never reached the pod, so it is safe to send it elsewhere.
      if (err.code === 'ECONNREFUSED') {
        throttler.markUnready(pod);
        throttler.acquire(waiter);
        return;
      }
      if (!res.headersSent) plain(res, 502, `the pod at ${pod.address} failed: ${err.message}\n`);
      else res.destroy();
      countFailure(key, 'pod_failed');
      finish();
    };
    // HTTP/2 in, HTTP/2 out: gRPC keeps its trailers.
    const forwardH2 = (pod: PodTracker): void => {
      const h2req = req as Http2ServerRequest;
      const h2res = res as Http2ServerResponse;
      const headers = h2RequestHeaders(h2req, pod.address);
      headers[H_PROXY_REQUEST] = 'activator';
      let released = false;
      const releaseOnce = () => {
        if (!released) throttler.release(pod);
        released = true;
      };
      let stream: ClientHttp2Stream;
      try {
        stream = h2For(pod).get().request(headers);
      } catch (err) {
        releaseOnce();
        return podFailed(pod, err as NodeJS.ErrnoException);
      }
      cancelUpstream = () => stream.close(http2.constants.NGHTTP2_CANCEL);
      h2req.pipe(stream);
      stream.once('response', (h) => {
        proxied.set(key, (proxied.get(key) ?? 0) + 1);
        if (!h2res.destroyed) h2res.writeHead(Number(h[':status']), h2ResponseHeaders(h));
      });
      pipeH2Body(stream, h2res);
      stream.once('end', () => {
        h2res.end();
        releaseOnce();
        finish();
      });
      stream.once('error', (err: NodeJS.ErrnoException) => {
        releaseOnce();
        podFailed(pod, err);
      });
    };
    const forward = (pod: PodTracker): void => {
      if (req.httpVersionMajor === 2) return forwardH2(pod);
      const h1req = req as IncomingMessage;
      const h1res = res as ServerResponse;
      const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
      const headers = upstreamRequestHeaders(h1req.rawHeaders, h1req.socket.remoteAddress, false);
      headers.push(H_PROXY_REQUEST, 'activator');
      let upstream: Dispatcher.DispatchController | undefined;
      let released = false;
      const releaseOnce = () => {
        if (!released) throttler.release(pod);
        released = true;
      };
      let cancelled = false;
      cancelUpstream = () => {
        cancelled = true;
        upstream?.abort(new Error('request ended by the activator'));
      };
      // undici's handler API: the response is written straight to the client, with backpressure,
      // without a promise, a body stream and a pipe per request.
      poolFor(pod).dispatch(
        { origin: `http://${pod.address}`, path: h1req.url ?? '/', method: h1req.method as Dispatcher.HttpMethod, headers, body: hasBody ? h1req : null },
        {
          onRequestStart(controller) {
            upstream = controller;
          },
          onResponseStart(controller, statusCode, responseHeaders, statusMessage) {
            if (statusCode < 200) return; // 1xx are not forwarded
            proxied.set(key, (proxied.get(key) ?? 0) + 1);
            if (h1res.destroyed) return;
            h1res.writeHead(statusCode, statusMessage ?? '', downstreamResponseHeaders(responseHeaders));
            h1res.on('drain', () => controller.resume());
          },
          onResponseData(controller, chunk) {
            if (!h1res.write(chunk)) controller.pause();
          },
          onResponseEnd(_controller, trailers) {
            if (trailers && Object.keys(trailers).length > 0) h1res.addTrailers(trailers as Record<string, string>);
            h1res.end();
            releaseOnce();
            finish();
          },
          onResponseError(_controller, err: NodeJS.ErrnoException) {
            releaseOnce();
            if (cancelled) return finish(); // the deadline or the client ended it; they answered
            if (!h1res.headersSent) return podFailed(pod, err);
            h1res.destroy(); // the pod failed mid-response
            finish();
          },
        },
      );
    };
    throttler.acquire(waiter);
  };

  /** WebSocket (any HTTP/1.1 Upgrade): a slot at a pod, then the connection spliced to it. */
  const onUpgrade = (req: IncomingMessage, client: Duplex, head: Buffer): void => {
    client.on('error', () => client.destroy());
    const refuse = (status: string, body: string) => void client.end(`HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    const routed = routedRevision(req);
    if ('status' in routed) return refuse('404 Not Found', routed.body);
    const { key, throttler } = routed;
    const s = statsFor(key);
    s.requestIn(Date.now(), false);
    if (throttler.readyPods === 0) pusher?.push([wireStat(key, throttler.queued + 1, 1)]);
    let closed = false;
    let holding: PodTracker | undefined;
    const waiter: SlotWaiter = {
      grant(pod) {
        if (closed) return throttler.release(pod);
        holding = pod;
        const upstream = net.connect({ host: pod.endpoint.host, port: pod.endpoint.port });
        upstream.once('connect', () => {
          proxied.set(key, (proxied.get(key) ?? 0) + 1);
          upstream.write(rawRequestHead(req.method, req.url, [...req.rawHeaders, H_PROXY_REQUEST, 'activator']));
          if (head.length > 0) upstream.write(head);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        upstream.once('error', () => (upstream.bytesRead === 0 ? refuse('502 Bad Gateway', `the pod at ${pod.address} is not reachable\n`) : client.destroy()));
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
      },
    };
    client.once('close', () => {
      closed = true;
      if (holding) throttler.release(holding);
      else throttler.cancel(waiter);
      s.requestOut(Date.now(), false);
    });
    throttler.acquire(waiter);
  };

  const { front: server, h1, sockets } = createAutoCodecServer(handle, onUpgrade);
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
      h1.closeIdleConnections();
      while (inFlightTotal() > 0) await new Promise((r) => setTimeout(r, 20));
    },
    async close() {
      metricsServer?.close();
      clearInterval(reporter);
      unsubscribe();
      pusher?.close();
      for (const t of throttlers.values()) t.close();
      for (const socket of sockets) socket.destroy();
      await closeServer(server);
      for (const h2 of h2Upstreams.values()) h2.close();
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}
