// Restart delays like Kubernetes' CrashLoopBackOff: base, doubling per restart, capped.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const KUBERNETES_BACKOFF: BackoffPolicy = { baseMs: 10_000, maxMs: 300_000 };

/** Delay before restart number `restarts + 1`. */
export function restartDelay(restarts: number, policy: BackoffPolicy = KUBERNETES_BACKOFF): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, restarts));
}
