// The queue-proxy: Knative's per-pod sidecar. `startQueueProxy(parseQueueEnv(process.env), log)`
// starts it; the returned handle gives the real ports (0 in the environment picks free ones),
// `drain()` (what SIGTERM does) and `close()`.
export { parseQueueEnv, ConfigError, type QueueConfig } from './config.js';
export { startQueueProxy, type QueueProxy } from './server.js';
