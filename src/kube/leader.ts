// Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it: the
// holder renews the Lease every retry period; another candidate takes it over only when it has
// seen the same record unchanged for a whole lease duration (its own clock, so clock skew between
// machines does not matter); a stopping leader releases it so a follower takes over at once.
import type { Logger } from '../log/logger.js';
import { statusCode, type KubeApi } from './client.js';
import { namespacedName } from '../model/names.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** A leader that could not renew for this long steps down. */
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/**
 * A Lease's times are MicroTime: RFC 3339 with exactly six fractional digits, which the API server
 * insists on (the client would send a Date as toISOString's three). Typed as Date for the model.
 */
export function microTime(d: Date): Date {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}

export class LeaderElector {
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The last record seen (holder + renew time) and when it was first seen. */
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;

  constructor(
    private readonly api: KubeApi,
    private readonly o: LeaderElectionOptions,
    private readonly onChange: (leading: boolean) => void,
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Stops campaigning; a leader releases the Lease so another replica can take it at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const lease = await this.api.readLease(this.o.namespace, this.o.name);
      if (lease?.spec?.holderIdentity === this.o.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.leaseDurationSeconds = 1;
        await this.api.replaceLease(lease);
      }
    } catch (err) {
      this.log.warn('could not release the lease', { error: (err as Error).message });
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.tryAcquireOrRenew();
    } catch (err) {
      if (statusCode(err) !== 409)
        this.log.warn('lease update failed', {
          lease: namespacedName(this.o.namespace, this.o.name),
          error: (err as Error).message,
        });
      if (this.leading && Date.now() - this.lastRenew > this.o.renewDeadlineMs) {
        this.log.warn('could not renew the lease in time; stepping down', { renewDeadlineMs: this.o.renewDeadlineMs });
        this.setLeading(false);
      }
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.o.retryPeriodMs);
    this.timer.unref();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = microTime(new Date());
    const durationSeconds = Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000));
    const lease = await this.api.readLease(this.o.namespace, this.o.name);
    if (!lease) {
      await this.api.createLease({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { namespace: this.o.namespace, name: this.o.name },
        spec: {
          holderIdentity: this.o.identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        },
      });
      return this.renewed();
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}@${String(spec.renewTime ?? '')}`;
    if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
    const holder = spec.holderIdentity ?? '';
    if (holder !== this.o.identity) {
      const heldFor = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
      if (holder !== '' && Date.now() - this.observed.at < heldFor) {
        if (this.leading) this.setLeading(false);
        return;
      }
      spec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
      spec.acquireTime = now;
    }
    spec.holderIdentity = this.o.identity;
    spec.leaseDurationSeconds = durationSeconds;
    spec.renewTime = now;
    lease.spec = spec;
    await this.api.replaceLease(lease);
    this.renewed();
  }

  private renewed(): void {
    this.lastRenew = Date.now();
    if (!this.leading) this.setLeading(true);
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    this.log.info(leading ? 'became leader' : 'stopped leading', {
      lease: namespacedName(this.o.namespace, this.o.name),
      identity: this.o.identity,
    });
    this.onChange(leading);
  }
}
