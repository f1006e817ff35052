// What SotW and Delta streams share: learning the node from the first request, binding to its
// snapshot group, watching the cache, and closing cleanly however the client leaves.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../log/logger.js';
import type { NodeStatusRegistry } from '../cache/node-status.js';
import { KNOWN_TYPES, type SnapshotCache } from '../cache/snapshot-cache.js';
import type { RequestNode } from './wire.js';

export interface StreamDeps {
  cache: SnapshotCache;
  status: NodeStatusRegistry;
  log: Logger;
}

export type DuplexCall = grpc.ServerDuplexStream<Buffer, Uint8Array>;

export abstract class XdsStream {
  protected node: RequestNode | undefined;
  protected group = '';
  private cancelWatch: (() => void) | undefined;
  private closed = false;
  private nonceCounter = 0;

  constructor(
    protected readonly call: DuplexCall,
    protected readonly deps: StreamDeps,
    /** Per-type services (LDS, CDS, ...) serve one type; ADS serves all. */
    protected readonly onlyType: string | undefined,
  ) {
    call.on('data', (bytes: Buffer) => {
      try {
        this.receive(bytes);
      } catch (err) {
        this.deps.log.warn('malformed xDS request', { error: (err as Error).message, node: this.node?.id });
        this.fail(grpc.status.INVALID_ARGUMENT, `malformed request: ${(err as Error).message}`);
      }
    });
    // The client half-closed: nothing more will be asked, so finish our side with OK too; an
    // HTTP/2 stream left half-open holds its session's memory until the connection goes.
    call.on('end', () => {
      this.close();
      call.end();
    });
    call.on('error', () => this.close());
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
  }

  protected abstract receive(bytes: Buffer): void;
  protected abstract onCacheChange(typeUrl: string): void;

  /** Binds the stream to its node on the first request; false (and the stream ended) without node.id. */
  protected identify(node: RequestNode | undefined): boolean {
    if (this.node) return true;
    if (!node || node.id === '') {
      this.fail(grpc.status.INVALID_ARGUMENT, 'the first request on an xDS stream must carry node.id (set node.id in the Envoy bootstrap)');
      return false;
    }
    this.node = node;
    this.group = this.deps.cache.groupOf(node);
    this.deps.status.connected(node.id, node.cluster);
    this.cancelWatch = this.deps.cache.watch(this.group, (typeUrl) => {
      if (this.closed) return;
      // A snapshot created for this node's own group after it connected takes over.
      this.group = this.deps.cache.groupOf(this.node!);
      this.onCacheChange(typeUrl);
    });
    this.deps.log.debug('xDS stream opened', { node: node.id, cluster: node.cluster });
    return true;
  }

  /** The type a request is about, or undefined (logged) when this stream cannot serve it. */
  protected servedType(requested: string): string | undefined {
    const typeUrl = requested || this.onlyType || '';
    if (KNOWN_TYPES.has(typeUrl) && (!this.onlyType || typeUrl === this.onlyType)) return typeUrl;
    this.deps.log.warn('ignoring a request for a resource type this stream does not serve', { node: this.node?.id, typeUrl });
    return undefined;
  }

  protected nextNonce(): string {
    return String(++this.nonceCounter);
  }

  protected send(bytes: Uint8Array): void {
    if (!this.closed) this.call.write(bytes);
  }

  protected fail(code: grpc.status, details: string): void {
    if (this.closed) return;
    this.call.emit('error', { code, details, metadata: new grpc.Metadata() });
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelWatch?.();
    if (this.node) this.deps.status.disconnected(this.node.id);
  }
}
