// Per-revision autoscaler metrics for Prometheus, read from the multiscaler's status at scrape time.
import client from 'prom-client';
import type { RevisionScaleStatus } from './multiscaler.js';
import { revisionGauge } from '../stats/revision-gauge.js';

export function autoscalerRegistry(status: () => RevisionScaleStatus[]): client.Registry {
  const registry = new client.Registry();
  const gauge = (name: string, help: string, read: (s: RevisionScaleStatus) => number) =>
    revisionGauge(registry, () => status().map((s) => [s.revision, s] as const), name, help, read);
  gauge('autoscaler_desired_pods', 'Pods the autoscaler wants', (s) => s.desiredPods);
  gauge('autoscaler_actual_pods', 'Ready pods', (s) => s.actualPods);
  gauge(
    'autoscaler_stable_request_concurrency',
    'Average concurrency (or rps) over the stable window',
    (s) => s.stable,
  );
  gauge('autoscaler_panic_request_concurrency', 'Average concurrency (or rps) over the panic window', (s) => s.panic);
  gauge('autoscaler_panic_mode', '1 while panicking', (s) => (s.panicking ? 1 : 0));
  gauge(
    'autoscaler_excess_burst_capacity',
    'Spare capacity beyond the target burst; negative keeps the activator in the path',
    (s) => s.excessBurstCapacity,
  );
  gauge('autoscaler_proxy_mode', '1 when traffic goes through the activator, 0 when straight to pods', (s) =>
    s.mode === 'proxy' ? 1 : 0,
  );
  return registry;
}
