// Knative's autoscaler `Stat` (protos/stat.proto) as a plain value: what a queue-proxy reports for
// its pod each second and an activator pushes per revision.
export interface Stat {
  podName: string;
  averageConcurrentRequests: number;
  averageProxiedConcurrentRequests: number;
  requestCount: number;
  proxiedRequestCount: number;
  processUptime: number;
  /** Unix seconds. */
  timestamp: number;
}

/** A pod's Stat before it has reported anything: every figure 0. */
export function zeroStat(podName: string): Stat {
  return {
    podName,
    averageConcurrentRequests: 0,
    averageProxiedConcurrentRequests: 0,
    requestCount: 0,
    proxiedRequestCount: 0,
    processUptime: 0,
    timestamp: 0,
  };
}
