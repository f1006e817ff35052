// What the activator counts and shows: plain counters bumped on the request path, and a Prometheus
// endpoint (prom-client) that reads them, and the throttlers' gauges, only when scraped.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import { plain } from '../http/auto-codec.js';
import type { RevisionThrottler } from './throttler.js';
import { revisionGauge } from '../stats/revision-gauge.js';

export type FailureReason = 'timeout' | 'pod_failed' | 'queue_full' | 'abandoned';

export class ActivatorCounters {
  /** Requests forwarded to a pod, by revision. */
  readonly proxied = new Map<string, number>();
  /** "revision\0reason" → requests answered with an error. */
  readonly failures = new Map<string, number>();
  /** One series, not one per header value a client makes up. */
  unknownRevision = 0;

  countProxied(key: string): void {
    this.proxied.set(key, (this.proxied.get(key) ?? 0) + 1);
  }

  countFailure(key: string, reason: FailureReason): void {
    const k = `${key}\0${reason}`;
    this.failures.set(k, (this.failures.get(k) ?? 0) + 1);
  }

  /** Drops the series of revisions `keep` says no to. */
  forget(keep: (key: string) => boolean): void {
    for (const key of this.proxied.keys()) if (!keep(key)) this.proxied.delete(key);
    for (const k of this.failures.keys()) if (!keep(k.slice(0, k.indexOf('\0')))) this.failures.delete(k);
  }

  get series(): number {
    return this.proxied.size + this.failures.size;
  }
}

/** The Prometheus endpoint on its own port (0: any free one); resolves with the server and its port. */
export async function startMetricsServer(
  port: number,
  host: string,
  counters: ActivatorCounters,
  throttlers: ReadonlyMap<string, RevisionThrottler>,
): Promise<{ server: http.Server; port: number }> {
  const registry = new client.Registry();
  const perRevision = (name: string, help: string, read: (t: RevisionThrottler) => number) =>
    revisionGauge(registry, () => throttlers, name, help, read);
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
      for (const [key, n] of counters.proxied) this.inc({ revision: key }, n);
    },
  });
  new client.Counter({
    name: 'activator_errors_total',
    help:
      'Requests the activator answered with an error, by reason (timeout 504, queue_full 503, abandoned 503: ' +
      'revision removed or activator stopping, pod_failed 502, unknown_revision 404 with no revision label)',
    labelNames: ['revision', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [k, n] of counters.failures) {
        const [revision, reason] = k.split('\0') as [string, string];
        this.inc({ revision, reason }, n);
      }
      if (counters.unknownRevision > 0) this.inc({ reason: 'unknown_revision' }, counters.unknownRevision);
    },
  });
  const server = http.createServer(
    (_req, res) =>
      void registry.metrics().then((text) => plain(res, 200, text, { 'content-type': registry.contentType })),
  );
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return { server, port: (server.address() as AddressInfo).port };
}
