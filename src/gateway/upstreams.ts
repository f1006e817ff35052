// Connections to upstream endpoints, shared by every cluster that lists the same address: an undici
// Pool per HTTP/1.1 endpoint, one HTTP/2 session per h2c endpoint. Each cluster picks among its
// endpoints by its lb_policy; a request only picks, it never builds anything.
import { Pool } from 'undici';
import { H2Upstream } from '../http/h2-upstream.js';
import type { ClusterConfig, Endpoint } from './compile-cluster.js';

export interface UpstreamEndpoint {
  /** Protocol and address: one upstream per key. */
  key: string;
  address: string;
  h2c: boolean;
  pool: Pool | undefined;
  h2: H2Upstream | undefined;
  inFlight: number;
  /** How many cluster runtimes list it (acquire/release). */
  users: number;
}

export class ClusterRuntime {
  private next = 0;
  constructor(
    readonly config: ClusterConfig,
    /** What the endpoints were made from: the same config and list mean this runtime still fits. */
    readonly assigned: readonly Endpoint[],
    readonly endpoints: readonly UpstreamEndpoint[],
  ) {}

  /** Another endpoint than `failed` (round robin from it), for a retry; undefined if there is none. */
  pickOther(failed: UpstreamEndpoint): UpstreamEndpoint | undefined {
    const others = this.endpoints.filter((e) => e !== failed);
    if (others.length === 0) return undefined;
    this.next = (this.next + 1) % others.length;
    return others[this.next];
  }

  pick(): UpstreamEndpoint | undefined {
    const e = this.endpoints;
    if (e.length <= 1) return e[0];
    switch (this.config.lbPolicy) {
      case 'RANDOM':
        return e[Math.floor(Math.random() * e.length)];
      case 'LEAST_REQUEST': {
        // Envoy's default: the better of two random choices.
        const a = e[Math.floor(Math.random() * e.length)]!;
        const b = e[Math.floor(Math.random() * e.length)]!;
        return b.inFlight < a.inFlight ? b : a;
      }
      default:
        this.next = (this.next + 1) % e.length;
        return e[this.next];
    }
  }
}

export class UpstreamPools {
  private readonly byKey = new Map<string, UpstreamEndpoint>();

  /** The shared upstream for an endpoint of a cluster; each acquire is matched by one release. */
  acquire(e: Endpoint, config: ClusterConfig): UpstreamEndpoint {
    const address = `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
    const key = `${config.h2c ? 'h2c' : 'h1'} ${address}`;
    let upstream = this.byKey.get(key);
    if (!upstream) {
      const origin = `http://${address}`;
      upstream = config.h2c
        ? { key, address, h2c: true, pool: undefined, h2: new H2Upstream(origin), inFlight: 0, users: 0 }
        : {
            key,
            address,
            h2c: false,
            pool: new Pool(origin, {
              connect: { timeout: config.connectTimeoutMs },
              keepAliveTimeout: 30_000,
              headersTimeout: 0,
              bodyTimeout: 0,
              pipelining: 1,
            }),
            h2: undefined,
            inFlight: 0,
            users: 0,
          };
      this.byKey.set(key, upstream);
    }
    upstream.users++;
    return upstream;
  }

  /** Closes the connections to endpoints no cluster lists any more; requests in flight finish first. */
  release(endpoints: readonly UpstreamEndpoint[]): void {
    for (const upstream of endpoints) {
      if (--upstream.users > 0 || this.byKey.get(upstream.key) !== upstream) continue;
      this.byKey.delete(upstream.key);
      void upstream.pool?.close().catch(() => {});
      upstream.h2?.close();
    }
  }

  async close(): Promise<void> {
    const all = [...this.byKey.values()];
    this.byKey.clear();
    for (const u of all) u.h2?.close();
    await Promise.all(all.flatMap((u) => (u.pool ? [u.pool.destroy().catch(() => {})] : [])));
  }
}
