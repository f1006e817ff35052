// Pod runtimes. `PodRuntime` (types.ts) is the contract; `LocalProcessRuntime` runs each pod as
// the app process plus its own `gatehouse queue` on free loopback ports. A pod is ready when its
// queue-proxy answers a kubelet-style probe (User-Agent kube-probe/…, K-Network-Probe: queue).
// Crashed pods restart with CrashLoopBackOff-style delays and keep their last failure (process,
// exit code or signal, last log lines); logs go to <logDir>/<revision>/<pod>/{app,queue-proxy}.log.
// `image` in a container spec is kept for a Kubernetes backend and ignored locally.
export type { PodRuntime, PodStatus, PodPhase, PodFailure } from './types.js';
export { LocalProcessRuntime, type LocalRuntimeOptions } from './local-runtime.js';
export { restartDelay, KUBERNETES_BACKOFF, type BackoffPolicy } from './backoff.js';
