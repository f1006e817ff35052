// A state-of-the-world ADS client, the way Envoy uses one: per type a subscription (wildcard or by
// name), every response handed to the consumer, which accepts it (ACK) or returns the reasons it
// cannot (NACK with error_detail, keeping its last good state). When the server goes away the
// client keeps what it has, reconnects with capped, jittered backoff and resubscribes.
//
//   const ads = new AdsClient({ target: '127.0.0.1:18000', node: { id: 'gw-1', cluster: 'gatehouse-gateways' }, log });
//   ads.subscribe(TYPE_URL.cluster, [], (resources, version) => problems.length ? problems.join('; ') : undefined);
//   ads.setNames(TYPE_URL.endpoint, ['default/hello-00001']);
//   ads.close();
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../log/logger.js';
import { toStruct } from '../../translate/struct.js';
import { envoyRoot, typeForUrl } from '../protos.js';

const ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const passBytes = (b: Buffer) => b;
/** google.rpc.Code INVALID_ARGUMENT: what Envoy reports for config it rejects. */
const INVALID_ARGUMENT = 3;

/** A decoded resource in Envoy's snake_case names; Any fields expanded with "@type". */
export type DecodedResource = Record<string, any>;

/** Returns undefined to accept (ACK) or a message saying why not (NACK). */
export type ResponseHandler = (resources: DecodedResource[], version: string) => string | undefined;

export interface AdsNode {
  id: string;
  cluster: string;
  metadata?: Record<string, string>;
}

export interface AdsClientOptions {
  /** host:port of the xDS server. */
  target: string;
  node: AdsNode;
  log: Logger;
  /** First reconnect delay (default 100 ms), doubled up to maxBackoffMs (default 5 s), with jitter. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

interface TypeSubscription {
  names: string[];
  handler: ResponseHandler;
  acceptedVersion: string;
  lastNack: { version: string; error: string } | undefined;
}

export interface AdsClientStatus {
  connected: boolean;
  types: Record<string, { acceptedVersion: string; names: number; lastNack?: { version: string; error: string } }>;
}

export class AdsClient extends EventEmitter<{ connected: []; disconnected: [] }> {
  private readonly client: grpc.Client;
  private readonly types = new Map<string, TypeSubscription>();
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private connected = false;
  private backoffMs: number;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: AdsClientOptions) {
    super();
    envoyRoot();
    this.backoffMs = o.initialBackoffMs ?? 100;
    this.client = new grpc.Client(o.target, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
    this.open();
  }

  /** Starts (or replaces) the subscription for one type; empty names mean every resource (wildcard). */
  subscribe(typeUrl: string, names: string[], handler: ResponseHandler): void {
    this.types.set(typeUrl, { names: [...names].sort(), handler, acceptedVersion: '', lastNack: undefined });
    this.request(typeUrl);
  }

  /** Changes the names a type is subscribed to; sends a request only when they differ. */
  setNames(typeUrl: string, names: string[]): void {
    const sub = this.types.get(typeUrl);
    if (!sub) throw new Error(`AdsClient.setNames: ${typeUrl} has no subscription; call subscribe first`);
    const sorted = [...names].sort();
    if (sorted.length === sub.names.length && sorted.every((n, i) => n === sub.names[i])) return;
    sub.names = sorted;
    this.request(typeUrl);
  }

  status(): AdsClientStatus {
    const types: AdsClientStatus['types'] = {};
    for (const [url, sub] of this.types) types[url] = { acceptedVersion: sub.acceptedVersion, names: sub.names.length, ...(sub.lastNack ? { lastNack: sub.lastNack } : {}) };
    return { connected: this.connected, types };
  }

  private open(): void {
    if (this.closed) return;
    const call = this.client.makeBidiStreamRequest(ADS_METHOD, passBytes, passBytes);
    this.call = call;
    call.on('data', (data: Buffer) => {
      if (!this.connected) {
        this.connected = true;
        this.backoffMs = this.o.initialBackoffMs ?? 100;
        this.emit('connected');
      }
      this.receive(data);
    });
    call.on('error', () => {}); // 'status' below handles every ending
    // grpc-js reports the end of every call, however it ended, with exactly one 'status'.
    call.on('status', () => {
      if (this.call !== call) return;
      this.call = undefined;
      if (this.connected) {
        this.connected = false;
        if (!this.closed) this.emit('disconnected');
      }
      if (this.closed) return;
      const delay = this.backoffMs * (0.5 + Math.random() / 2);
      this.backoffMs = Math.min(this.o.maxBackoffMs ?? 5000, this.backoffMs * 2);
      this.o.log.debug('xDS stream closed; reconnecting', { target: this.o.target, inMs: Math.round(delay) });
      this.reconnectTimer = setTimeout(() => this.open(), delay);
      this.reconnectTimer.unref();
    });
    // A new stream starts over: ask again for every type, telling the server what we hold.
    for (const typeUrl of this.types.keys()) this.request(typeUrl);
  }

  private request(typeUrl: string, reply?: { nonce: string; error?: string }): void {
    const sub = this.types.get(typeUrl);
    if (!sub || !this.call) return;
    const type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    const message = type.fromObject({
      node: { id: this.o.node.id, cluster: this.o.node.cluster, ...(this.o.node.metadata ? { metadata: toStruct(this.o.node.metadata) } : {}) },
      type_url: typeUrl,
      resource_names: sub.names,
      version_info: sub.acceptedVersion,
      response_nonce: reply?.nonce ?? '',
      ...(reply?.error !== undefined ? { error_detail: { code: INVALID_ARGUMENT, message: reply.error } } : {}),
    });
    this.call.write(Buffer.from(type.encode(message).finish()));
  }

  private receive(data: Buffer): void {
    const responseType = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    const response = responseType.decode(data) as unknown as { version_info: string; type_url: string; nonce: string; resources: Array<{ type_url: string; value: Uint8Array }> };
    const sub = this.types.get(response.type_url);
    if (!sub) return;
    let error: string | undefined;
    let resources: DecodedResource[] = [];
    try {
      resources = response.resources.map((any) => {
        if (any.type_url !== response.type_url) throw new Error(`a resource of type ${any.type_url} arrived in a ${response.type_url} response`);
        const type = typeForUrl(any.type_url);
        return type.toObject(type.decode(any.value), { longs: Number, enums: String, json: true }) as DecodedResource;
      });
    } catch (err) {
      error = `cannot decode the response: ${(err as Error).message}`;
    }
    if (error === undefined) {
      try {
        error = sub.handler(resources, response.version_info);
      } catch (err) {
        error = `rejected: ${(err as Error).message}`;
      }
    }
    if (error === undefined) {
      sub.acceptedVersion = response.version_info;
      this.request(response.type_url, { nonce: response.nonce });
    } else {
      sub.lastNack = { version: response.version_info, error };
      this.o.log.warn('xDS update rejected (NACK)', { typeUrl: response.type_url, version: response.version_info, error });
      this.request(response.type_url, { nonce: response.nonce, error });
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.call?.cancel();
    this.client.close();
  }
}
