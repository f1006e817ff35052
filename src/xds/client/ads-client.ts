// An ADS client, the way Envoy uses one, over state of the world (api_type GRPC) or Delta
// (DELTA_GRPC, the default: an update carries only what changed). Per type a subscription
// (wildcard or by name); each update is handed to the consumer as what changed since the last one it
// accepted (resources new or different, names gone), over both APIs, so a consumer's work follows
// the change and not the number of resources. It accepts (ACK) or refuses with the reasons (NACK
// with error_detail: the client keeps its last good state). When the server goes away the client
// keeps what it has, reconnects with capped, jittered backoff and resubscribes (Delta: telling the
// server the versions it holds); the server's answer is again told as changes, usually none.
//
//   const ads = new AdsClient({ target: '127.0.0.1:18000', node: { id: 'gw-1', cluster: 'gatehouse-gateways' }, log });
//   ads.subscribe(TYPE_URL.cluster, [], ({ changed, removed }, version) => check(changed, removed));
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

/** What one response changes in the resources a subscription holds. */
export interface ResourceUpdate<R = DecodedResource> {
  /** Resources the consumer has not accepted in this form before (new, or with other bytes), by name. */
  changed: ReadonlyMap<string, R>;
  /**
   * Names the consumer held that the server removed. Names the consumer unsubscribes from (setNames,
   * changeNames) are dropped by the client then and never reported.
   */
  removed: readonly string[];
}

/** Returns undefined to accept (ACK) or a message saying why not (NACK); the update is then as if never sent. */
export type ResponseHandler<R = DecodedResource> = (update: ResourceUpdate<R>, version: string) => string | undefined;

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
  names: Set<string>;
  handler: ResponseHandler;
  decoder: ResourceDecoder;
  acceptedVersion: string;
  lastNack: { version: string; error: string } | undefined;
  /** The accepted resources by name, with their Delta versions ('' over state of the world). */
  held: Map<string, { version: string; resource: DecodedResource }>;
  /** Delta: whether this stream has had its first request; then the name changes not yet sent. */
  announced: boolean;
  toSubscribe: Set<string>;
  toUnsubscribe: Set<string>;
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
      names: new Set(names),
      // The decoder decodes by this type URL, so its objects have the shape Decoded<U> names.
      handler: handler as ResponseHandler,
      decoder: new ResourceDecoder(typeUrl),
      acceptedVersion: '',
      lastNack: undefined,
      held: new Map(),
      announced: false,
      toSubscribe: new Set(),
      toUnsubscribe: new Set(),
    });
    this.request(typeUrl);
  }

  /** Replaces the names a type is subscribed to; sends a request only when they differ. */
  setNames(typeUrl: string, names: Iterable<string>): void {
    const wanted = new Set(names);
    const sub = this.subscription(typeUrl, 'setNames');
    this.changeNames(
      typeUrl,
      [...wanted].filter((n) => !sub.names.has(n)),
      [...sub.names].filter((n) => !wanted.has(n)),
    );
  }

  /**
   * Adds and removes names of a type's subscription, at a cost that follows the change; sends a
   * request only when the names differ. What a removed name held is dropped without a word.
   */
  changeNames(typeUrl: string, add: Iterable<string>, remove: Iterable<string>): void {
    const sub = this.subscription(typeUrl, 'changeNames');
    let changed = false;
    for (const n of remove) {
      if (!sub.names.delete(n)) continue;
      changed = true;
      sub.held.delete(n);
      if (!sub.toSubscribe.delete(n)) sub.toUnsubscribe.add(n);
    }
    for (const n of add) {
      if (sub.names.has(n)) continue;
      changed = true;
      sub.names.add(n);
      if (!sub.toUnsubscribe.delete(n)) sub.toSubscribe.add(n);
    }
    if (changed) this.request(typeUrl);
  }

  private subscription(typeUrl: string, method: string): TypeSubscription {
    const sub = this.types.get(typeUrl);
    if (!sub) throw new Error(`AdsClient.${method}: ${typeUrl} has no subscription; call subscribe first`);
    return sub;
  }

  status(): AdsClientStatus {
    const types: AdsClientStatus['types'] = {};
    for (const [url, sub] of this.types)
      types[url] = {
        acceptedVersion: sub.acceptedVersion,
        names: sub.names.size,
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
    for (const sub of this.types.values()) sub.announced = false;
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
        resource_names: [...sub.names],
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
    if (!sub.announced) {
      // First request on this stream: the names wanted (none = wildcard) and what is already held.
      const initial: Record<string, string> = {};
      for (const [name, h] of sub.held) initial[name] = h.version;
      this.write(messageTypes().deltaRequest, {
        node: this.nodeMessage(),
        type_url: typeUrl,
        resource_names_subscribe: [...sub.names],
        initial_resource_versions: initial,
      });
      sub.announced = true;
    } else if (sub.toSubscribe.size > 0 || sub.toUnsubscribe.size > 0) {
      this.write(messageTypes().deltaRequest, {
        type_url: typeUrl,
        resource_names_subscribe: [...sub.toSubscribe],
        resource_names_unsubscribe: [...sub.toUnsubscribe],
      });
    }
    sub.toSubscribe.clear();
    sub.toUnsubscribe.clear();
  }

  /**
   * Runs the consumer's handler on what the response changes and answers with ACK or NACK; an
   * accepted update then becomes what the subscription holds.
   */
  private settle(
    typeUrl: string,
    sub: TypeSubscription,
    version: string,
    nonce: string,
    diff: () => { changed: Map<string, { version: string; resource: DecodedResource }>; removed: string[] },
  ): void {
    let error: string | undefined;
    let update: ReturnType<typeof diff> | undefined;
    try {
      update = diff();
    } catch (err) {
      error = `cannot decode the response: ${(err as Error).message}`;
    }
    if (update) {
      const changed = new Map<string, DecodedResource>();
      for (const [name, h] of update.changed) changed.set(name, h.resource);
      try {
        error = sub.handler({ changed, removed: update.removed }, version);
      } catch (err) {
        error = `rejected: ${(err as Error).message}`;
      }
    }
    if (error === undefined) {
      for (const name of update!.removed) sub.held.delete(name);
      for (const [name, h] of update!.changed) sub.held.set(name, h);
      sub.acceptedVersion = version;
      this.request(typeUrl, { nonce });
      return;
    }
    sub.lastNack = { version, error };
    this.o.log.warn('xDS update rejected (NACK)', { typeUrl, version, error });
    this.request(typeUrl, { nonce, error });
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
    this.settle(response.type_url, sub, response.version_info, response.nonce, () => {
      checkTypes(response.resources, response.type_url);
      // The decoder hands back the very object held for bytes it has seen, so a changed resource is a new object.
      const decoded = sub.decoder.decodeAll(response.resources.map((any) => any.value));
      const changed = new Map<string, { version: string; resource: DecodedResource }>();
      const present = new Set<string>();
      for (const resource of decoded) {
        const name = resourceName(resource);
        present.add(name);
        if (sub.held.get(name)?.resource !== resource) changed.set(name, { version: '', resource });
        else changed.delete(name); // a name repeated in one response: the last one counts
      }
      // RDS and EDS responses may leave out resources without removing them (the xDS protocol).
      const removed = PARTIAL_SOTW_TYPES.has(response.type_url)
        ? []
        : [...sub.held.keys()].filter((name) => !present.has(name));
      return { changed, removed };
    });
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
    this.settle(response.type_url, sub, response.system_version_info, response.nonce, () => {
      checkTypes(
        response.resources.flatMap((r) => (r.resource ? [r.resource] : [])),
        response.type_url,
      );
      const changed = new Map<string, { version: string; resource: DecodedResource }>();
      const removed = new Set<string>();
      for (const name of response.removed_resources) removed.add(name);
      for (const r of response.resources) {
        // A resource without a body is one the server knows by name only: nothing to hold.
        if (!r.resource) removed.add(r.name);
        else {
          removed.delete(r.name);
          // The same version of a resource held already (a resend after reconnecting) changes nothing.
          if (r.version !== '' && sub.held.get(r.name)?.version === r.version) continue;
          changed.set(r.name, { version: r.version, resource: sub.decoder.decodeOne(r.resource.value) });
        }
      }
      return { changed, removed: [...removed].filter((name) => sub.held.has(name)) };
    });
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
