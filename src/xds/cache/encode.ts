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

interface VirtualHostEntry {
  resource: EnvoyResource;
  json: string;
  /** Framed as field virtual_hosts of RouteConfiguration. */
  bytes: Uint8Array;
  version: string;
}

/** Remembers the JSON and bytes of what it encoded last, per resource name. */
export class ResourceEncoder {
  private readonly memo = new Map<string, { resource: EnvoyResource; json: string; encoded: EncodedResource; head?: Uint8Array }>();
  /** Per RouteConfiguration name, its virtual hosts as last encoded, in order. */
  private readonly vhostMemo = new Map<string, VirtualHostEntry[]>();
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
    const { virtual_hosts: vhosts = [], ...rest } = resource as { virtual_hosts?: EnvoyResource[] };
    const head = this.type.encode(this.type.fromObject(rest)).finish();
    const before = this.vhostMemo.get(name) ?? [];
    let byName: Map<string, VirtualHostEntry> | undefined;
    let changed = vhosts.length !== before.length;
    const entries = vhosts.map((vhost, i) => {
      // The common case: the same object at the same place as last time.
      if (before[i]?.resource === vhost) return before[i]!;
      changed = true;
      byName ??= new Map(before.map((e) => [String(e.resource.name), e]));
      const previous = byName.get(String(vhost.name));
      if (previous?.resource === vhost) return previous;
      const json = JSON.stringify(vhost);
      if (previous && previous.json === json) return { ...previous, resource: vhost };
      const body = this.vhostType!.encode(this.vhostType!.fromObject(vhost)).finish();
      const bytes = protobuf.Writer.create().uint32((this.vhostFieldId << 3) | 2).bytes(body).finish();
      return { resource: vhost, json, bytes, version: hashBytes(bytes) };
    });
    this.vhostMemo.set(name, entries);
    const previous = this.memo.get(name);
    if (previous && !changed && Buffer.compare(previous.head!, head) === 0) return previous.encoded;
    // The version hashes the parts' hashes, not megabytes of bytes: still a pure function of the content.
    const version = createHash('sha256').update(head);
    for (const e of entries) version.update(e.version);
    const encoded = { name, bytes: Buffer.concat([head, ...entries.map((e) => e.bytes)]), version: version.digest('hex').slice(0, 16) };
    this.memo.set(name, { resource, json: '', encoded, head });
    return encoded;
  }

  forget(name: string): void {
    this.memo.delete(name);
    this.vhostMemo.delete(name);
  }
}
