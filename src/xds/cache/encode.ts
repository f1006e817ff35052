// Encoding each resource once, when it changes. The same object as last time (the Translator
// hands unchanged resources back as such) is recognised without even serializing it to JSON; an
// equal one by its JSON.
import { createHash } from 'node:crypto';
import type protobuf from 'protobufjs';
import { resourceName, type EnvoyResource } from '../../envoy/resource.js';
import { typeForUrl } from '../../envoy/protos.js';

export interface EncodedResource {
  /** The type's URL: what its entries carry in their Any. */
  typeUrl: string;
  name: string;
  bytes: Uint8Array;
  /** Content hash of the bytes: the resource version Delta xDS sends. */
  version: string;
  /**
   * Written by the first response that sends the resource (server/wire.ts), so that a response is a concatenation,
   * not a re-encoding of every resource it holds: its SotW entry (the Any, about 70 bytes more than `bytes`), and
   * what a Delta entry puts before that same Any (its length, name and version).
   */
  sotwEntry?: Uint8Array;
  deltaHead?: Uint8Array;
}

/** Remembers the JSON and bytes of what it encoded last, per resource name. */
export class ResourceEncoder {
  private readonly memo = new Map<string, { resource: EnvoyResource; json: string; encoded: EncodedResource }>();
  private readonly type: protobuf.Type;

  constructor(private readonly typeUrl: string) {
    this.type = typeForUrl(typeUrl);
  }

  encode(resource: EnvoyResource): EncodedResource {
    const name = resourceName(resource);
    const previous = this.memo.get(name);
    if (previous?.resource === resource) return previous.encoded;
    const json = JSON.stringify(resource);
    if (previous && previous.json === json) {
      previous.resource = resource;
      return previous.encoded;
    }
    const bytes = this.type.encode(this.type.fromObject(resource)).finish();
    const encoded = {
      typeUrl: this.typeUrl,
      name,
      bytes,
      version: createHash('sha256').update(bytes).digest('hex').slice(0, 16),
    };
    this.memo.set(name, { resource, json, encoded });
    return encoded;
  }

  forget(name: string): void {
    this.memo.delete(name);
  }
}
