// `gatehouse autoscaler` on its own: runs the listed revisions' pods locally and scales them,
// taking activator pushes on a websocket and serving Prometheus metrics. Without an xDS data
// plane, "proxy mode" can only be confirmed by the configured activators answering the probe.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import type { Endpoint } from '../model/desired.js';
import { revisionKey } from '../model/names.js';
import { LocalProcessRuntime } from '../runtime/index.js';
import { confirmActivatorInPath } from './activator-probe.js';
import { Multiscaler } from './multiscaler.js';
import { autoscalerRegistry } from './prometheus.js';
import { loadRevisionsFile } from './revisions-file.js';
import { deciderSpecFor } from '../model/autoscaling.js';
import { startStatReceiver } from './stat-receiver.js';

export interface StandaloneOptions {
  file: string;
  statsPort: number;
  metricsPort: number;
  host: string;
  activators: Endpoint[];
  tickMs: number;
  /** The queue-proxies' quiet period when a pod stops (Knative: 30 s). */
  drainQuietSeconds: number;
  log: Logger;
}

export async function runStandaloneAutoscaler(
  o: StandaloneOptions,
): Promise<{ statsPort: number; metricsPort: number; close(): Promise<void> }> {
  const specs = loadRevisionsFile(o.file);
  const runtime = new LocalProcessRuntime({
    baseDir: path.dirname(path.resolve(o.file)),
    drainQuietSeconds: o.drainQuietSeconds,
    log: o.log,
  });
  const lastProblem = new Map<string, string | undefined>();
  const multiscaler = new Multiscaler({
    tickMs: o.tickMs,
    log: o.log,
    scaler: {
      scale: (key, n) => runtime.scale(key, n),
      readyMetricsEndpoints: (key) =>
        runtime
          .pods(key)
          .filter((p) => p.phase === 'ready')
          .map((p) => p.metrics!),
    },
    modeSwitch: {
      async setMode(key, mode) {
        if (mode === 'serve') return { confirmed: true };
        const problem =
          o.activators.length === 0
            ? 'no activator is configured (--activator host:port)'
            : await confirmActivatorInPath(o.activators);
        if (problem && lastProblem.get(key) !== problem)
          o.log.warn('proxy mode not confirmed', { revision: key, problem });
        lastProblem.set(key, problem);
        return problem === undefined ? { confirmed: true } : { confirmed: false, reason: problem };
      },
    },
  });
  for (const spec of specs) {
    const key = revisionKey(spec.namespace, spec.name);
    runtime.ensureRevision(spec);
    multiscaler.watch(key, deciderSpecFor(spec.annotations, spec.containerConcurrency));
  }
  const receiver = await startStatReceiver(
    o.statsPort,
    o.host,
    (stats) => {
      for (const s of stats) multiscaler.recordActivatorStat(revisionKey(s.namespace, s.name), s.stat);
    },
    o.log,
  );
  const registry = autoscalerRegistry(() => multiscaler.status());
  const metrics = http.createServer((req, res) => {
    if (req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          {
            revisions: multiscaler.status(),
            pods: specs.map((s) => ({ revision: s.name, pods: runtime.pods(revisionKey(s.namespace, s.name)) })),
          },
          null,
          2,
        ),
      );
      return;
    }
    void registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => metrics.listen(o.metricsPort, o.host, resolve));
  const metricsPort = (metrics.address() as AddressInfo).port;
  o.log.info('autoscaler listening', { statsPort: receiver.port, metricsPort, revisions: specs.map((s) => s.name) });
  return {
    statsPort: receiver.port,
    metricsPort,
    async close() {
      multiscaler.close();
      await receiver.close();
      await new Promise<void>((resolve) => metrics.close(() => resolve()));
      await runtime.close();
    },
  };
}
