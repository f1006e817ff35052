// Pods as local processes: each revision's pods are LocalPods, converged to the wanted count. On
// one machine the pods share the cores with the data plane, so a bounded number boot at once and
// every pod process runs at a lower scheduling priority.
import os from 'node:os';
import { createLogger, type Logger } from '../log/logger.js';
import type { RevisionSpec } from '../model/desired.js';
import { revisionKey } from '../model/names.js';
import { KUBERNETES_BACKOFF, type BackoffPolicy } from './backoff.js';
import { BootSlots } from './boot-slots.js';
import { LocalPod } from './local-pod.js';
import { AppPorts } from './ports.js';
import { QueueStandbyPool } from './queue-standby.js';
import { SpareCpuMeter } from './spare-cpu.js';
import { PodSpawner } from './spawner.js';
import { podName, scaleDownVictims } from './naming.js';
import { DEFAULT_POD_NICENESS } from './priority.js';
import type { PodRuntime, PodStatus } from './types.js';

export interface LocalRuntimeOptions {
  /** Where per-pod logs go (default .gatehouse/pods). */
  logDir?: string;
  /** Folder relative commands and workingDir resolve from (default the current directory). */
  baseDir?: string;
  backoff?: BackoffPolicy;
  /** The queue-proxy's quiet period when a pod is stopped (Knative: 30 s). */
  drainQuietSeconds?: number;
  /** Kill a stopping pod after this long (Kubernetes' default grace period is 30 s). */
  stopTimeoutMs?: number;
  /**
   * Queue-proxies kept booted ahead of cold starts (default: maxBootingPods, one for each pod that may boot at once; 0
   * boots each when its pod starts).
   */
  queueStandby?: number;
  /**
   * Pods booting (spawned, not yet ready) at once; while the cores go partly unused one more may start, up to
   * SPARE_CAP_FACTOR times this. The rest wait their turn (default: the core count).
   */
  maxBootingPods?: number;
  /** Niceness added to this process's for every pod process (default 10; 0 leaves them alone). */
  podNiceness?: number;
  log?: Logger;
}

/** How often idle cores are looked for while pods wait to boot. */
const SPARE_CPU_SAMPLE_MS = 50;

interface RevisionPods {
  spec: RevisionSpec;
  pods: LocalPod[];
  stopping: Set<LocalPod>;
}

export class LocalProcessRuntime implements PodRuntime {
  private readonly revisions = new Map<string, RevisionPods>();
  private readonly listeners = new Set<(key: string) => void>();
  private readonly log: Logger;
  private readonly queueProxies: QueueStandbyPool;
  private readonly spawner: PodSpawner;
  private readonly bootSlots: BootSlots;
  private readonly appPorts = new AppPorts();
  private readonly niceness: number;
  private closed = false;
  /** The pods close() stopped. */
  private readonly closing = new Set<LocalPod>();
  /** Set while pods wait for a boot slot: watches for idle cores. */
  private spareWatch: NodeJS.Timeout | undefined;

  constructor(private readonly options: LocalRuntimeOptions = {}) {
    this.log = options.log ?? createLogger('runtime');
    this.bootSlots = new BootSlots(options.maxBootingPods ?? os.availableParallelism());
    this.niceness = options.podNiceness ?? DEFAULT_POD_NICENESS;
    let priorityWarned = false;
    this.spawner = new PodSpawner((error) => {
      if (!priorityWarned) this.log.warn("could not lower a pod process's scheduling priority", { error });
      priorityWarned = true;
    });
    this.queueProxies = new QueueStandbyPool({
      spawner: this.spawner,
      size: options.queueStandby ?? this.bootSlots.limit,
      // The queue-proxy's "listening" line (info) carries its ports; keep debug if asked for.
      logLevel: process.env.GATEHOUSE_LOG_LEVEL === 'debug' ? 'debug' : 'info',
      niceness: this.niceness,
      podsBooting: () => this.bootSlots.inUse + this.bootSlots.queued > 0,
    });
  }

  /** Pods booting now and pods waiting for a boot slot, over every revision. */
  booting(): { booting: number; waiting: number; limit: number; cap: number } {
    const { inUse, queued, limit, cap } = this.bootSlots;
    return { booting: inUse, waiting: queued, limit, cap };
  }

  ensureRevision(spec: RevisionSpec): void {
    if (this.closed) return; // a runtime that is shutting down starts nothing
    const key = revisionKey(spec.namespace, spec.name);
    const existing = this.revisions.get(key);
    if (existing) existing.spec = spec;
    else this.revisions.set(key, { spec, pods: [], stopping: new Set() });
  }

  scale(key: string, replicas: number): void {
    if (this.closed) return;
    const revision = this.revisions.get(key);
    if (!revision) throw new Error(`runtime: revision ${key} is not registered; call ensureRevision first`);
    const excess = revision.pods.length - replicas;
    if (excess > 0) {
      const victims = scaleDownVictims(
        revision.pods.map((pod) => ({ pod, ready: pod.phase === 'ready', startedAt: pod.startedAt })),
        excess,
      ).map((v) => v.pod);
      revision.pods = revision.pods.filter((p) => !victims.includes(p));
      for (const pod of victims) {
        revision.stopping.add(pod);
        void pod.stop().then(() => {
          revision.stopping.delete(pod);
          this.changed(key);
        });
      }
    }
    for (let i = revision.pods.length; i < replicas; i++) {
      const pod = new LocalPod({
        spec: revision.spec,
        name: podName(revision.spec),
        logDir: this.options.logDir ?? '.gatehouse/pods',
        baseDir: this.options.baseDir ?? process.cwd(),
        queueProxies: this.queueProxies,
        spawner: this.spawner,
        bootSlots: this.bootSlots,
        appPorts: this.appPorts,
        niceness: this.niceness,
        backoff: this.options.backoff ?? KUBERNETES_BACKOFF,
        drainQuietSeconds: this.options.drainQuietSeconds ?? 30,
        stopTimeoutMs: this.options.stopTimeoutMs ?? 30_000 + (this.options.drainQuietSeconds ?? 30) * 1000,
        log: this.log,
        onChange: () => this.changed(key),
      });
      revision.pods.push(pod);
      pod.start();
    }
    this.watchSpareCpu();
    if (excess !== 0) this.log.info('scaled', { revision: key, replicas, from: replicas + excess });
  }

  /** While pods wait for a boot slot, lets one more boot whenever the cores went partly unused. */
  private watchSpareCpu(): void {
    if (this.spareWatch || this.bootSlots.queued === 0) return;
    const meter = new SpareCpuMeter(os.availableParallelism());
    meter.spare();
    this.spareWatch = setInterval(() => {
      if (this.bootSlots.queued === 0 || this.closed) {
        clearInterval(this.spareWatch);
        this.spareWatch = undefined;
      } else if (meter.spare()) this.bootSlots.spareCpu();
    }, SPARE_CPU_SAMPLE_MS);
    this.spareWatch.unref();
  }

  pods(key: string): PodStatus[] {
    const revision = this.revisions.get(key);
    if (!revision) return [];
    return [...revision.pods, ...revision.stopping].map((p) => p.status());
  }

  onChange(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(key: string): void {
    for (const listener of this.listeners) listener(key);
  }

  async deleteRevision(key: string): Promise<void> {
    const revision = this.revisions.get(key);
    if (!revision) return;
    this.revisions.delete(key);
    await Promise.all([...revision.pods, ...revision.stopping].map((p) => p.stop()));
  }

  /** Stops every pod: each drains as on a scale-down, for at most the quiet period (see endQuietPeriods). */
  async close(): Promise<void> {
    this.closed = true;
    this.queueProxies.close();
    for (const revision of this.revisions.values())
      for (const pod of [...revision.pods, ...revision.stopping]) this.closing.add(pod);
    await Promise.all([...this.revisions.keys()].map((k) => this.deleteRevision(k)));
    this.spawner.close();
  }

  /** After close(), once nothing routes to the pods any more: their drains stop waiting for more requests. */
  endQuietPeriods(): void {
    for (const pod of this.closing) pod.endQuietPeriod();
  }
}
