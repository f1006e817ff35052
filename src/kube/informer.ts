// An informer for one kind: the official client's ListWatch (list, then watch from the list's
// resourceVersion; a 410 Gone clears it so the next round relists, and objects missing from a
// relist are reported deleted) plus what it leaves to its user: reconnecting with a backoff when
// the watch fails (API server restart, network), and a promise for the first complete list.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import type { ListWatchSource } from './client.js';
import type { KubeObject } from './types.js';

export interface InformerHandlers<T> {
  /** Added or changed (a relist reports every object again only if its resourceVersion moved). */
  upsert(obj: T): void;
  remove(obj: T): void;
}

export interface ReconnectBackoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_RECONNECT: ReconnectBackoff = { initialMs: 250, maxMs: 10_000 };

export class Informer<T extends KubeObject> {
  private readonly lw: k8s.ListWatch<k8s.KubernetesObject>;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private markSynced!: () => void;
  /** Resolves after the first complete list has been delivered. */
  readonly synced = new Promise<void>((resolve) => (this.markSynced = resolve));

  constructor(
    private readonly source: ListWatchSource<T>,
    watch: k8s.Watch,
    handlers: InformerHandlers<T>,
    private readonly log: Logger,
    private readonly backoff: ReconnectBackoff = DEFAULT_RECONNECT,
  ) {
    const list = async () => {
      const result = await source.list();
      this.failures = 0;
      // Delivered by ListWatch right after this returns; the promise settles after that.
      queueMicrotask(() => this.markSynced());
      return result as unknown as k8s.KubernetesListObject<k8s.KubernetesObject>;
    };
    this.lw = new k8s.ListWatch(source.path, watch, list, false, undefined, source.fieldSelector);
    this.lw.on(k8s.ADD, (o) => handlers.upsert(o as unknown as T));
    this.lw.on(k8s.UPDATE, (o) => handlers.upsert(o as unknown as T));
    this.lw.on(k8s.DELETE, (o) => handlers.remove(o as unknown as T));
    this.lw.on(k8s.CONNECT, () => {
      if (this.failures > 0)
        this.log.info('watch reconnecting', {
          kind: source.kind,
          resourceVersion: this.lw.latestResourceVersion() || 'relist',
        });
    });
    this.lw.on(k8s.ERROR, (err) => this.retry(err));
  }

  start(): void {
    void this.lw.start().catch((err) => this.retry(err));
  }

  get(namespace: string, name: string): T | undefined {
    return this.lw.get(name, namespace) as unknown as T | undefined;
  }

  list(): readonly T[] {
    return this.lw.list() as unknown as T[];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.lw.stop();
  }

  private retry(err: unknown): void {
    if (this.stopped) return;
    this.failures++;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (this.failures - 1));
    this.log.warn('watch failed; retrying', {
      kind: this.source.kind,
      error: (err as Error)?.message ?? String(err),
      retryInMs: delay,
    });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.stopped) this.start();
    }, delay);
    this.timer.unref();
  }
}
