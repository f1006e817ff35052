// Decoding each resource once, while its bytes stay the same. A state-of-the-world response
// restates every resource of its type, so with 1,000 services one edit would otherwise decode
// 1,000 clusters and a RouteConfiguration of 2,000 virtual hosts again. A resource whose bytes
// did not change comes back as the very same object, so consumers can memoize on identity.
// RouteConfiguration is split at the wire level (a message is the concatenation of its fields):
// each virtual host is memoized on its own bytes, per route configuration, so that also a Delta
// update of one big RouteConfiguration only decodes the virtual hosts that changed.
import protobuf from 'protobufjs';
import { TYPE_URL, typeForUrl } from '../protos.js';

/** A decoded resource in Envoy's snake_case names; Any fields expanded with "@type". Shared: never mutate. */
export type DecodedResource = Record<string, any>;

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, json: true };
const LENGTH_DELIMITED = 2;

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

/** Bytes → decoded object, remembering only what the latest round decoded. */
class BytesMemo {
  private current = new Map<string, DecodedResource>();
  private next = new Map<string, DecodedResource>();

  constructor(private readonly type: protobuf.Type) {}

  decode(bytes: Uint8Array): DecodedResource {
    const key = latin1(bytes);
    let decoded = this.next.get(key) ?? this.current.get(key);
    if (!decoded) decoded = this.type.toObject(this.type.decode(bytes), TO_OBJECT) as DecodedResource;
    this.next.set(key, decoded);
    return decoded;
  }

  /** Ends a round: what it did not decode is forgotten. */
  rotate(): void {
    this.current = this.next;
    this.next = new Map();
  }
}

export class ResourceDecoder {
  private readonly type: protobuf.Type;
  private readonly whole: BytesMemo;
  private readonly vhostType: protobuf.Type | undefined;
  private readonly vhostFieldId: number = 0;
  /** Per RouteConfiguration name, its virtual hosts' memo. */
  private readonly vhostMemos = new Map<string, BytesMemo>();

  constructor(readonly typeUrl: string) {
    this.type = typeForUrl(typeUrl);
    this.whole = new BytesMemo(this.type);
    if (typeUrl === TYPE_URL.route) {
      const field = this.type.fields.virtual_hosts!;
      field.resolve();
      this.vhostType = field.resolvedType as protobuf.Type;
      this.vhostFieldId = field.id;
    }
  }

  /** State of the world: every resource of the type; unchanged ones come back as the same objects. */
  decodeAll(values: Uint8Array[]): DecodedResource[] {
    try {
      const decoded = values.map((bytes) => (this.vhostType ? this.decodeRouteConfiguration(bytes) : this.whole.decode(bytes)));
      if (this.vhostType) {
        const names = new Set(decoded.map((d) => String(d.name)));
        for (const name of this.vhostMemos.keys()) if (!names.has(name)) this.vhostMemos.delete(name);
      }
      return decoded;
    } finally {
      this.whole.rotate();
    }
  }

  /** Delta: one changed resource (the caller keeps the unchanged ones). */
  decodeOne(bytes: Uint8Array): DecodedResource {
    return this.vhostType ? this.decodeRouteConfiguration(bytes) : (this.type.toObject(this.type.decode(bytes), TO_OBJECT) as DecodedResource);
  }

  /** Delta: a resource was removed. */
  forget(name: string): void {
    this.vhostMemos.delete(name);
  }

  private decodeRouteConfiguration(bytes: Uint8Array): DecodedResource {
    const reader = protobuf.Reader.create(bytes);
    const rest: Uint8Array[] = [];
    const vhostBytes: Uint8Array[] = [];
    while (reader.pos < reader.len) {
      const start = reader.pos;
      const tag = reader.uint32();
      if (tag >>> 3 === this.vhostFieldId && (tag & 7) === LENGTH_DELIMITED) {
        vhostBytes.push(reader.bytes());
      } else {
        reader.skipType(tag & 7);
        rest.push(bytes.subarray(start, reader.pos));
      }
    }
    const head = this.type.toObject(this.type.decode(Buffer.concat(rest)), TO_OBJECT) as DecodedResource;
    if (vhostBytes.length === 0) return head;
    const name = String(head.name);
    let memo = this.vhostMemos.get(name);
    if (!memo) this.vhostMemos.set(name, (memo = new BytesMemo(this.vhostType!)));
    head.virtual_hosts = vhostBytes.map((b) => memo.decode(b));
    memo.rotate();
    return head;
  }
}
