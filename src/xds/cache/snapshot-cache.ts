// The snapshot cache: per node group, per type, the encoded resources and a version computed from
// their contents. It knows nothing of streams; servers open watches and get told what changed.
import { createHash } from 'node:crypto';
import type { EnvoyResource, Translation } from '../../translate/types.js';
import { TYPE_URL } from '../protos.js';
import { ResourceEncoder, type EncodedResource } from './encode.js';

/** The order Envoy needs to avoid traffic to unknown clusters: CDS → EDS → LDS → RDS. */
export const PUSH_ORDER = [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route] as const;
export const KNOWN_TYPES: ReadonlySet<string> = new Set(PUSH_ORDER);
/** LDS and CDS are wildcard by default; RDS and EDS are asked for by name. */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set([TYPE_URL.listener, TYPE_URL.cluster]);

export const DEFAULT_GROUP = '';

export interface TypeSnapshot {
  version: string;
  resources: ReadonlyMap<string, EncodedResource>;
  /** The version this one replaced, and what differs from it: lets Delta streams look only at that. */
  previousVersion: string | undefined;
  changed: ReadonlySet<string>;
  removed: readonly string[];
}

export type WatchListener = (typeUrl: string) => void;

export interface NodeIdentity {
  id: string;
  cluster: string;
}

export class SnapshotCache {
  private readonly groups = new Map<string, Map<string, TypeSnapshot>>();
  private readonly encoders = new Map<string, Map<string, ResourceEncoder>>();
  private readonly watchers = new Map<string, Set<WatchListener>>();

  /** groupBy 'id' keys snapshots by node.id, 'cluster' by node.cluster; unknown keys use the default. */
  constructor(private readonly groupBy: 'id' | 'cluster' = 'id') {}

  groupOf(node: NodeIdentity): string {
    const key = this.groupBy === 'id' ? node.id : node.cluster;
    return this.groups.has(key) ? key : DEFAULT_GROUP;
  }

  private encoder(group: string, typeUrl: string): ResourceEncoder {
    let byType = this.encoders.get(group);
    if (!byType) this.encoders.set(group, (byType = new Map()));
    let encoder = byType.get(typeUrl);
    if (!encoder) byType.set(typeUrl, (encoder = new ResourceEncoder(typeUrl)));
    return encoder;
  }

  /** Replaces one type's resources for a group; returns whether anything changed. */
  setResources(typeUrl: string, resources: EnvoyResource[], group = DEFAULT_GROUP): boolean {
    const encoder = this.encoder(group, typeUrl);
    const next = new Map<string, EncodedResource>();
    for (const resource of resources) {
      const encoded = encoder.encode(resource);
      next.set(encoded.name, encoded);
    }
    let byType = this.groups.get(group);
    if (!byType) this.groups.set(group, (byType = new Map()));
    const previous = byType.get(typeUrl);
    const changed = new Set<string>();
    for (const [name, r] of next) if (previous?.resources.get(name) !== r) changed.add(name);
    const removed = previous ? [...previous.resources.keys()].filter((name) => !next.has(name)) : [];
    for (const name of removed) encoder.forget(name);
    // The encoder returns the same object for an unchanged resource: then nothing needs hashing.
    if (previous && changed.size === 0 && removed.length === 0) return false;
    const version = createHash('sha256')
      .update([...next.keys()].sort().map((name) => `${name}\u0000${next.get(name)!.version}\n`).join(''))
      .digest('hex')
      .slice(0, 16);
    if (previous && previous.version === version) return false;
    byType.set(typeUrl, { version, resources: next, previousVersion: previous?.version, changed, removed });
    this.notify(group, typeUrl);
    return true;
  }

  /** Sets all four types from a translation, in push order. */
  setTranslation(translation: Pick<Translation, 'listeners' | 'routes' | 'clusters' | 'endpoints'>, group = DEFAULT_GROUP): void {
    this.setResources(TYPE_URL.cluster, translation.clusters, group);
    this.setResources(TYPE_URL.endpoint, translation.endpoints, group);
    this.setResources(TYPE_URL.listener, translation.listeners, group);
    this.setResources(TYPE_URL.route, translation.routes, group);
  }

  get(group: string, typeUrl: string): TypeSnapshot | undefined {
    return this.groups.get(group)?.get(typeUrl);
  }

  /** Calls the listener whenever a type changes in the group; returns the cancel. */
  watch(group: string, listener: WatchListener): () => void {
    let set = this.watchers.get(group);
    if (!set) this.watchers.set(group, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
    };
  }

  private notify(group: string, typeUrl: string): void {
    const notifyGroup = (g: string) => {
      for (const listener of this.watchers.get(g) ?? []) listener(typeUrl);
    };
    notifyGroup(group);
    // Streams bound to the default group may really belong to a group created just now.
    if (group !== DEFAULT_GROUP) notifyGroup(DEFAULT_GROUP);
  }
}
