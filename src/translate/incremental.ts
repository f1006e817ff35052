// The incremental translator: it keeps the translation of a desired state and applies one change
// at a time (a route or a revision set or removed), and hands back only the resources that change,
// by name, for its caller to apply to a snapshot cache. A change costs what it touches, not a walk
// over every route: one route's change among 10,000 is one routeResources call and its
// RouteConfigurations (scoped routing; with routing 'single' the listener's RouteConfiguration of
// every virtual host is rebuilt and resent).
//
// It is for producers that know what changed: `gatehouse up` hands it each route and revision the
// controller reports changed. It gives the same resources as the Translator for the same state (a
// property test holds them to it).
//
//   const t = new IncrementalTranslator('example.com', listeners);
//   t.setRevision(routing); t.setRoute(route); xds.cache.applyChanges(t.flush('by-role'));
import type { DesiredState, GatewayListeners, RevisionRouting, RouteSpec } from '../model/desired.js';
import { LISTENER_EXTERNAL, LISTENER_LOCAL, namespacedName, revisionKey } from '../model/names.js';
import { revisionClusters } from './cluster.js';
import { assignmentKey, revisionAssignments } from './endpoint.js';
import { ingressListeners, listenerRouteConfig } from './listener.js';
import { routeInputs, routeInputsKey, routeVirtualHosts } from './route.js';
import { claimListener, routeResources, type Claim, type RouteMode, type RouteResources } from './route-resources.js';
import { NODE_ROLES } from '../envoy/node-role.js';
import { resourceName as nameOf, type EnvoyResource, type ResourceChange } from '../envoy/resource.js';
import { KINDS, rolesOf, type ResourceKind as Kind } from './roles.js';

/**
 * Where flushed changes go: one group (undefined: the cache's default), or each role's group (a cache grouping by
 * role).
 */
export type FlushTarget = { group: string | undefined } | 'by-role';

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

const claimKey = (c: Claim) => `${c.kind}:${c.name}`;

export class IncrementalTranslator {
  private readonly routes = new Map<string, RouteEntry>();
  private readonly revisions = new Map<string, RevisionEntry>();
  /** What routeInputs reads: the domain and every revision's routing. */
  private readonly inputs: Pick<DesiredState, 'domain' | 'revisions'>;
  /** Revision key → the routes whose traffic names it (their timeouts come from it). */
  private readonly dependents = new Map<string, Set<string>>();
  /** Claim (kind and host-derived name) → the routes claiming it, in key order; the first wins (as in Translator). */
  private readonly claimants = new Map<string, { kind: Claim['kind']; name: string; owners: string[] }>();
  /**
   * Routing 'single': per listener, the winning virtual hosts by claim name, and the listeners whose RouteConfiguration
   * must be rebuilt.
   */
  private readonly listenerHosts = new Map<string, Map<string, EnvoyResource>>();
  private readonly dirtyListeners = new Set<string>();
  private readonly mode: RouteMode;
  /** Routes set (with new resources) or removed since the last changedRoutes(). */
  private readonly touchedRoutes = new Set<string>();
  /** Per kind, name → the resource to set, or null to remove; emptied by flush. */
  private readonly pending = new Map<Kind, Map<string, EnvoyResource | null>>(KINDS.map(([kind]) => [kind, new Map()]));
  /** Targets flushed to at least once: the first flush creates every type, empty ones too (Envoy waits for each). */
  private readonly flushed = new Set<string>();

  constructor(domain: string, listeners: GatewayListeners, options: { routing?: RouteMode } = {}) {
    this.inputs = { domain, revisions: new Map() };
    this.mode = options.routing ?? 'scoped';
    this.setListeners(listeners);
    // Each listener's RouteConfiguration exists from the start, empty or not: Envoy waits for it.
    if (this.mode === 'single') for (const l of [LISTENER_EXTERNAL, LISTENER_LOCAL]) this.dirtyListeners.add(l);
  }

  setListeners(listeners: GatewayListeners): void {
    for (const l of ingressListeners(listeners, { routing: this.mode, scopeKey: 'labels' }))
      this.pending.get('listeners')!.set(nameOf(l), l);
  }

  /** The keys of routes whose resources (and so maybe hash) changed, or that were removed, since the last call. */
  changedRoutes(): string[] {
    const keys = [...this.touchedRoutes];
    this.touchedRoutes.clear();
    return keys;
  }

  /** The route's hash (what a probe must see), once it is set. */
  routeHash(namespace: string, name: string): string | undefined {
    return this.routes.get(namespacedName(namespace, name))?.resources.hash;
  }

  setRoute(route: RouteSpec): void {
    const key = namespacedName(route.namespace, route.name);
    const inputs = routeInputs(route, this.inputs);
    const inputsKey = routeInputsKey(inputs);
    const old = this.routes.get(key);
    if (old?.inputsKey === inputsKey) return;
    const resources = routeResources(route, routeVirtualHosts(inputs), this.mode);
    const claims = new Map<string, Claim>();
    for (const claim of resources.claims) if (!claims.has(claimKey(claim))) claims.set(claimKey(claim), claim);
    const revisionKeys = route.traffic.map((t) => revisionKey(route.namespace, t.revisionName));
    this.replaceRoute(key, old, { inputsKey, spec: route, resources, claims, revisionKeys });
  }

  removeRoute(namespace: string, name: string): void {
    const key = namespacedName(namespace, name);
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

  /** Every change since the last flush, in push order, for the caller to apply to a snapshot cache. */
  flush(target: FlushTarget = { group: undefined }): ResourceChange[] {
    for (const listener of this.dirtyListeners) {
      const hosts = [...(this.listenerHosts.get(listener) ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      this.pending.get('routes')!.set(
        listener,
        listenerRouteConfig(
          listener,
          hosts.map(([, vhost]) => vhost),
        ),
      );
    }
    this.dirtyListeners.clear();
    const targetKey = target === 'by-role' ? target : `group:${target.group ?? ''}`;
    const first = !this.flushed.has(targetKey);
    this.flushed.add(targetKey);
    const out: ResourceChange[] = [];
    for (const [kind, typeUrl] of KINDS) {
      const changes = this.pending.get(kind)!;
      if (changes.size === 0 && !first) continue;
      const byGroup = new Map<string | undefined, ResourceChange>();
      const into = (group: string | undefined) => {
        let entry = byGroup.get(group);
        if (!entry) byGroup.set(group, (entry = { typeUrl, group, upserts: [], removals: [] }));
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
      out.push(...byGroup.values());
    }
    return out;
  }

  private replaceRoute(key: string, old: RouteEntry | undefined, next: RouteEntry | undefined): void {
    this.touchedRoutes.add(key);
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

  private claim(id: string, key: string, claim: Claim): void {
    let entry = this.claimants.get(id);
    if (!entry) this.claimants.set(id, (entry = { kind: claim.kind, name: claim.name, owners: [] }));
    if (!entry.owners.includes(key)) {
      entry.owners.push(key);
      entry.owners.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    }
    if (entry.owners[0] === key) this.award(claim.kind, claim.name, claim.resource);
  }

  private unclaim(id: string, key: string): void {
    const { kind, name, owners } = this.claimants.get(id)!;
    const at = owners.indexOf(key);
    owners.splice(at, 1);
    if (at !== 0) return;
    const heir = owners[0];
    if (heir === undefined) this.claimants.delete(id);
    this.award(kind, name, heir === undefined ? null : this.routes.get(heir)!.claims.get(id)!.resource);
  }

  /** The claim's winner now holds `name` (null: nobody does). */
  private award(kind: Claim['kind'], name: string, resource: EnvoyResource | null): void {
    if (kind !== 'virtualHosts') {
      this.pending.get(kind)!.set(name, resource);
      return;
    }
    const listener = claimListener(name);
    let hosts = this.listenerHosts.get(listener);
    if (!hosts) this.listenerHosts.set(listener, (hosts = new Map<string, EnvoyResource>()));
    if (resource) hosts.set(name, resource);
    else hosts.delete(name);
    this.dirtyListeners.add(listener);
  }

  /**
   * Routes take their timeouts from the revisions they name: a revision that comes, goes or changes them redoes those
   * routes.
   */
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
