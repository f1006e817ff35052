// The activator's connections to pods, one undici pool (HTTP/1.1) and one HTTP/2 session per pod
// address, kept only while some revision lists the pod: a pod that is gone has its connections
// closed once the requests already on them finish, so neither sockets nor maps outlive it.
import { Pool } from 'undici';
import type { Upstream } from '../http/exchange.js';
import { H2Upstream } from '../http/h2-upstream.js';

export class PodConnections {
  private readonly h1 = new Map<string, Upstream & { pool: Pool }>();
  private readonly h2 = new Map<string, Upstream & { h2: H2Upstream }>();
  private closing: Promise<void> | undefined;

  /** The pod over HTTP/1.1, or over h2c (made on first use). */
  upstream(address: string, h2: boolean): Upstream {
    if (h2) {
      let upstream = this.h2.get(address);
      if (!upstream) this.h2.set(address, (upstream = { h2: new H2Upstream(`http://${address}`) }));
      return upstream;
    }
    let upstream = this.h1.get(address);
    if (!upstream)
      this.h1.set(address, (upstream = { pool: new Pool(`http://${address}`, { headersTimeout: 0, bodyTimeout: 0 }) }));
    return upstream;
  }

  /** The pod is gone: forget it; its connections close after the requests in flight on them (graceful close). */
  release(address: string): void {
    // A pool already closed (by close()) rejects; there is nothing left to do then.
    this.h1
      .get(address)
      ?.pool.close()
      .catch(() => {});
    this.h1.delete(address);
    this.h2.get(address)?.h2.close();
    this.h2.delete(address);
  }

  /** How many pods have a pool / an HTTP/2 session. */
  get counts(): { pools: number; h2Sessions: number } {
    return { pools: this.h1.size, h2Sessions: this.h2.size };
  }

  /** Closes every connection (gracefully); the same promise however often it is called. */
  close(): Promise<void> {
    if (!this.closing) {
      const closed = [...this.h1.values()].map((u) => u.pool.close().catch(() => {}));
      for (const u of this.h2.values()) u.h2.close();
      this.h1.clear();
      this.h2.clear();
      this.closing = Promise.all(closed).then(() => {});
    }
    return this.closing;
  }
}
