// The pod runtime contract: what control and the autoscaler call, whichever backend runs pods
// (local processes here; a Kubernetes backend would create Deployments with the same env).
import type { Endpoint, RevisionSpec } from '../model/desired.js';

export type PodPhase = 'starting' | 'ready' | 'draining' | 'failed';

export interface PodFailure {
  /** Which process failed: the app or its queue-proxy. */
  process: 'app' | 'queue-proxy';
  exitCode: number | null;
  signal: string | null;
  lastLines: string[];
  at: string;
}

export interface PodStatus {
  name: string;
  revision: string;
  phase: PodPhase;
  /** The queue-proxy's serving address: what traffic and probes go to. */
  serving: Endpoint | undefined;
  /** The queue-proxy's metrics address (Knative Stat). */
  metrics: Endpoint | undefined;
  restarts: number;
  lastFailure: PodFailure | undefined;
  /** Why the pod is not ready, when it is not. */
  reason: string | undefined;
  /** Process ids of the running app and queue-proxy (local backend). */
  pids: { app: number | undefined; queueProxy: number | undefined };
}

export interface PodRuntime {
  /** Registers (or updates) a revision so it can be scaled; starts nothing by itself. */
  ensureRevision(spec: RevisionSpec): void;
  /** Converges the revision to `replicas` pods; scale-down drains the newest or unready first. */
  scale(revisionKey: string, replicas: number): void;
  pods(revisionKey: string): PodStatus[];
  /** Called whenever a pod of the revision changes phase. */
  onChange(listener: (revisionKey: string) => void): () => void;
  deleteRevision(revisionKey: string): Promise<void>;
  /** Stops every pod, each draining as on a scale-down; resolves when all have exited. */
  close(): Promise<void>;
  /** After close(), once nothing routes to the pods: their drains wait only for the requests in flight. */
  endQuietPeriods(): void;
}
