// What the queue-proxy reports: the autoscaler's Stat (protobuf, or Prometheus text for people)
// on the metrics port, and request counts by code plus a latency histogram on the user-metrics port.
// Requests only bump plain counters; prom-client reads them when scraped. prom-client itself is
// loaded on the first text scrape (the autoscaler reads protobuf), not at start: it is a fifth of
// a cold queue-proxy's start-up CPU, and every pod of a burst pays that.
import type client from 'prom-client';
import type { PeriodStat } from '../stats/request-stats.js';
import { zeroStat, type Stat } from '../model/stat.js';
import { encodeStat } from './stat-wire.js';

export interface RevisionLabels {
  namespace_name: string;
  configuration_name: string;
  revision_name: string;
  pod_name: string;
}

// Knative's revision_request_latencies buckets, in milliseconds.
const LATENCY_BUCKETS_MS = [
  5, 10, 20, 40, 60, 80, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000, 2000, 5000, 10000,
  20000, 50000, 100000,
];

/** Latencies kept while prom-client is not loaded; this many starts loading it, so the list stays short. */
const PENDING_LATENCIES_MAX = 1000;

export interface Registries {
  stat: client.Registry;
  user: client.Registry;
}

export class QueueMetrics {
  private latest: Stat;
  private latestBytes: Buffer;
  private readonly countsByCode = new Map<number, number>();
  private latency: client.Histogram<string> | undefined;
  private pendingLatencies: number[] = [];
  private loading: Promise<Registries> | undefined;

  constructor(
    private readonly labels: RevisionLabels,
    private readonly startedAt: number,
  ) {
    this.latest = zeroStat(labels.pod_name);
    this.latestBytes = encodeStat(this.latest);
  }

  /** The Prometheus registries (prom-client loaded on the first call); latencies recorded before are in them. */
  registries(): Promise<Registries> {
    this.loading ??= import('prom-client').then(({ default: prom }) => this.build(prom));
    return this.loading;
  }

  private build(prom: typeof client): Registries {
    const stat = new prom.Registry();
    const user = new prom.Registry();
    stat.setDefaultLabels({ ...this.labels });
    user.setDefaultLabels({ ...this.labels });
    // prom-client calls collect() with the metric as `this`.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const gauge = (name: string, help: string, read: (s: Stat) => number) =>
      new prom.Gauge({
        name,
        help,
        registers: [stat],
        collect() {
          this.set(read(self.latest));
        },
      });
    gauge(
      'queue_average_concurrent_requests',
      'Average number of requests in flight (queued or at the app) over the last second',
      (s) => s.averageConcurrentRequests,
    );
    gauge(
      'queue_average_proxied_concurrent_requests',
      'Average number of in-flight requests that came through the activator',
      (s) => s.averageProxiedConcurrentRequests,
    );
    gauge('queue_requests_per_second', 'Requests received in the last second', (s) => s.requestCount);
    gauge(
      'queue_proxied_operations_per_second',
      'Requests from the activator received in the last second',
      (s) => s.proxiedRequestCount,
    );
    gauge('process_uptime', 'Seconds since the queue-proxy started', (s) => s.processUptime);
    new prom.Counter({
      name: 'revision_request_count',
      help: 'Requests that reached the queue-proxy, by response code',
      labelNames: ['response_code', 'response_code_class'],
      registers: [user],
      collect() {
        this.reset();
        for (const [code, count] of self.countsByCode)
          this.inc({ response_code: String(code), response_code_class: `${Math.floor(code / 100)}xx` }, count);
      },
    });
    const latency = new prom.Histogram({
      name: 'revision_request_latencies',
      help: 'Time to serve a request, in milliseconds',
      buckets: LATENCY_BUCKETS_MS,
      registers: [user],
    });
    for (const ms of this.pendingLatencies) latency.observe(ms);
    this.pendingLatencies = [];
    this.latency = latency;
    return { stat, user };
  }

  record(statusCode: number, durationMs: number): void {
    this.countsByCode.set(statusCode, (this.countsByCode.get(statusCode) ?? 0) + 1);
    if (this.latency) return this.latency.observe(durationMs);
    this.pendingLatencies.push(durationMs);
    if (this.pendingLatencies.length === PENDING_LATENCIES_MAX) void this.registries();
  }

  /** Called once per reporting period with the period's stats. */
  publish(period: PeriodStat, now: number): void {
    this.latest = {
      podName: this.latest.podName,
      averageConcurrentRequests: period.averageConcurrency,
      averageProxiedConcurrentRequests: period.averageProxiedConcurrency,
      requestCount: period.requestCount,
      proxiedRequestCount: period.proxiedRequestCount,
      processUptime: (now - this.startedAt) / 1000,
      timestamp: Math.floor(now / 1000),
    };
    this.latestBytes = encodeStat(this.latest);
  }

  get statBytes(): Buffer {
    return this.latestBytes;
  }

  get stat(): Stat {
    return this.latest;
  }
}
