// Queue-proxies booted ahead of need. Booting Node and loading the queue-proxy takes a few hundred
// milliseconds, longer than many apps take to listen, so on a cold start the sidecar, not the app,
// would decide when the pod is ready. A standby queue-proxy (`gatehouse queue --standby`) has
// loaded everything and waits for its pod's environment on stdin; every pod's queue-proxy starts
// this way, from the pool when one is there, freshly spawned otherwise.
import { QUEUE_NODE_FLAGS } from '../model/queue-proxy.js';
import { nodeEntryArgs } from './entry.js';
import type { PodProcess, PodSpawner } from './spawner.js';

const REFILL_DELAY_MS = 1000;

/**
 * Node's flags for the queue-proxies of local pods: the queue-proxy's own, and undici's HTTP parser (WebAssembly) kept
 * on V8's baseline compiler (--liftoff-only). Otherwise a new pod's first requests set V8's optimizing compiler on
 * the parser, 300–450 ms of CPU on a helper thread per pod, more than booting the queue-proxy: in a burst from zero
 * every new pod paid it while the other pods waited for the cores. A long-lived busy queue-proxy pays about 5 % more
 * CPU per request for it, so QUEUE_NODE_FLAGS (what a pod spec should use) leaves it out; docs/performance.md.
 */
export const LOCAL_QUEUE_NODE_FLAGS: readonly string[] = [...QUEUE_NODE_FLAGS, '--liftoff-only'];

/** Node's arguments for a standby: the queue-proxy's lean entry (queue/standby). */
export function standbyEntryArgs(moduleUrl = import.meta.url): string[] {
  return nodeEntryArgs('queue', 'standby', moduleUrl);
}

/** Node's arguments for a local pod's queue-proxy; `podWaiting`: its pod already waits, so no warm-up. */
export function localQueueArgs(podWaiting: boolean): string[] {
  return [...LOCAL_QUEUE_NODE_FLAGS, ...standbyEntryArgs(), ...(podWaiting ? ['--pod-waiting'] : [])];
}

export interface QueueStandbyOptions {
  /** Spares kept booted (0 disables the pool). */
  size: number;
  /** The queue-proxy's log level (GATEHOUSE_LOG_LEVEL): read before its environment arrives. */
  logLevel: string;
  /** Added to this process's niceness for every queue-proxy (a pod process). */
  niceness: number;
  spawner: PodSpawner;
  /** True while pods boot or wait to: a spare would take CPU from them, so the refill waits. */
  podsBooting: () => boolean;
}

export class QueueStandbyPool {
  private readonly spares: PodProcess[] = [];
  private closed = false;
  private refillTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: QueueStandbyOptions) {
    this.refill();
  }

  /**
   * A booted (or booting) queue-proxy waiting for its environment. The pool refills a while later,
   * so that booting the next spare does not take CPU from the cold start under way.
   */
  take(): PodProcess {
    const spare = this.spares.shift() ?? this.spawnOne(true);
    clearTimeout(this.refillTimer);
    this.refillTimer = setTimeout(() => this.refill(), REFILL_DELAY_MS);
    this.refillTimer.unref();
    return spare;
  }

  /** Hands the queue-proxy its pod's Knative environment; it starts serving once it has it. */
  static configure(queue: PodProcess, env: Record<string, string>): void {
    queue.stdin?.end(JSON.stringify(env) + '\n');
  }

  private refill(): void {
    clearTimeout(this.refillTimer);
    if (this.closed) return;
    if (this.o.podsBooting()) {
      // At most `size` spares, booted when nothing else boots: never one per pending pod.
      this.refillTimer = setTimeout(() => this.refill(), REFILL_DELAY_MS);
      this.refillTimer.unref();
      return;
    }
    while (this.spares.length < this.o.size) {
      const spare = this.spawnOne();
      this.spares.push(spare);
      // A spare that dies unused just leaves the pool; the next take() refills it.
      const leave = () => {
        const i = this.spares.indexOf(spare);
        if (i !== -1) this.spares.splice(i, 1);
      };
      spare.once('exit', leave);
      spare.once('error', leave);
    }
  }

  /** `podWaiting`: spawned for a pod that waits for it, so it skips the warm-up. */
  private spawnOne(podWaiting = false): PodProcess {
    return this.o.spawner.spawn(process.execPath, localQueueArgs(podWaiting), {
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: this.o.logLevel },
      stdin: true,
      niceness: this.o.niceness,
    });
  }

  /** Spares end when their stdin closes without an environment. */
  close(): void {
    this.closed = true;
    clearTimeout(this.refillTimer);
    for (const spare of this.spares.splice(0)) spare.stdin?.end();
  }
}
