// The snapshot cache: per node group, per type, the encoded resources and a version computed from
// their contents. It knows nothing of streams; servers open watches and get told what changed.
import { createHash } from 'node:crypto';
import type { EnvoyResource, EnvoyResources, ResourceChange } from '../../envoy/resource.js';
import { nodeRole } from '../../envoy/node-role.js';
import { TYPE_URL } from '../../envoy/protos.js';
import { ResourceEncoder, type EncodedResource } from './encode.js';

/**
 * The order Envoy needs to avoid traffic to unknown clusters and routes to unknown scopes:
 * CDS → EDS → LDS → SRDS → RDS.
 */
export const PUSH_ORDER = [
  TYPE_URL.cluster,
  TYPE_URL.endpoint,
  TYPE_URL.listener,
  TYPE_URL.scopedRoute,
  TYPE_URL.route,
] as const;
export const KNOWN_TYPES: ReadonlySet<string> = new Set(PUSH_ORDER);
/** LDS, CDS and SRDS are wildcard by default; RDS and EDS are asked for by name. */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set([TYPE_URL.listener, TYPE_URL.cluster, TYPE_URL.scopedRoute]);

export const DEFAULT_GROUP = '';

export interface TypeSnapshot {
  version: string;
  /**
   * The type's resources by name. Live: updated in place by later versions (copying 40,000
   * entries per change would cost more than the change), so read it when pushing, not later.
   */
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

interface LastInput {
  resources: readonly EnvoyResource[];
  names: string[];
}

/** What one setResources call changes; `replaced` holds the versions that stopped being current. */
interface Step {
  resources: Map<string, EncodedResource>;
  names: string[];
  changed: Set<string>;
  replaced: Array<[string, string]>;
  removed: string[];
}

/**
 * A type's version is the XOR of a hash of each (name, resource version): a pure function of the
 * content, like a hash of the sorted list, but updated by the few entries a change touches.
 */
const EMPTY_VERSION = '0000000000000000';

function entryHash(name: string, version: string): string {
  return createHash('sha256').update(name).update('\u0000').update(version).digest('hex').slice(0, 16);
}

function xorHex(a: string, b: string): string {
  const hi = (parseInt(a.slice(0, 8), 16) ^ parseInt(b.slice(0, 8), 16)) >>> 0;
  const lo = (parseInt(a.slice(8), 16) ^ parseInt(b.slice(8), 16)) >>> 0;
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export class SnapshotCache {
  private readonly groups = new Map<string, Map<string, TypeSnapshot>>();
  /** One per type, shared by every group: a resource two roles hold (a public cluster) is encoded once. */
  private readonly encoders = new Map<string, ResourceEncoder>();
  private readonly watchers = new Map<string, Set<WatchListener>>();
  /** Per group and type, the array last given and the name at each place. */
  private readonly inputs = new Map<string, Map<string, LastInput>>();

  /**
   * groupBy 'id' keys snapshots by node.id, 'cluster' by node.cluster (unknown keys use the default
   * group); 'role' by the node's role (envoy/node-role.ts), one group per role, named after it.
   */
  constructor(private readonly groupBy: 'id' | 'cluster' | 'role' = 'id') {}

  groupOf(node: NodeIdentity): string {
    if (this.groupBy === 'role') return nodeRole(node);
    const key = this.groupBy === 'id' ? node.id : node.cluster;
    return this.groups.has(key) ? key : DEFAULT_GROUP;
  }

  private encoder(typeUrl: string): ResourceEncoder {
    let encoder = this.encoders.get(typeUrl);
    if (!encoder) this.encoders.set(typeUrl, (encoder = new ResourceEncoder(typeUrl)));
    return encoder;
  }

  /** Replaces one type's resources for a group; returns whether anything changed. */
  setResources(typeUrl: string, resources: readonly EnvoyResource[], group = DEFAULT_GROUP): boolean {
    const encoder = this.encoder(typeUrl);
    const previous = this.get(group, typeUrl);
    const lastInput = this.inputs.get(group)?.get(typeUrl);
    let step = previous && lastInput ? this.samePlaces(encoder, previous, lastInput, resources) : undefined;
    step ??= this.rebuild(encoder, previous, resources);
    let inputs = this.inputs.get(group);
    if (!inputs) this.inputs.set(group, (inputs = new Map<string, LastInput>()));
    inputs.set(typeUrl, { resources, names: step.names });
    return this.commit(group, typeUrl, encoder, previous, step);
  }

  /**
   * Changes some of one type's resources, by name, and leaves the others: what an incremental
   * producer (IncrementalTranslator) sends. Costs what it touches. Returns whether anything changed.
   */
  updateResources(
    typeUrl: string,
    upserts: readonly EnvoyResource[],
    removals: readonly string[],
    group = DEFAULT_GROUP,
  ): boolean {
    const encoder = this.encoder(typeUrl);
    const previous = this.get(group, typeUrl);
    // The live map no longer matches the last array given to setResources.
    this.inputs.get(group)?.delete(typeUrl);
    const live =
      (previous?.resources as Map<string, EncodedResource> | undefined) ?? new Map<string, EncodedResource>();
    const step: Step = { resources: live, names: [], changed: new Set(), replaced: [], removed: [] };
    for (const resource of upserts) {
      const encoded = encoder.encode(resource);
      const before = live.get(encoded.name);
      if (before === encoded) continue;
      if (before) step.replaced.push([encoded.name, before.version]);
      step.changed.add(encoded.name);
      live.set(encoded.name, encoded);
    }
    for (const name of removals) {
      const before = live.get(name);
      if (!before || step.changed.has(name)) continue;
      step.replaced.push([name, before.version]);
      step.removed.push(name);
      live.delete(name);
    }
    return this.commit(group, typeUrl, encoder, previous, step);
  }

  /** Applies a producer's changes (IncrementalTranslator.flush), in their order. */
  applyChanges(changes: readonly ResourceChange[]): void {
    for (const c of changes) this.updateResources(c.typeUrl, c.upserts, c.removals, c.group);
  }

  /** Records a step as the type's new snapshot, with its version, and tells the watchers. */
  private commit(
    group: string,
    typeUrl: string,
    encoder: ResourceEncoder,
    previous: TypeSnapshot | undefined,
    step: Step,
  ): boolean {
    if (previous && step.changed.size === 0 && step.removed.length === 0) return false;
    let version = previous ? previous.version : EMPTY_VERSION;
    for (const [name, old] of step.replaced) version = xorHex(version, entryHash(name, old));
    for (const name of step.changed) version = xorHex(version, entryHash(name, step.resources.get(name)!.version));
    for (const name of step.removed) if (!this.heldElsewhere(group, typeUrl, name)) encoder.forget(name);
    if (previous && version === previous.version) return false; // re-encoded to the same bytes
    let byType = this.groups.get(group);
    if (!byType) this.groups.set(group, (byType = new Map<string, TypeSnapshot>()));
    byType.set(typeUrl, {
      version,
      resources: step.resources,
      previousVersion: previous?.version,
      changed: step.changed,
      removed: step.removed,
    });
    this.notify(group, typeUrl);
    return true;
  }

  /**
   * The common step: the same names at the same places, most of them the very same objects as
   * last time (the Translator hands unchanged resources back as such). Only the places holding
   * a new object are encoded, and the live map is updated in place. undefined when names moved.
   */
  private samePlaces(
    encoder: ResourceEncoder,
    previous: TypeSnapshot,
    last: LastInput,
    resources: readonly EnvoyResource[],
  ): Step | undefined {
    if (last.resources.length !== resources.length) return undefined;
    const updates: EncodedResource[] = [];
    for (let i = 0; i < resources.length; i++) {
      if (resources[i] === last.resources[i]) continue;
      const encoded = encoder.encode(resources[i]!);
      if (encoded.name !== last.names[i]) return undefined;
      if (previous.resources.get(encoded.name) !== encoded) updates.push(encoded);
    }
    const live = previous.resources as Map<string, EncodedResource>;
    const step: Step = { resources: live, names: last.names, changed: new Set(), replaced: [], removed: [] };
    for (const encoded of updates) {
      step.replaced.push([encoded.name, live.get(encoded.name)!.version]);
      step.changed.add(encoded.name);
      live.set(encoded.name, encoded);
    }
    return step;
  }

  /** Any other step: a new map, compared with the previous one name by name. */
  private rebuild(
    encoder: ResourceEncoder,
    previous: TypeSnapshot | undefined,
    resources: readonly EnvoyResource[],
  ): Step {
    const next = new Map<string, EncodedResource>();
    const names: string[] = [];
    for (const resource of resources) {
      const encoded = encoder.encode(resource);
      next.set(encoded.name, encoded);
      names.push(encoded.name);
    }
    const step: Step = { resources: next, names, changed: new Set(), replaced: [], removed: [] };
    for (const [name, r] of next) {
      const before = previous?.resources.get(name);
      if (before === r) continue;
      step.changed.add(name);
      if (before) step.replaced.push([name, before.version]);
    }
    if (previous) {
      for (const [name, r] of previous.resources) {
        if (next.has(name)) continue;
        step.removed.push(name);
        step.replaced.push([name, r.version]);
      }
    }
    return step;
  }

  private heldElsewhere(group: string, typeUrl: string, name: string): boolean {
    for (const [other, byType] of this.groups)
      if (other !== group && byType.get(typeUrl)?.resources.has(name)) return true;
    return false;
  }

  /** Sets every type from a whole set of resources, in push order. */
  setTranslation(translation: EnvoyResources, group = DEFAULT_GROUP): void {
    this.setResources(TYPE_URL.cluster, translation.clusters, group);
    this.setResources(TYPE_URL.endpoint, translation.endpoints, group);
    this.setResources(TYPE_URL.listener, translation.listeners, group);
    this.setResources(TYPE_URL.scopedRoute, translation.scopedRoutes, group);
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
      set.delete(listener);
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
