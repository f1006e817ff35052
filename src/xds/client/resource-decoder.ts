// Decoding each resource once, while its bytes stay the same. A state-of-the-world response
// restates every resource of its type, so with 1,000 services one edit would otherwise decode
// 1,000 clusters again. A resource whose bytes did not change comes back as the very same object,
// so consumers can memoize on identity.
import type protobuf from 'protobufjs';
import { typeForUrl } from '../../envoy/protos.js';

/** A decoded resource in Envoy's snake_case names; Any fields expanded with "@type". Shared: never mutate. */
export type DecodedResource = Record<string, any>;

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, json: true };

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

export class ResourceDecoder {
  private readonly type: protobuf.Type;
  /** Bytes → decoded object, remembering only what the latest state-of-the-world round decoded. */
  private current = new Map<string, DecodedResource>();

  constructor(readonly typeUrl: string) {
    this.type = typeForUrl(typeUrl);
  }

  /** State of the world: every resource of the type; unchanged ones come back as the same objects. */
  decodeAll(values: Uint8Array[]): DecodedResource[] {
    const next = new Map<string, DecodedResource>();
    const decoded = values.map((bytes) => {
      const key = latin1(bytes);
      const object = next.get(key) ?? this.current.get(key) ?? this.decodeOne(bytes);
      next.set(key, object);
      return object;
    });
    this.current = next;
    return decoded;
  }

  /** Delta: one changed resource (the caller keeps the unchanged ones). */
  decodeOne(bytes: Uint8Array): DecodedResource {
    return this.type.toObject(this.type.decode(bytes), TO_OBJECT);
  }
}
