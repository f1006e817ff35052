// Per-node records for operators and for the prober: connected streams, the last version each type
// ACKed, and the last NACK with its error. ACKs and NACKs are also events.
//
// Each stream answers only for itself: a node's ACKed version of a type is the one every open
// stream claiming that node id has ACKed, so a second process claiming someone else's node id
// cannot make that node look up to date (it can only hold the record back while it stays).
import { EventEmitter } from 'node:events';

export interface TypeStatus {
  ackedVersion?: string;
  ackedAt?: string;
  lastNack?: { version: string; error: string; at: string };
}

export interface NodeStatus {
  id: string;
  cluster: string;
  connectedStreams: number;
  lastSeen: string;
  types: Record<string, TypeStatus>;
}

export interface AckEvent {
  nodeId: string;
  typeUrl: string;
  version: string;
}

export interface NackEvent extends AckEvent {
  error: string;
}

/** One open stream of a node: what it ACKed, per type. */
export interface StreamRecord {
  readonly nodeId: string;
  readonly acked: Map<string, string>;
}

export class NodeStatusRegistry extends EventEmitter<{
  ack: [AckEvent];
  nack: [NackEvent];
  connect: [string];
  disconnect: [string];
}> {
  private readonly nodes = new Map<string, NodeStatus>();
  private readonly streams = new Map<string, Set<StreamRecord>>();

  private node(id: string, cluster: string): NodeStatus {
    let node = this.nodes.get(id);
    if (!node)
      this.nodes.set(id, (node = { id, cluster, connectedStreams: 0, lastSeen: new Date().toISOString(), types: {} }));
    node.lastSeen = new Date().toISOString();
    return node;
  }

  connected(id: string, cluster: string): StreamRecord {
    const node = this.node(id, cluster);
    node.cluster = cluster;
    node.connectedStreams++;
    const stream: StreamRecord = { nodeId: id, acked: new Map() };
    let open = this.streams.get(id);
    if (!open) this.streams.set(id, (open = new Set()));
    open.add(stream);
    this.emit('connect', id);
    return stream;
  }

  disconnected(stream: StreamRecord): void {
    const node = this.nodes.get(stream.nodeId);
    const open = this.streams.get(stream.nodeId);
    if (!node || !open?.delete(stream)) return;
    node.connectedStreams = open.size;
    if (open.size === 0) {
      this.streams.delete(stream.nodeId);
      // A node that never answered anything leaves no record (hostile clients inventing ids would grow it).
      if (Object.keys(node.types).length === 0) this.nodes.delete(stream.nodeId);
    }
    // The streams left may now agree on a version this one held back.
    for (const typeUrl of new Set([...open].flatMap((s) => [...s.acked.keys()]))) this.settle(node, typeUrl);
    this.emit('disconnect', stream.nodeId);
  }

  acked(stream: StreamRecord, typeUrl: string, version: string): void {
    stream.acked.set(typeUrl, version);
    const node = this.nodes.get(stream.nodeId);
    if (node) this.settle(node, typeUrl);
  }

  /** Records the version every open stream of the node ACKed, if they agree. */
  private settle(node: NodeStatus, typeUrl: string): void {
    let agreed: string | undefined;
    for (const s of this.streams.get(node.id) ?? []) {
      const v = s.acked.get(typeUrl);
      if (v === undefined || (agreed !== undefined && v !== agreed)) return;
      agreed = v;
    }
    const type = (node.types[typeUrl] ??= {});
    if (agreed === undefined || type.ackedVersion === agreed) return;
    type.ackedVersion = agreed;
    type.ackedAt = new Date().toISOString();
    node.lastSeen = type.ackedAt;
    this.emit('ack', { nodeId: node.id, typeUrl, version: agreed });
  }

  nacked(stream: StreamRecord, typeUrl: string, version: string, error: string): void {
    const node = this.nodes.get(stream.nodeId);
    if (!node) return;
    node.lastSeen = new Date().toISOString();
    (node.types[typeUrl] ??= {}).lastNack = { version, error, at: node.lastSeen };
    this.emit('nack', { nodeId: stream.nodeId, typeUrl, version, error });
  }

  /** The nodes among `ids` with an open stream that have not ACKed `version` of `typeUrl`. */
  lagging(ids: ReadonlySet<string>, typeUrl: string, version: string | undefined): string[] {
    const behind: string[] = [];
    for (const id of ids) {
      const node = this.nodes.get(id);
      if (node && node.connectedStreams > 0 && node.types[typeUrl]?.ackedVersion !== version) behind.push(id);
    }
    return behind;
  }

  /**
   * Resolves once no node among `ids()` lags (re-checked on every ACK, connect and disconnect),
   * with [], or after `timeoutMs` with the nodes still lagging.
   */
  whenAcked(
    ids: () => ReadonlySet<string>,
    typeUrl: string,
    version: string | undefined,
    timeoutMs: number,
  ): Promise<string[]> {
    return new Promise((resolve) => {
      const finish = (behind: string[]) => {
        clearTimeout(timer);
        this.off('ack', check).off('connect', check).off('disconnect', check);
        resolve(behind);
      };
      const check = () => {
        if (this.lagging(ids(), typeUrl, version).length === 0) finish([]);
      };
      const timer = setTimeout(() => finish(this.lagging(ids(), typeUrl, version)), timeoutMs);
      this.on('ack', check).on('connect', check).on('disconnect', check);
      check();
    });
  }

  list(): NodeStatus[] {
    return [...this.nodes.values()].map((n) => structuredClone(n));
  }

  get(id: string): NodeStatus | undefined {
    const node = this.nodes.get(id);
    return node ? structuredClone(node) : undefined;
  }
}
