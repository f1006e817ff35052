// The incremental translator: it keeps the translation of a desired state and applies one change
// at a time (a route or a revision set or removed), handing the snapshot cache only the resources
// that change, by name. A change costs what it touches, not a walk over every route: one route's
// change among 10,000 is one routeResources call and two RouteConfigurations.
//
// It is for producers that know what changed (an API, a watch on a store). `gatehouse up`
// rebuilds its desired state on every sync and uses the Translator, which finds the changes by
// key. Both give the same resources for the same state (a property test holds them to it).
//
//   const t = new IncrementalTranslator('example.com', listeners);
//   t.setRevision(routing); t.setRoute(route); t.flush(cache);
import type { DesiredState, GatewayListeners, RevisionRouting, RouteSpec } from '../model/desired.js';
import { revisionKey } from '../model/names.js';
import { DEFAULT_GROUP, type SnapshotCache } from '../xds/cache/snapshot-cache.js';
import { revisionClusters } from './cluster.js';
import { assignmentKey, revisionAssignments } from './endpoint.js';
import { ingressListeners } from './listener.js';
import { routeInputs, routeInputsKey, routeVirtualHosts } from './route.js';
import { routeResources, type RouteResources } from './route-resources.js';
import { NODE_ROLES } from '../xds/node-role.js';
import { KINDS, resourceName as nameOf, rolesOf, type ResourceKind as Kind } from './roles.js';
import type { EnvoyResource } from './types.js';

/** Where flush puts the resources: one group (the default), or each role's group (a cache grouping by role). */
export type FlushTarget = { group: string } | 'by-role';

/** A name derived from a host (a scope or an api_listener) and the resource a route makes for it. */
interface Claim {
  kind: 'scopedRoutes' | 'listeners';
  resource: EnvoyResource;
}

interface RouteEntry {
  inputsKey: string;
  spec: RouteSpec;
  resources: RouteResources;
  claims: Map<string, Claim>;
  revisionKeys: string[];
}

interface RevisionEntry {
  routing: RevisionRouting;
  assignmentKey: string;
  clusters: EnvoyResource[];
  endpoints: EnvoyResource[];
}

export class IncrementalTranslator {
  private readonly routes = new Map<string, RouteEntry>();
  private readonly revisions = new Map<string, RevisionEntry>();
  /** What routeInputs reads: the domain and every revision's routing. */
  private readonly inputs: Pick<DesiredState, 'domain' | 'revisions'>;
  /** Revision key → the routes whose traffic names it (their timeouts come from it). */
  private readonly dependents = new Map<string, Set<string>>();
  /** Host-derived name → its kind and the routes claiming it, in key order; the first wins (as in Translator). */
  private readonly claimants = new Map<string, { kind: Claim['kind']; owners: string[] }>();
  /** Per kind, name → the resource to set, or null to remove; emptied by flush. */
  private readonly pending = new Map<Kind, Map<string, EnvoyResource | null>>(KINDS.map(([kind]) => [kind, new Map()]));
  /** Targets flushed to at least once: the first flush creates every type, empty ones too (Envoy waits for each). */
  private readonly flushed = new Set<string>();

  constructor(domain: string, listeners: GatewayListeners) {
    this.inputs = { domain, revisions: new Map() };
    this.setListeners(listeners);
  }

  setListeners(listeners: GatewayListeners): void {
    for (const l of ingressListeners(listeners)) this.pending.get('listeners')!.set(nameOf(l), l);
  }

  /** The route's hash (what a probe must see), once it is set. */
  routeHash(namespace: string, name: string): string | undefined {
    return this.routes.get(`${namespace}/${name}`)?.resources.hash;
  }

  setRoute(route: RouteSpec): void {
    const key = `${route.namespace}/${route.name}`;
    const inputs = routeInputs(route, this.inputs);
    const inputsKey = routeInputsKey(inputs);
    const old = this.routes.get(key);
    if (old?.inputsKey === inputsKey) return;
    const resources = routeResources(route, routeVirtualHosts(inputs));
    const claims = new Map<string, Claim>();
    for (const resource of resources.scopes) if (!claims.has(nameOf(resource))) claims.set(nameOf(resource), { kind: 'scopedRoutes', resource });
    for (const resource of resources.apiListeners) if (!claims.has(nameOf(resource))) claims.set(nameOf(resource), { kind: 'listeners', resource });
    const revisionKeys = route.traffic.map((t) => revisionKey(route.namespace, t.revisionName));
    this.replaceRoute(key, old, { inputsKey, spec: route, resources, claims, revisionKeys });
  }

  removeRoute(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const old = this.routes.get(key);
    if (old) this.replaceRoute(key, old, undefined);
  }

  setRevision(routing: RevisionRouting): void {
    const key = revisionKey(routing.spec.namespace, routing.spec.name);
    const old = this.revisions.get(key);
    const aKey = assignmentKey(routing);
    // Specs are immutable (a change is a new revision): the same spec gives the same clusters.
    const clusters = old?.routing.spec === routing.spec ? old.clusters : revisionClusters(routing);
    const endpoints = old?.assignmentKey === aKey ? old.endpoints : revisionAssignments(routing);
    this.revisions.set(key, { routing, assignmentKey: aKey, clusters, endpoints });
    this.inputs.revisions.set(key, routing);
    if (clusters !== old?.clusters) this.replaceAll('clusters', old?.clusters ?? [], clusters);
    if (endpoints !== old?.endpoints) this.replaceAll('endpoints', old?.endpoints ?? [], endpoints);
    if (old?.routing.spec.timeoutSeconds !== routing.spec.timeoutSeconds) this.refreshDependents(key);
  }

  removeRevision(namespace: string, name: string): void {
    const key = revisionKey(namespace, name);
    const old = this.revisions.get(key);
    if (!old) return;
    this.revisions.delete(key);
    this.inputs.revisions.delete(key);
    this.replaceAll('clusters', old.clusters, []);
    this.replaceAll('endpoints', old.endpoints, []);
    this.refreshDependents(key);
  }

  /** Hands every change since the last flush to the cache, in push order. */
  flush(cache: SnapshotCache, target: FlushTarget = { group: DEFAULT_GROUP }): void {
    const targetKey = target === 'by-role' ? target : `group:${target.group}`;
    const first = !this.flushed.has(targetKey);
    this.flushed.add(targetKey);
    for (const [kind, typeUrl] of KINDS) {
      const changes = this.pending.get(kind)!;
      if (changes.size === 0 && !first) continue;
      const byGroup = new Map<string, { upserts: EnvoyResource[]; removals: string[] }>();
      const into = (group: string) => {
        let entry = byGroup.get(group);
        if (!entry) byGroup.set(group, (entry = { upserts: [], removals: [] }));
        return entry;
      };
      if (first) for (const group of target === 'by-role' ? NODE_ROLES : [target.group]) into(group);
      for (const [name, resource] of changes) {
        for (const group of target === 'by-role' ? rolesOf(kind, name) : [target.group]) {
          if (resource) into(group).upserts.push(resource);
          else into(group).removals.push(name);
        }
      }
      changes.clear();
      for (const [group, { upserts, removals }] of byGroup) cache.updateResources(typeUrl, upserts, removals, group);
    }
  }

  private replaceRoute(key: string, old: RouteEntry | undefined, next: RouteEntry | undefined): void {
    this.replaceAll('routes', old?.resources.routeConfigs ?? [], next?.resources.routeConfigs ?? []);
    for (const revision of old?.revisionKeys ?? []) this.dependents.get(revision)?.delete(key);
    if (next) this.routes.set(key, next);
    else this.routes.delete(key);
    for (const name of old?.claims.keys() ?? []) if (!next?.claims.has(name)) this.unclaim(name, key);
    for (const [name, claim] of next?.claims ?? []) this.claim(name, key, claim);
    for (const revision of next?.revisionKeys ?? []) {
      let routes = this.dependents.get(revision);
      if (!routes) this.dependents.set(revision, (routes = new Set()));
      routes.add(key);
    }
  }

  private claim(name: string, key: string, claim: Claim): void {
    let entry = this.claimants.get(name);
    if (!entry) this.claimants.set(name, (entry = { kind: claim.kind, owners: [] }));
    if (!entry.owners.includes(key)) {
      entry.owners.push(key);
      entry.owners.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    }
    if (entry.owners[0] === key) this.pending.get(claim.kind)!.set(name, claim.resource);
  }

  private unclaim(name: string, key: string): void {
    const { kind, owners } = this.claimants.get(name)!;
    const at = owners.indexOf(key);
    owners.splice(at, 1);
    if (at !== 0) return;
    const heir = owners[0];
    if (heir === undefined) this.claimants.delete(name);
    this.pending.get(kind)!.set(name, heir === undefined ? null : this.routes.get(heir)!.claims.get(name)!.resource);
  }

  /** Routes take their timeouts from the revisions they name: a revision that comes, goes or changes them redoes those routes. */
  private refreshDependents(revision: string): void {
    for (const key of [...(this.dependents.get(revision) ?? [])]) this.setRoute(this.routes.get(key)!.spec);
  }

  private replaceAll(kind: Kind, before: readonly EnvoyResource[], after: readonly EnvoyResource[]): void {
    const changes = this.pending.get(kind)!;
    const kept = new Set(after.map(nameOf));
    for (const r of before) if (!kept.has(nameOf(r))) changes.set(nameOf(r), null);
    for (const r of after) changes.set(nameOf(r), r);
  }
}
