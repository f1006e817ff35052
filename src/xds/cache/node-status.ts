// Per-node records for operators and for the prober: connected streams, the last version each type
// ACKed, and the last NACK with its error. ACKs and NACKs are also events.
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

export class NodeStatusRegistry extends EventEmitter<{ ack: [AckEvent]; nack: [NackEvent]; connect: [string]; disconnect: [string] }> {
  private readonly nodes = new Map<string, NodeStatus>();

  private node(id: string, cluster: string): NodeStatus {
    let node = this.nodes.get(id);
    if (!node) this.nodes.set(id, (node = { id, cluster, connectedStreams: 0, lastSeen: new Date().toISOString(), types: {} }));
    node.lastSeen = new Date().toISOString();
    return node;
  }

  connected(id: string, cluster: string): void {
    this.node(id, cluster).connectedStreams++;
    this.emit('connect', id);
  }

  disconnected(id: string): void {
    const node = this.nodes.get(id);
    if (!node) return;
    node.connectedStreams = Math.max(0, node.connectedStreams - 1);
    this.emit('disconnect', id);
  }

  acked(id: string, cluster: string, typeUrl: string, version: string): void {
    const type = (this.node(id, cluster).types[typeUrl] ??= {});
    if (type.ackedVersion === version) return;
    type.ackedVersion = version;
    type.ackedAt = new Date().toISOString();
    this.emit('ack', { nodeId: id, typeUrl, version });
  }

  nacked(id: string, cluster: string, typeUrl: string, version: string, error: string): void {
    (this.node(id, cluster).types[typeUrl] ??= {}).lastNack = { version, error, at: new Date().toISOString() };
    this.emit('nack', { nodeId: id, typeUrl, version, error });
  }

  list(): NodeStatus[] {
    return [...this.nodes.values()].map((n) => structuredClone(n));
  }

  get(id: string): NodeStatus | undefined {
    const node = this.nodes.get(id);
    return node ? structuredClone(node) : undefined;
  }
}
