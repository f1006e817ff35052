// Assembles the queue-proxy: the serving port (HTTP/1.1 and h2c on one socket, plus TLS when
// configured), the admin port and the two metrics ports. Probes are answered before anything else
// runs, as in Knative's handler chain; ordinary requests go through stats, breaker and timeouts.
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { Pool } from '../http/undici-pool.js';
import { H_KUBELET_PROBE, H_NETWORK_HASH, H_NETWORK_PROBE, H_PROXY_REQUEST } from '../model/headers.js';
import { LISTENING_MESSAGE } from '../model/queue-proxy.js';
import type { Logger } from '../log/logger.js';
import { closeServer, createAutoCodecServer, listen, plain } from '../http/auto-codec.js';
import { Breaker } from './breaker.js';
import type { QueueConfig } from './config.js';
import { DeadlineTicker } from '../http/deadlines.js';
import { Drainer } from '../http/drain.js';
import { QueueExchange, type ExchangeContext, type InboundRequest, type OutboundResponse } from './exchange.js';
import { QueueMetrics } from './metrics.js';
import { classifyProbe, type ProbeKind } from './probes.js';
import { ReadinessChecker } from './readiness.js';
import { RequestStats } from '../stats/request-stats.js';
import { H2Upstream } from '../http/h2-upstream.js';
import { upgradeToApp } from './websocket.js';

export interface QueueProxy {
  servingPort: number;
  tlsPort: number | undefined;
  adminPort: number;
  metricsPort: number;
  userMetricsPort: number;
  readonly draining: boolean;
  /** Starts draining; resolves once the quiet period passed and every in-flight request finished. */
  drain(): Promise<void>;
  /** Drains without the quiet period (nothing routes here any more): done once in-flight requests finish. */
  drainNow(): Promise<void>;
  close(): Promise<void>;
}

const REPORTING_PERIOD_MS = 1000;
const TIMEOUT_TICK_MS = 50;

export async function startQueueProxy(config: QueueConfig, log: Logger): Promise<QueueProxy> {
  const startedAt = Date.now();
  const stats = new RequestStats(startedAt);
  const metrics = new QueueMetrics(
    {
      namespace_name: config.namespace,
      configuration_name: config.configuration,
      revision_name: config.revision,
      pod_name: config.pod,
    },
    startedAt,
  );
  const readiness = new ReadinessChecker(config.readinessProbe);
  const drainer = new Drainer(config.drainQuietMs);
  const userAddress = `http://127.0.0.1:${config.userPort}`;
  const pool = new Pool(userAddress, { keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, pipelining: 1 });
  const h2Upstream = new H2Upstream(userAddress);
  const cc = config.containerConcurrency;
  const ctx: ExchangeContext = {
    breaker: cc > 0 ? new Breaker(cc, 10 * cc) : undefined,
    stats,
    ticker: new DeadlineTicker(TIMEOUT_TICK_MS),
    bodyIdleTimeoutMs: config.limits.bodyIdleTimeoutMs,
    drainMs: config.limits.drainMs,
    timeouts: {
      revisionMs: config.revisionTimeoutMs,
      responseStartMs: config.responseStartTimeoutMs,
      idleMs: config.idleTimeoutMs,
    },
    userAddress,
    h1: { pool },
    h2: { h2: h2Upstream },
    record: (code, ms) => metrics.record(code, ms),
  };

  const answerProbe = (kind: ProbeKind, req: InboundRequest, res: OutboundResponse): void => {
    if (drainer.isDraining) return plain(res, 503, 'shutting down');
    switch (kind) {
      case 'health-bad-header':
        return plain(res, 400, `unexpected probe header value: ${String(req.headers[H_NETWORK_PROBE] ?? '')}`);
      case 'ingress-no-hash':
        return plain(res, 400, 'no K-Network-Hash header in the probe request');
      case 'ingress': {
        const hash = req.headers[H_NETWORK_HASH];
        return plain(res, 200, 'probe', { [H_NETWORK_HASH]: Array.isArray(hash) ? hash[0]! : String(hash) });
      }
      case 'health':
        void readiness.check().then((ready) => {
          if (res.destroyed) return;
          if (drainer.isDraining) plain(res, 503, 'shutting down');
          else if (ready) plain(res, 200, 'queue');
          else plain(res, 503, 'the app is not ready');
        });
        return;
      case 'none':
        return;
    }
  };

  const handle = (req: InboundRequest, res: OutboundResponse): void => {
    const h = req.headers;
    if (h[H_NETWORK_PROBE] !== undefined || h[H_KUBELET_PROBE] !== undefined || h['user-agent'] !== undefined) {
      const kind = classifyProbe(h['user-agent'], h[H_KUBELET_PROBE], h[H_NETWORK_PROBE], h[H_NETWORK_HASH]);
      if (kind !== 'none') return answerProbe(kind, req, res);
    }
    drainer.touch();
    const proxied = h[H_PROXY_REQUEST] !== undefined;
    new QueueExchange(ctx, req, res, proxied).begin();
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    drainer.touch();
    upgradeToApp(ctx, config.userPort, req, socket, head, req.headers[H_PROXY_REQUEST] !== undefined);
  };

  // Serving port: sniff the first bytes so HTTP/1.1 and h2c prior knowledge share one socket. The
  // TLS port, when configured, is the same listener with TLS in front: the same limits apply.
  const serving = [
    createAutoCodecServer(handle, onUpgrade, { limits: config.limits, name: 'queue-proxy serving', log }),
  ];
  const servingPort = await listen(serving[0]!.front, config.servingPort, config.bindAddress);
  let tlsPort: number | undefined;
  if (config.tlsCertFile && config.tlsKeyFile) {
    const tls = { cert: readFileSync(config.tlsCertFile), key: readFileSync(config.tlsKeyFile) };
    serving.push(
      createAutoCodecServer(handle, onUpgrade, { limits: config.limits, name: 'queue-proxy serving TLS', log, tls }),
    );
    tlsPort = await listen(serving[1]!.front, config.tlsPort, config.bindAddress);
  }
  const servers: net.Server[] = serving.map((s) => s.front);

  const admin = http.createServer((req, res) => {
    if (req.url === '/wait-for-drain') {
      void drainer.whenStarted().then(() => plain(res, 200, 'draining'));
      return;
    }
    plain(res, 404, 'not found; the admin port serves /wait-for-drain');
  });
  const adminPort = await listen(admin, config.adminPort, config.bindAddress);

  const metricsServer = http.createServer((req, res) => {
    if (!req.url?.startsWith('/metrics')) return plain(res, 404, 'not found; try /metrics');
    const accept = req.headers.accept ?? '';
    if (accept.includes('application/protobuf') || accept.includes('application/x-protobuf')) {
      const body = metrics.statBytes;
      res.writeHead(200, { 'content-type': 'application/protobuf', 'content-length': String(body.length) });
      res.end(body);
      return;
    }
    void metrics
      .registries()
      .then(async ({ stat }) => plain(res, 200, await stat.metrics(), { 'content-type': stat.contentType }));
  });
  const metricsPort = await listen(metricsServer, config.metricsPort, config.bindAddress);

  const userMetricsServer = http.createServer((req, res) => {
    if (!req.url?.startsWith('/metrics')) return plain(res, 404, 'not found; try /metrics');
    void metrics
      .registries()
      .then(async ({ user }) => plain(res, 200, await user.metrics(), { 'content-type': user.contentType }));
  });
  const userMetricsPort = await listen(userMetricsServer, config.userMetricsPort, config.bindAddress);
  servers.push(admin, metricsServer, userMetricsServer);

  const reporter = setInterval(() => {
    const now = Date.now();
    metrics.publish(stats.report(now), now);
  }, REPORTING_PERIOD_MS);
  reporter.unref();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      clearInterval(reporter);
      // Connections handed to h1/h2 by the sniffing front are not tracked by them: end them here.
      for (const { sockets } of serving) for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map(closeServer));
      h2Upstream.close();
      await pool.close();
    })());

  const waitForIdle = async (): Promise<void> => {
    while (stats.inFlight > 0) await new Promise((r) => setTimeout(r, 20));
  };

  let drained: Promise<void> | undefined;
  const drain = (): Promise<void> =>
    (drained ??= (async () => {
      log.info('draining', { quietPeriodMs: config.drainQuietMs, inFlight: stats.inFlight });
      await drainer.drain();
      // Quiet period over: stop accepting, let in-flight requests finish, then shut down.
      for (const { front, h1 } of serving) {
        front.close();
        h1.closeIdleConnections();
      }
      await waitForIdle();
      log.info('drained', { servedForMs: Date.now() - startedAt });
      await close();
    })());

  log.info(LISTENING_MESSAGE, {
    servingPort,
    tlsPort,
    adminPort,
    metricsPort,
    userMetricsPort,
    userPort: config.userPort,
    containerConcurrency: cc,
    revision: config.revision,
  });

  return {
    servingPort,
    tlsPort,
    adminPort,
    metricsPort,
    userMetricsPort,
    get draining() {
      return drainer.isDraining;
    },
    drain,
    drainNow() {
      drainer.endQuietPeriod();
      return drain();
    },
    close,
  };
}
