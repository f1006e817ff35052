// What SotW and Delta streams share: learning the node from the first request (and checking it
// against the connection's certificate), binding to its snapshot group, watching the cache, the
// limits every stream lives under, and closing cleanly however the client leaves.
//
// Writes: one response is handed to gRPC at a time. A type that becomes due while one is still
// being written waits as a mark, and its response is built only when the write completes, so it
// carries the latest version: a client that does not read costs one response, never a queue of
// them. A response the client has not taken within stallTimeoutMs resets the stream (RST_STREAM),
// which frees what HTTP/2 still holds for it.
import { constants as h2 } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../log/logger.js';
import type { NodeStatusRegistry, StreamRecord } from '../cache/node-status.js';
import { KNOWN_TYPES, PUSH_ORDER, type SnapshotCache } from '../cache/snapshot-cache.js';
import type { BudgetedWarnings } from './log-budget.js';
import type { RequestNode } from './wire.js';

export interface StreamLimits {
  /** Names one stream may subscribe to per type (SotW: in one request; Delta: in total). */
  maxNamesPerType: number;
  /** Open xDS streams per client connection. */
  maxStreamsPerConnection: number;
  /** A response the client has not read in this long resets its stream. */
  stallTimeoutMs: number;
}

/**
 * 50,000 names: 10,000 services subscribe to about 20,000 RouteConfigurations or clusters. Envoy
 * opens one ADS stream per connection; 100 leaves room for per-type services and retries.
 */
export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxNamesPerType: 50_000,
  maxStreamsPerConnection: 100,
  stallTimeoutMs: 60_000,
};

/** Decides whether a connection may speak for a node: undefined to accept, else why not. */
export type NodeAuthorizer = (node: RequestNode, call: DuplexCall) => string | undefined;

export interface StreamDeps {
  cache: SnapshotCache;
  status: NodeStatusRegistry;
  log: Logger;
  warnings: BudgetedWarnings;
  limits: StreamLimits;
  authorize: NodeAuthorizer;
  connections: ConnectionStreams;
}

export type DuplexCall = grpc.ServerDuplexStream<Buffer, Uint8Array>;

/** Open streams per client connection (grpc-js names a connection by its peer address). */
export class ConnectionStreams {
  private readonly open = new Map<string, number>();

  /** Counts a stream in; false when the connection already has `max`. */
  acquire(peer: string, max: number): boolean {
    const n = this.open.get(peer) ?? 0;
    if (n >= max) return false;
    this.open.set(peer, n + 1);
    return true;
  }

  release(peer: string): void {
    const n = (this.open.get(peer) ?? 1) - 1;
    if (n <= 0) this.open.delete(peer);
    else this.open.set(peer, n);
  }
}

/** The HTTP/2 stream under a grpc-js server call, to reset it; undefined if grpc-js changed shape. */
function http2StreamOf(call: DuplexCall): { close(code: number): void; destroyed: boolean } | undefined {
  let layer = (call as unknown as { call?: unknown }).call;
  for (let depth = 0; depth < 8 && layer; depth++) {
    const l = layer as { stream?: { close?: unknown }; nextCall?: unknown };
    if (l.stream && typeof l.stream.close === 'function')
      return l.stream as { close(code: number): void; destroyed: boolean };
    layer = l.nextCall;
  }
  return undefined;
}

export abstract class XdsStream {
  protected node: RequestNode | undefined;
  protected record: StreamRecord | undefined;
  protected group = '';
  private cancelWatch: (() => void) | undefined;
  private closed = false;
  private nonceCounter = 0;
  private readonly peer: string;
  private counted = false;
  /** Types whose response is due, built when the write in progress completes. */
  private readonly due = new Set<string>();
  private writing = false;
  /** Counts writes, so a stall check knows whether the write it was set for is still the one pending. */
  private writes = 0;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    protected readonly call: DuplexCall,
    protected readonly deps: StreamDeps,
    /** Per-type services (LDS, CDS, ...) serve one type; ADS serves all. */
    protected readonly onlyType: string | undefined,
  ) {
    this.peer = call.getPeer();
    call.on('error', () => this.close());
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
    if (!deps.connections.acquire(this.peer, deps.limits.maxStreamsPerConnection)) {
      deps.warnings.warn('xDS stream refused: too many streams on one connection', this.peer, {
        peer: this.peer,
        limit: deps.limits.maxStreamsPerConnection,
      });
      this.fail(
        grpc.status.RESOURCE_EXHAUSTED,
        `this connection already has ${deps.limits.maxStreamsPerConnection} xDS streams open, the ` +
          `most the server allows (--xds-max-streams-per-connection); one ADS stream carries every type`,
      );
      return;
    }
    this.counted = true;
    call.on('data', (bytes: Buffer) => {
      if (this.closed) return;
      try {
        this.receive(bytes);
      } catch (err) {
        this.deps.warnings.warn('malformed xDS request', this.node?.id ?? this.peer, {
          error: (err as Error).message,
          node: this.node?.id,
          peer: this.peer,
        });
        this.fail(grpc.status.INVALID_ARGUMENT, `malformed request: ${(err as Error).message}`);
      }
    });
    // The client half-closed: nothing more will be asked, so finish our side with OK too; an
    // HTTP/2 stream left half-open holds its session's memory until the connection goes.
    call.on('end', () => {
      this.close();
      call.end();
    });
  }

  protected abstract receive(bytes: Buffer): void;
  /** The response for a type as of now, or undefined when there is nothing to send. */
  protected abstract build(typeUrl: string): Uint8Array | undefined;
  /** Per subscribed type, the protocol's state: a cache change to one of them makes it due. */
  protected abstract readonly types: ReadonlyMap<string, unknown>;

  /** Binds the stream to its node on the first request; false (and the stream ended) when refused. */
  protected identify(node: RequestNode | undefined): boolean {
    if (this.node) return true;
    if (!node || node.id === '') {
      this.fail(
        grpc.status.INVALID_ARGUMENT,
        'the first request on an xDS stream must carry node.id (set node.id in the Envoy bootstrap)',
      );
      return false;
    }
    const refusal = this.deps.authorize(node, this.call);
    if (refusal !== undefined) {
      this.deps.warnings.warn('xDS stream refused: node does not match the client certificate', node.id, {
        node: node.id,
        cluster: node.cluster,
        peer: this.peer,
        reason: refusal,
      });
      this.fail(grpc.status.PERMISSION_DENIED, refusal);
      return false;
    }
    this.node = node;
    this.group = this.deps.cache.groupOf(node);
    this.record = this.deps.status.connected(node.id, node.cluster);
    this.cancelWatch = this.deps.cache.watch(this.group, (typeUrl) => {
      if (this.closed) return;
      // A snapshot created for this node's own group after it connected takes over.
      this.group = this.deps.cache.groupOf(this.node!);
      if (this.types.has(typeUrl)) this.schedule(typeUrl);
    });
    this.deps.log.debug('xDS stream opened', { node: node.id, cluster: node.cluster, peer: this.peer });
    return true;
  }

  /** The type a request is about, or undefined (logged) when this stream cannot serve it. */
  protected servedType(requested: string): string | undefined {
    const typeUrl = requested || this.onlyType || '';
    if (KNOWN_TYPES.has(typeUrl) && (!this.onlyType || typeUrl === this.onlyType)) return typeUrl;
    this.deps.warnings.warn(
      'ignoring a request for a resource type this stream does not serve',
      this.node?.id ?? this.peer,
      { node: this.node?.id, typeUrl },
    );
    return undefined;
  }

  /** Ends the stream when a subscription names more resources than the server allows; false then. */
  protected withinNameLimit(typeUrl: string, names: number): boolean {
    const max = this.deps.limits.maxNamesPerType;
    if (names <= max) return true;
    this.deps.warnings.warn('xDS stream refused: too many resource names', this.node?.id ?? this.peer, {
      node: this.node?.id,
      peer: this.peer,
      typeUrl,
      names,
      limit: max,
    });
    this.fail(
      grpc.status.RESOURCE_EXHAUSTED,
      `the request names ${names} resources of ${typeUrl}; this server ` +
        `accepts at most ${max} per type and stream (--xds-max-resource-names)`,
    );
    return false;
  }

  protected nextNonce(): string {
    return String(++this.nonceCounter);
  }

  /** Whether a nonce names a response this stream sent. */
  protected sentNonce(nonce: string): boolean {
    const n = Number(nonce);
    return Number.isInteger(n) && n >= 1 && n <= this.nonceCounter;
  }

  /** Marks a type's response as due; it is built when nothing else is being written. */
  protected schedule(typeUrl: string): void {
    this.due.add(typeUrl);
    this.flush();
  }

  private flush(): void {
    while (!this.writing && !this.closed && this.due.size > 0) {
      // CDS → EDS → LDS → SRDS → RDS, whatever order they became due in.
      const typeUrl = PUSH_ORDER.find((t) => this.due.has(t)) ?? this.due.values().next().value!;
      this.due.delete(typeUrl);
      const bytes = this.build(typeUrl);
      if (bytes === undefined) continue;
      this.writing = true;
      this.stallTimer = setTimeout(this.stalled, this.deps.limits.stallTimeoutMs, ++this.writes);
      this.call.write(bytes, this.written);
    }
  }

  private readonly written = (): void => {
    clearTimeout(this.stallTimer);
    this.writing = false;
    this.flush();
  };

  /**
   * Timers run before I/O in each turn of the event loop, so after the loop was blocked (a long
   * translation) the timer can fire ahead of a completion that already arrived: decide after I/O.
   */
  private readonly stalled = (write: number): void => {
    setImmediate(this.resetIfStalled, write);
  };

  private readonly resetIfStalled = (write: number): void => {
    if (this.closed || !this.writing || write !== this.writes) return;
    const seconds = this.deps.limits.stallTimeoutMs / 1000;
    this.deps.warnings.warn('xDS stream reset: the client has not read its responses', this.node?.id ?? this.peer, {
      node: this.node?.id,
      peer: this.peer,
      seconds,
    });
    const stream = http2StreamOf(this.call);
    if (stream && !stream.destroyed) stream.close(h2.NGHTTP2_ENHANCE_YOUR_CALM);
    this.fail(
      grpc.status.RESOURCE_EXHAUSTED,
      `the client did not read an xDS response for ${seconds} s (--xds-stall-timeout-seconds)`,
    );
  };

  protected fail(code: grpc.status, details: string): void {
    if (this.closed) return;
    this.call.emit('error', { code, details, metadata: new grpc.Metadata() });
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.stallTimer);
    this.due.clear();
    this.cancelWatch?.();
    if (this.counted) this.deps.connections.release(this.peer);
    if (this.record) this.deps.status.disconnected(this.record);
  }
}
