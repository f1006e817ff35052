// One local pod: the app process plus its own queue-proxy, on free loopback ports, with Knative's
// runtime contract in the app's environment and Knative's queue-proxy environment in the sidecar's.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { probeGet } from '../http/probe.js';
import type { Logger } from '../log/logger.js';
import type { RevisionSpec } from '../model/desired.js';
import { LISTENING_MESSAGE, LOOPBACK_FREE_PORTS } from '../model/queue-proxy.js';
import { restartDelay, type BackoffPolicy } from './backoff.js';
import type { BootSlots } from './boot-slots.js';
import type { AppPorts } from './ports.js';
import { QueueStandbyPool } from './queue-standby.js';
import type { PodProcess, PodSpawner } from './spawner.js';
import type { PodFailure, PodPhase, PodStatus } from './types.js';

export interface LocalPodOptions {
  spec: RevisionSpec;
  name: string;
  /** Per-pod logs go to <logDir>/<revision>/<pod>/{app,queue-proxy}.log */
  logDir: string;
  /** Working directory for relative commands (the services file's folder). */
  baseDir: string;
  /** Where the pod's queue-proxy comes from (booted ahead when the pool has one). */
  queueProxies: QueueStandbyPool;
  /** Starts the app (off this process's event loop). */
  spawner: PodSpawner;
  /** Shared by every pod of the runtime: a pod boots (spawn → ready) only while it holds a slot. */
  bootSlots: BootSlots;
  /** Shared by every pod of the runtime: where each app's port comes from. */
  appPorts: AppPorts;
  /** Added to this process's niceness for the app (the queue-proxy gets it from the pool). */
  niceness: number;
  backoff: BackoffPolicy;
  drainQuietSeconds: number;
  stopTimeoutMs: number;
  log: Logger;
  onChange: () => void;
}

const LAST_LINES = 20;
const READINESS_RETRY_MS = 25;
/**
 * How often a ready pod is probed again (the kubelet's periodSeconds; Knative's default is 10 s, shorter here so drains
 * are noticed well within the 30 s quiet period even when it is shortened).
 */
const READINESS_PERIOD_MS = 500;
/** The kubelet's default failureThreshold for probes that get no answer. */
const READINESS_FAILURE_THRESHOLD = 3;

class LineRing {
  private readonly lines: string[] = [];
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > LAST_LINES) this.lines.shift();
  }
  snapshot(): string[] {
    return [...this.lines];
  }
}

/** The app's readiness probe for the queue-proxy, pointed at the port the app really got. */
export function readinessProbeFor(spec: RevisionSpec, appPort: number): string {
  const probe = spec.container.readinessProbe ? structuredClone(spec.container.readinessProbe) : { tcpSocket: {} };
  for (const kind of ['tcpSocket', 'httpGet'] as const) {
    const handler = probe[kind] as Record<string, unknown> | undefined;
    if (!handler) continue;
    if (handler.port === undefined || handler.port === spec.container.containerPort) handler.port = appPort;
    handler.host ??= '127.0.0.1';
  }
  return JSON.stringify(probe);
}

export class LocalPod {
  phase: PodPhase = 'starting';
  restarts = 0;
  lastFailure: PodFailure | undefined;
  reason: string | undefined = 'starting';
  readonly startedAt = Date.now();
  private servingPort: number | undefined;
  private metricsPort: number | undefined;
  private app: PodProcess | undefined;
  private queue: PodProcess | undefined;
  private stopping = false;
  /** Bumped on each (re)start, so exits of a previous incarnation are not counted twice. */
  private incarnation = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Held from spawn until ready, failed or stopped; `cancelBootWait` while waiting for it. */
  private releaseBootSlot: (() => void) | undefined;
  private cancelBootWait: (() => void) | undefined;
  private readonly rings = { app: new LineRing(), 'queue-proxy': new LineRing() };

  constructor(private readonly o: LocalPodOptions) {}

  status(): PodStatus {
    return {
      name: this.o.name,
      revision: this.o.spec.name,
      phase: this.phase,
      serving: this.servingPort !== undefined ? { host: '127.0.0.1', port: this.servingPort } : undefined,
      metrics: this.metricsPort !== undefined ? { host: '127.0.0.1', port: this.metricsPort } : undefined,
      restarts: this.restarts,
      lastFailure: this.lastFailure,
      reason: this.reason,
      pids: { app: this.app?.pid, queueProxy: this.queue?.pid },
    };
  }

  private setPhase(phase: PodPhase, reason: string | undefined): void {
    if (this.phase === phase && this.reason === reason) return;
    this.phase = phase;
    this.reason = reason;
    this.o.onChange();
  }

  private output(kind: 'app' | 'queue-proxy', child: PodProcess): void {
    const dir = path.join(this.o.logDir, this.o.spec.name, this.o.name);
    mkdirSync(dir, { recursive: true });
    const file: WriteStream = createWriteStream(path.join(dir, `${kind}.log`), { flags: 'a' });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        if (kind === 'queue-proxy' && this.servingPort === undefined) this.readQueuePorts(line);
        this.rings[kind].push(line);
        file.write(line + '\n');
      });
    }
    child.once('close', () => file.end());
  }

  /** Starts the pod when a boot slot is free; until then it is starting, and says why. */
  start(): void {
    if (this.stopping) return;
    const { limit, cap } = this.o.bootSlots;
    this.setPhase('starting', `waiting for a boot slot (${limit} pod(s) boot at once, up to ${cap} on idle cores)`);
    this.cancelBootWait = this.o.bootSlots.acquire((release) => {
      this.cancelBootWait = undefined;
      this.releaseBootSlot = release;
      void this.launch();
    });
  }

  private bootDone(): void {
    this.cancelBootWait?.();
    this.cancelBootWait = undefined;
    const release = this.releaseBootSlot;
    this.releaseBootSlot = undefined;
    release?.();
  }

  private async launch(): Promise<void> {
    const { spec } = this.o;
    const [command, ...commandArgs] = spec.container.command;
    if (command === undefined) {
      this.bootDone();
      this.setPhase(
        'failed',
        `revision ${spec.name}: containers[0].command is empty; local pods run the command they are given`,
      );
      return;
    }
    // The app must be told its port (AppPorts keeps it out of the queue-proxies' way); the queue-proxy
    // binds free ports itself and reports them in its LISTENING_MESSAGE line.
    const appPort = await this.o.appPorts.take();
    if (this.stopping) return this.bootDone();
    this.servingPort = undefined;
    this.metricsPort = undefined;
    const envList = Object.fromEntries(spec.container.env.map((e) => [e.name, e.value]));
    const executable = command === 'node' ? process.execPath : command;
    this.app = this.o.spawner.spawn(executable, [...commandArgs, ...spec.container.args], {
      cwd: spec.container.workingDir ? path.resolve(this.o.baseDir, spec.container.workingDir) : this.o.baseDir,
      niceness: this.o.niceness,
      env: {
        ...process.env,
        ...envList,
        PORT: String(appPort),
        K_SERVICE: spec.service,
        K_CONFIGURATION: spec.configuration,
        K_REVISION: spec.name,
      },
    });
    this.queue = this.o.queueProxies.take();
    QueueStandbyPool.configure(this.queue, {
      SERVING_NAMESPACE: spec.namespace,
      SERVING_CONFIGURATION: spec.configuration,
      SERVING_REVISION: spec.name,
      SERVING_SERVICE: spec.service,
      SERVING_POD: this.o.name,
      SERVING_POD_IP: '127.0.0.1',
      CONTAINER_CONCURRENCY: String(spec.containerConcurrency),
      USER_PORT: String(appPort),
      ...LOOPBACK_FREE_PORTS,
      REVISION_TIMEOUT_SECONDS: String(spec.timeoutSeconds),
      REVISION_RESPONSE_START_TIMEOUT_SECONDS: String(spec.responseStartTimeoutSeconds ?? 0),
      REVISION_IDLE_TIMEOUT_SECONDS: String(spec.idleTimeoutSeconds ?? 0),
      SERVING_READINESS_PROBE: readinessProbeFor(spec, appPort),
      QUEUE_DRAIN_QUIET_SECONDS: String(this.o.drainQuietSeconds),
    });
    this.output('app', this.app);
    this.output('queue-proxy', this.queue);
    const incarnation = ++this.incarnation;
    this.app.once('exit', (code: number | null, signal: NodeJS.Signals | null) =>
      this.exited(incarnation, 'app', code, signal),
    );
    this.queue.once('exit', (code: number | null, signal: NodeJS.Signals | null) =>
      this.exited(incarnation, 'queue-proxy', code, signal),
    );
    this.app.once('error', (err: Error) => this.rings.app.push(`failed to start ${command}: ${err.message}`));
    this.queue.once('error', (err: Error) => this.rings['queue-proxy'].push(`failed to start: ${err.message}`));
    this.setPhase('starting', 'waiting for the queue-proxy to report the app ready');
    void this.waitReady();
  }

  private readQueuePorts(line: string): void {
    if (!line.includes(LISTENING_MESSAGE)) return;
    try {
      const fields = JSON.parse(line) as { servingPort?: number; metricsPort?: number };
      this.servingPort = fields.servingPort;
      this.metricsPort = fields.metricsPort;
    } catch {
      // not the JSON line we look for
    }
  }

  /** The kubelet-style readiness probe through the queue-proxy: ready on 200; no answer in time is not a "no". */
  private async probeReady(timeoutMs: number): Promise<'ready' | 'not ready' | 'no answer'> {
    if (this.servingPort === undefined) return 'no answer'; // the queue-proxy has not reported its ports yet
    const answer = await probeGet(
      { host: '127.0.0.1', port: this.servingPort },
      { 'user-agent': 'kube-probe/1.27', 'k-network-probe': 'queue' },
      timeoutMs,
    );
    return answer === undefined ? 'no answer' : answer.status === 200 ? 'ready' : 'not ready';
  }

  private async waitReady(): Promise<void> {
    const incarnation = this.incarnation;
    while (this.phase === 'starting' && !this.stopping && incarnation === this.incarnation) {
      // With periodSeconds 0 the queue-proxy itself polls the app for up to 10 s per probe.
      if (
        (await this.probeReady(12_000)) === 'ready' &&
        this.phase === 'starting' &&
        !this.stopping &&
        incarnation === this.incarnation
      ) {
        this.bootDone();
        this.setPhase('ready', undefined);
        this.o.log.info('pod ready', {
          pod: this.o.name,
          revision: this.o.spec.name,
          servingPort: this.servingPort,
          startupMs: Date.now() - this.startedAt,
        });
        void this.watchReady(incarnation);
        return;
      }
      await new Promise((r) => setTimeout(r, READINESS_RETRY_MS));
    }
  }

  /**
   * Keeps probing a ready pod, like the kubelet's periodic readiness probe: a queue-proxy that
   * drains (SIGTERM from anyone) or an app that stops being ready takes the pod out of the
   * endpoints while it still serves what it has, which is what makes its drain lossless.
   */
  private async watchReady(incarnation: number): Promise<void> {
    let unanswered = 0;
    while (this.phase === 'ready' && !this.stopping && incarnation === this.incarnation) {
      await new Promise((r) => setTimeout(r, READINESS_PERIOD_MS));
      if (this.phase !== 'ready' || this.stopping || incarnation !== this.incarnation) return;
      const answer = await this.probeReady(READINESS_PERIOD_MS);
      if (answer === 'ready') {
        unanswered = 0;
        continue;
      }
      // A draining queue-proxy says so (503) and leaves at once; a probe that times out while the
      // machine is busy (a burst of pods booting) must fail three times, as the kubelet's
      // failureThreshold, before a serving pod is taken out of the endpoints.
      if (answer === 'no answer' && ++unanswered < READINESS_FAILURE_THRESHOLD) continue;
      if (this.phase !== 'ready' || this.stopping || incarnation !== this.incarnation) return;
      this.o.log.warn('pod not ready', { pod: this.o.name, revision: this.o.spec.name });
      this.setPhase('starting', 'the readiness probe fails (draining, or the app is not ready)');
      void this.waitReady();
      return;
    }
  }

  private exited(
    incarnation: number,
    kind: 'app' | 'queue-proxy',
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (this.stopping || incarnation !== this.incarnation || this.phase === 'failed') return;
    const failure: PodFailure = {
      process: kind,
      exitCode: code,
      signal,
      lastLines: this.rings[kind].snapshot(),
      at: new Date().toISOString(),
    };
    this.lastFailure = failure;
    this.bootDone();
    // One process down means the pod is down: stop the other and restart both, with backoff. A
    // queue-proxy whose app died may still be writing responses the app finished (its last one
    // among them): it leaves the endpoints now and is killed only when the restart comes.
    if (kind === 'app') this.kill(this.queue, 'SIGTERM');
    else this.kill(this.app, 'SIGKILL');
    const delay = restartDelay(this.restarts, this.o.backoff);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const why = `${kind} exited (${how}); restarting in ${Math.round(delay / 100) / 10} s`;
    this.o.log.warn('pod failed', { pod: this.o.name, revision: this.o.spec.name, ...failure, restartInMs: delay });
    this.setPhase('failed', why);
    const survivor = kind === 'app' ? this.queue : undefined;
    this.restartTimer = setTimeout(() => {
      this.kill(survivor, 'SIGKILL');
      void LocalPod.exit(survivor).then(() => {
        if (this.stopping || incarnation !== this.incarnation) return;
        this.restarts++;
        this.start();
      });
    }, delay);
  }

  private kill(child: PodProcess | undefined, signal: NodeJS.Signals): void {
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  private static exit(child: PodProcess | undefined): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /**
   * A stopping pod's drain needs no quiet period any more (whatever routed here has stopped): its queue-proxy stops
   * once the requests in flight are answered.
   */
  endQuietPeriod(): void {
    if (this.stopping) this.kill(this.queue, 'SIGINT');
  }

  /** Drains the queue-proxy (it finishes in-flight requests), then stops the app; kills after the deadline. */
  async stop(): Promise<void> {
    if (this.stopping) return LocalPod.exit(this.app).then(() => LocalPod.exit(this.queue));
    this.stopping = true;
    this.bootDone();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.setPhase('draining', 'scaling down');
    const deadline = setTimeout(() => {
      this.kill(this.queue, 'SIGKILL');
      this.kill(this.app, 'SIGKILL');
    }, this.o.stopTimeoutMs);
    this.kill(this.queue, 'SIGTERM');
    await LocalPod.exit(this.queue);
    this.kill(this.app, 'SIGTERM');
    await LocalPod.exit(this.app);
    clearTimeout(deadline);
  }
}
