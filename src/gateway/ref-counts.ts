// Names several holders may want at once (an EDS name of clusters, an RDS name of scopes): which
// names become wanted or unwanted as holders come and go, at the cost of the change.
export class RefCounts {
  private readonly counts = new Map<string, number>();

  /** Returns true when `name` was not wanted before. */
  add(name: string): boolean {
    const n = this.counts.get(name) ?? 0;
    this.counts.set(name, n + 1);
    return n === 0;
  }

  /** Returns true when nothing wants `name` any more. */
  remove(name: string): boolean {
    const n = this.counts.get(name);
    if (n === undefined) return false;
    if (n > 1) this.counts.set(name, n - 1);
    else this.counts.delete(name);
    return n === 1;
  }
}
