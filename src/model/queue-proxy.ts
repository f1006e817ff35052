// The queue-proxy's side of its contract with whatever starts it (gatehouse up's runtime, a
// kubelet): environment it reads beyond Knative's own (queue/config.ts parses all of it) and the
// log line that reports the ports it bound.

/** A queue-proxy on loopback that picks free ports itself and reports them in its LISTENING_MESSAGE line. */
export const LOOPBACK_FREE_PORTS: Readonly<Record<string, string>> = {
  QUEUE_SERVING_PORT: '0',
  QUEUE_ADMIN_PORT: '0',
  QUEUE_METRICS_PORT: '0',
  QUEUE_USER_METRICS_PORT: '0',
  QUEUE_BIND_ADDRESS: '127.0.0.1',
};

/** The `msg` of the JSON log line whose fields servingPort, metricsPort, … are the bound ports. */
export const LISTENING_MESSAGE = 'queue-proxy listening';

/**
 * Node's flags for the queue-proxy, whoever starts it (`gatehouse up`'s runtime; a pod spec's command). A sidecar's
 * heap: V8 grows the young generation under load to 16 MiB semi-spaces (up to 48 MiB of new space in every pod), where
 * a proxy's garbage dies within a request; and garbage collection on the main thread alone, no helper threads woken on
 * cores the app needs. The trade-off is measured in docs/queue-proxy.md.
 */
export const QUEUE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--single-threaded-gc'];
