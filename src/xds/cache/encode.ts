// Encoding each resource once, when it changes. RouteConfigurations are assembled from cached
// per-virtual-host bytes (a message is the concatenation of its fields), so one route's change
// costs one virtual host's encode plus a copy. The same object as last time (the Translator hands
// unchanged resources back as such) is recognised without even serializing it to JSON.
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import type { EnvoyResource } from '../../translate/types.js';
import { TYPE_URL, typeForUrl } from '../protos.js';

export interface EncodedResource {
  name: string;
  bytes: Uint8Array;
  /** Content hash of the bytes: the resource version Delta xDS sends. */
  version: string;
}

export function resourceName(typeUrl: string, resource: EnvoyResource): string {
  return typeUrl === TYPE_URL.endpoint ? String(resource.cluster_name) : String(resource.name);
}

function hashBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** Remembers the JSON and bytes of what it encoded last, per resource name. */
export class ResourceEncoder {
  private readonly memo = new Map<string, { resource: EnvoyResource; json: string; encoded: EncodedResource; parts?: Uint8Array[] }>();
  private readonly vhostMemo = new Map<string, { resource: EnvoyResource; json: string; bytes: Uint8Array; version: string }>();
  private readonly type: protobuf.Type;
  private readonly vhostType: protobuf.Type | undefined;
  private readonly vhostFieldId: number;

  constructor(private readonly typeUrl: string) {
    this.type = typeForUrl(typeUrl);
    if (typeUrl === TYPE_URL.route) {
      const field = this.type.fields.virtual_hosts!;
      field.resolve();
      this.vhostType = field.resolvedType as protobuf.Type;
      this.vhostFieldId = field.id;
    } else {
      this.vhostFieldId = 0;
    }
  }

  encode(resource: EnvoyResource): EncodedResource {
    const name = resourceName(this.typeUrl, resource);
    if (this.vhostType) return this.encodeRouteConfiguration(name, resource);
    const previous = this.memo.get(name);
    if (previous?.resource === resource) return previous.encoded;
    const json = JSON.stringify(resource);
    if (previous && previous.json === json) {
      previous.resource = resource;
      return previous.encoded;
    }
    const bytes = this.type.encode(this.type.fromObject(resource)).finish();
    const encoded = { name, bytes, version: hashBytes(bytes) };
    this.memo.set(name, { resource, json, encoded });
    return encoded;
  }

  private encodeRouteConfiguration(name: string, resource: EnvoyResource): EncodedResource {
    const { virtual_hosts: vhosts, ...rest } = resource as { virtual_hosts?: EnvoyResource[] };
    const head = this.type.encode(this.type.fromObject(rest)).finish();
    const parts: Uint8Array[] = [head];
    const versions = createHash('sha256').update(head);
    const seen = new Set<string>();
    for (const vhost of vhosts ?? []) {
      const key = `${name}\u0000${String(vhost.name)}`;
      seen.add(key);
      let cached = this.vhostMemo.get(key);
      if (cached?.resource !== vhost) {
        const json = JSON.stringify(vhost);
        if (cached && cached.json === json) cached.resource = vhost;
        else {
          const body = this.vhostType!.encode(this.vhostType!.fromObject(vhost)).finish();
          const framed = protobuf.Writer.create().uint32((this.vhostFieldId << 3) | 2).bytes(body).finish();
          cached = { resource: vhost, json, bytes: framed, version: hashBytes(framed) };
          this.vhostMemo.set(key, cached);
        }
      }
      parts.push(cached!.bytes);
      versions.update(cached!.version);
    }
    for (const key of this.vhostMemo.keys()) if (key.startsWith(`${name}\u0000`) && !seen.has(key)) this.vhostMemo.delete(key);
    const previous = this.memo.get(name);
    // The same parts as last time (the head compared by content, cached parts by identity): unchanged.
    const same = previous?.parts && previous.parts.length === parts.length && Buffer.compare(previous.parts[0]!, head) === 0 && parts.every((p, i) => i === 0 || previous.parts![i] === p);
    if (same) return previous.encoded;
    // The version hashes the parts' hashes, not megabytes of bytes: still a pure function of the content.
    const encoded = { name, bytes: Buffer.concat(parts), version: versions.digest('hex').slice(0, 16) };
    this.memo.set(name, { resource, json: '', encoded, parts });
    return encoded;
  }

  forget(name: string): void {
    this.memo.delete(name);
  }
}
