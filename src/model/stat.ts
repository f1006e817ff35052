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
