// Decoding each resource once, while its bytes stay the same. A state-of-the-world response
// restates every resource of its type, so with 1,000 services one edit would otherwise decode
// 1,000 clusters again. A resource whose bytes did not change comes back as the very same object,
// so consumers can memoize on identity.
import type protobuf from 'protobufjs';
import type { DecodedByTypeUrl } from '../../envoy/envoy-types.js';
import { typeForUrl } from '../../envoy/protos.js';

/**
 * A decoded resource in Envoy's snake_case names; Any fields expanded with "@type". Shared: never mutate.
 * envoy-types.ts has the shape of each of Envoy's types (see Decoded in ads-client.ts).
 */
export type DecodedResource = Record<string, unknown>;

/** What a type URL decodes to: the generated shape for Envoy's own types, plain objects for others. */
export type Decoded<U extends string> = U extends keyof DecodedByTypeUrl ? DecodedByTypeUrl[U] : DecodedResource;

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, json: true };

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

export class ResourceDecoder<U extends string = string> {
  private readonly type: protobuf.Type;
  /** Bytes → decoded object, remembering only what the latest state-of-the-world round decoded. */
  private current = new Map<string, Decoded<U>>();

  constructor(readonly typeUrl: U) {
    this.type = typeForUrl(typeUrl);
  }

  /** State of the world: every resource of the type; unchanged ones come back as the same objects. */
  decodeAll(values: Uint8Array[]): Decoded<U>[] {
    const next = new Map<string, Decoded<U>>();
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
  decodeOne(bytes: Uint8Array): Decoded<U> {
    // The message type is the one this URL names, so the object has the shape Decoded<U> describes.
    return this.type.toObject(this.type.decode(bytes), TO_OBJECT) as Decoded<U>;
  }
}
