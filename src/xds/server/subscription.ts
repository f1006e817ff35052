// What one stream has asked for of one type: everything (wildcard) or a set of names.
import { WILDCARD_TYPES } from '../cache/snapshot-cache.js';

export class Subscription {
  wildcard: boolean;
  readonly names = new Set<string>();

  constructor(typeUrl: string) {
    this.wildcard = WILDCARD_TYPES.has(typeUrl);
  }

  /** State of the world: each request restates the full set; empty means wildcard for LDS/CDS. */
  replace(typeUrl: string, names: string[]): boolean {
    const before = this.key();
    this.names.clear();
    this.wildcard = names.length === 0 ? WILDCARD_TYPES.has(typeUrl) : names.includes('*');
    for (const n of names) if (n !== '*') this.names.add(n);
    return this.key() !== before;
  }

  /** Delta: changes are sent as additions and removals; "*" turns the wildcard on and off. */
  update(subscribe: string[], unsubscribe: string[]): void {
    for (const n of subscribe) {
      if (n === '*') this.wildcard = true;
      else this.names.add(n);
    }
    for (const n of unsubscribe) {
      if (n === '*') this.wildcard = false;
      else this.names.delete(n);
    }
  }

  wants(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  private key(): string {
    return `${this.wildcard}|${[...this.names].sort().join(',')}`;
  }
}
