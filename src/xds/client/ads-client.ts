// An ADS client, the way Envoy uses one, over state of the world (api_type GRPC) or Delta
// (DELTA_GRPC, the default: an update carries only what changed). Per type a subscription
// (wildcard or by name); each update is handed to the consumer as the full set of resources it now
// has, which it accepts (ACK) or refuses with the reasons (NACK with error_detail, keeping its last
// good state). When the server goes away the client keeps what it has, reconnects with capped,
// jittered backoff and resubscribes (Delta: telling the server the versions it holds).
//
//   const ads = new AdsClient({ target: '127.0.0.1:18000', node: { id: 'gw-1', cluster: 'gatehouse-gateways' }, log });
//   ads.subscribe(TYPE_URL.cluster, [], (resources, version) => problems.length ? problems.join('; ') : undefined);
//   ads.setNames(TYPE_URL.endpoint, ['default/hello-00001']);
//   ads.close();
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import type { Logger } from '../../log/logger.js';
import { resourceName } from '../../envoy/resource.js';
import { toStruct } from '../../envoy/struct.js';
import { envoyRoot, TYPE_URL } from '../../envoy/protos.js';
import { readPem } from '../read-pem.js';
import { ResourceDecoder, type Decoded, type DecodedResource } from './resource-decoder.js';

export type { Decoded, DecodedResource } from './resource-decoder.js';

const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService';
const passBytes = (b: Buffer) => b;
/** State-of-the-world types whose responses may leave out resources without deleting them (xDS protocol). */
const PARTIAL_SOTW_TYPES: ReadonlySet<string> = new Set([TYPE_URL.route, TYPE_URL.endpoint]);
/** google.rpc.Code INVALID_ARGUMENT: what Envoy reports for config it rejects. */
const INVALID_ARGUMENT = 3;

/**
 * Returns undefined to accept (ACK) or a message saying why not (NACK). Unchanged resources arrive as the same objects.
 */
export type ResponseHandler<R = DecodedResource> = (resources: R[], version: string) => string | undefined;

export type XdsProtocol = 'sotw' | 'delta';

export interface AdsNode {
  id: string;
  cluster: string;
  metadata?: Record<string, string>;
}

/** PEM file paths: the CA that signed the server's certificate, and for mutual TLS this node's own. */
export interface XdsClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

export interface AdsClientOptions {
  /** host:port of the xDS server. */
  target: string;
  /** TLS to the server (plaintext without). */
  tls?: XdsClientTls;
  node: AdsNode;
  log: Logger;
  /** 'delta' (default) or 'sotw'. */
  protocol?: XdsProtocol;
  /** First reconnect delay (default 100 ms), doubled up to maxBackoffMs (default 5 s), with jitter. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

interface TypeSubscription {
  names: string[];
  handler: ResponseHandler;
  decoder: ResourceDecoder;
  acceptedVersion: string;
  lastNack: { version: string; error: string } | undefined;
  /** Delta: the accepted resources and their versions, by name. */
  held: Map<string, { version: string; resource: DecodedResource }>;
  /** SotW RDS/EDS: the accepted resources by name (a response may carry only some of them). */
  sotwHeld: Map<string, DecodedResource>;
  /** Delta: the names the server was last told about (subscribe/unsubscribe are the difference). */
  announced: string[] | undefined;
}

export interface AdsClientStatus {
  connected: boolean;
  protocol: XdsProtocol;
  types: Record<string, { acceptedVersion: string; names: number; lastNack?: { version: string; error: string } }>;
}

interface Messages {
  request: protobuf.Type;
  response: protobuf.Type;
  deltaRequest: protobuf.Type;
  deltaResponse: protobuf.Type;
}

let messages: Messages | undefined;
const messageTypes = (): Messages =>
  (messages ??= {
    request: envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryRequest'),
    response: envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse'),
    deltaRequest: envoyRoot().lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
    deltaResponse: envoyRoot().lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse'),
  });

interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

export class AdsClient extends EventEmitter<{ connected: []; disconnected: [] }> {
  readonly protocol: XdsProtocol;
  private readonly client: grpc.Client;
  private readonly types = new Map<string, TypeSubscription>();
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private connected = false;
  private backoffMs: number;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: AdsClientOptions) {
    super();
    messageTypes();
    this.protocol = o.protocol ?? 'delta';
    this.backoffMs = o.initialBackoffMs ?? 100;
    this.client = new grpc.Client(o.target, o.tls ? clientCredentials(o.tls) : grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
    });
    this.open();
  }

  /** Starts (or replaces) the subscription for one type; empty names mean every resource (wildcard). */
  subscribe<U extends string>(typeUrl: U, names: string[], handler: ResponseHandler<Decoded<U>>): void {
    this.types.set(typeUrl, {
      names: [...names].sort(),
      // The decoder decodes by this type URL, so its objects have the shape Decoded<U> names.
      handler: handler as ResponseHandler,
      decoder: new ResourceDecoder(typeUrl),
      acceptedVersion: '',
      lastNack: undefined,
      held: new Map(),
      sotwHeld: new Map(),
      announced: undefined,
    });
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
    for (const [url, sub] of this.types)
      types[url] = {
        acceptedVersion: sub.acceptedVersion,
        names: sub.names.length,
        ...(sub.lastNack ? { lastNack: sub.lastNack } : {}),
      };
    return { connected: this.connected, protocol: this.protocol, types };
  }

  private open(): void {
    if (this.closed) return;
    const method = `${SERVICE}/${this.protocol === 'delta' ? 'DeltaAggregatedResources' : 'StreamAggregatedResources'}`;
    const call = this.client.makeBidiStreamRequest(method, passBytes, passBytes);
    this.call = call;
    call.on('data', (data: Buffer) => {
      if (!this.connected) {
        this.connected = true;
        this.backoffMs = this.o.initialBackoffMs ?? 100;
        this.emit('connected');
      }
      if (this.protocol === 'delta') this.receiveDelta(data);
      else this.receiveSotw(data);
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
    for (const sub of this.types.values()) sub.announced = undefined;
    for (const typeUrl of this.types.keys()) this.request(typeUrl);
  }

  private nodeMessage(): Record<string, unknown> {
    const n = this.o.node;
    return { id: n.id, cluster: n.cluster, ...(n.metadata ? { metadata: toStruct(n.metadata) } : {}) };
  }

  private write(type: protobuf.Type, fields: Record<string, unknown>): void {
    this.call?.write(Buffer.from(type.encode(type.fromObject(fields)).finish()));
  }

  /** A subscription request, or the ACK/NACK of the response with `reply.nonce`. */
  private request(typeUrl: string, reply?: { nonce: string; error?: string }): void {
    const sub = this.types.get(typeUrl);
    if (!sub || !this.call) return;
    const errorDetail =
      reply?.error !== undefined ? { error_detail: { code: INVALID_ARGUMENT, message: reply.error } } : {};
    if (this.protocol === 'sotw') {
      this.write(messageTypes().request, {
        node: this.nodeMessage(),
        type_url: typeUrl,
        resource_names: sub.names,
        version_info: sub.acceptedVersion,
        response_nonce: reply?.nonce ?? '',
        ...errorDetail,
      });
      return;
    }
    if (reply) {
      this.write(messageTypes().deltaRequest, { type_url: typeUrl, response_nonce: reply.nonce, ...errorDetail });
      return;
    }
    if (sub.announced === undefined) {
      // First request on this stream: the names wanted (none = wildcard) and what is already held.
      const initial: Record<string, string> = {};
      for (const [name, h] of sub.held) initial[name] = h.version;
      this.write(messageTypes().deltaRequest, {
        node: this.nodeMessage(),
        type_url: typeUrl,
        resource_names_subscribe: sub.names,
        initial_resource_versions: initial,
      });
    } else {
      const before = new Set(sub.announced);
      const after = new Set(sub.names);
      const subscribe = sub.names.filter((n) => !before.has(n));
      const unsubscribe = sub.announced.filter((n) => !after.has(n));
      // Names dropped leave the held set now; the server will not mention them again.
      for (const n of unsubscribe) sub.held.delete(n);
      if (subscribe.length === 0 && unsubscribe.length === 0) return;
      this.write(messageTypes().deltaRequest, {
        type_url: typeUrl,
        resource_names_subscribe: subscribe,
        resource_names_unsubscribe: unsubscribe,
      });
    }
    sub.announced = sub.names;
  }

  /** Runs the consumer's handler and answers with ACK or NACK; returns whether it accepted. */
  private settle(
    typeUrl: string,
    sub: TypeSubscription,
    version: string,
    nonce: string,
    decode: () => DecodedResource[],
  ): boolean {
    let error: string | undefined;
    let resources: DecodedResource[] = [];
    try {
      resources = decode();
    } catch (err) {
      error = `cannot decode the response: ${(err as Error).message}`;
    }
    if (error === undefined) {
      try {
        error = sub.handler(resources, version);
      } catch (err) {
        error = `rejected: ${(err as Error).message}`;
      }
    }
    if (error === undefined) {
      sub.acceptedVersion = version;
      this.request(typeUrl, { nonce });
      return true;
    }
    sub.lastNack = { version, error };
    this.o.log.warn('xDS update rejected (NACK)', { typeUrl, version, error });
    this.request(typeUrl, { nonce, error });
    return false;
  }

  private receiveSotw(data: Buffer): void {
    const response = messageTypes().response.decode(data) as unknown as {
      version_info: string;
      type_url: string;
      nonce: string;
      resources: AnyMessage[];
    };
    const sub = this.types.get(response.type_url);
    if (!sub) return;
    let merged: Map<string, DecodedResource> | undefined;
    const accepted = this.settle(response.type_url, sub, response.version_info, response.nonce, () => {
      checkTypes(response.resources, response.type_url);
      const decoded = sub.decoder.decodeAll(response.resources.map((any) => any.value));
      if (!PARTIAL_SOTW_TYPES.has(response.type_url)) return decoded;
      // RDS and EDS: what a response leaves out is kept, as long as it is still subscribed to.
      const wanted = new Set(sub.names);
      merged = new Map([...sub.sotwHeld].filter(([name]) => wanted.has(name)));
      for (const r of decoded) merged.set(resourceName(r), r);
      return [...merged.values()];
    });
    if (accepted && merged) sub.sotwHeld = merged;
  }

  private receiveDelta(data: Buffer): void {
    const response = messageTypes().deltaResponse.decode(data) as unknown as {
      system_version_info: string;
      type_url: string;
      nonce: string;
      resources: Array<{ name: string; version: string; resource?: AnyMessage }>;
      removed_resources: string[];
    };
    const sub = this.types.get(response.type_url);
    if (!sub) return;
    const next = new Map(sub.held);
    const accepted = this.settle(response.type_url, sub, response.system_version_info, response.nonce, () => {
      checkTypes(
        response.resources.flatMap((r) => (r.resource ? [r.resource] : [])),
        response.type_url,
      );
      for (const name of response.removed_resources) next.delete(name);
      for (const r of response.resources) {
        // A resource without a body is one the server knows by name only: nothing to hold.
        if (r.resource) next.set(r.name, { version: r.version, resource: sub.decoder.decodeOne(r.resource.value) });
        else next.delete(r.name);
      }
      return [...next.values()].map((h) => h.resource);
    });
    if (!accepted) return;
    sub.held = next;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.call?.cancel();
    this.client.close();
  }
}

function checkTypes(resources: AnyMessage[], typeUrl: string): void {
  const stray = resources.find((any) => any.type_url !== typeUrl);
  if (stray) throw new Error(`a resource of type ${stray.type_url} arrived in a ${typeUrl} response`);
}

/** Read once, when the client starts: a certificate rotated on disk takes effect on restart. */
export function clientCredentials(tls: XdsClientTls): grpc.ChannelCredentials {
  const ca = readPem(tls.ca, 'xDS CA (--xds-ca)');
  const key = tls.key === undefined ? null : readPem(tls.key, 'xDS client key (--xds-key)');
  const cert = tls.cert === undefined ? null : readPem(tls.cert, 'xDS client certificate (--xds-cert)');
  return grpc.credentials.createSsl(ca, key, cert);
}
