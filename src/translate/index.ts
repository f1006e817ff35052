// translate: desired state → Envoy resources and one hash per route. One module per kind.
// A Translator remembers what it produced per route and per revision and hands back the very same
// objects while their inputs stay the same, so that encoding (which memoizes on identity) and the
// xDS push only pay for what changed. `translate` is the pure, memo-free form.
import type { DesiredState, RevisionSpec } from '../model/desired.js';
import { revisionClusters } from './cluster.js';
import { assignmentKey, revisionAssignments } from './endpoint.js';
import { LISTENER_EXTERNAL, LISTENER_LOCAL, namespacedName } from '../model/names.js';
import { ingressListeners, listenerRouteConfig } from './listener.js';
import { routeInputs, routeInputsKey, routeVirtualHosts } from './route.js';
import { claimListener, routeResources, type RouteMode, type RouteResources } from './route-resources.js';
import type { EnvoyResource } from '../envoy/resource.js';
import type { Translation } from './types.js';

export type { Translation } from './types.js';
export { routeVirtualHosts } from './route.js';
export type { RouteMode } from './route-resources.js';
export { checkSnapshotConsistency } from './consistency.js';
export { splitByRole, rolesOf } from './roles.js';

interface Memo<K, V> {
  key: K;
  value: V;
  pass: number;
}

/**
 * Per name, the last value and the key (compared with ===) it was made from; names not asked for
 * in a pass are dropped. A name is asked for at most once per pass.
 */
class MemoTable<K, V> {
  private readonly entries = new Map<string, Memo<K, V>>();
  private pass = 0;
  private used = 0;

  get(name: string, key: K, make: () => V): V {
    let entry = this.entries.get(name);
    if (!entry || entry.key !== key) this.entries.set(name, (entry = { key, value: make(), pass: this.pass }));
    else entry.pass = this.pass;
    this.used++;
    return entry.value;
  }

  endPass(): void {
    // Only a pass that used fewer names than are stored has something to drop.
    if (this.used < this.entries.size)
      for (const [name, entry] of this.entries) if (entry.pass !== this.pass) this.entries.delete(name);
    this.pass++;
    this.used = 0;
  }
}

export interface TranslateOptions {
  /**
   * 'scoped' (default): SRDS, a RouteConfiguration per route; 'single': one RouteConfiguration per listener (plain
   * RDS).
   */
  routing?: RouteMode;
}

export class Translator {
  private readonly routes = new MemoTable<string, RouteResources>();
  private readonly ingress = new MemoTable<string, EnvoyResource[]>();
  // Revision specs are immutable (a change is a new revision), so identity is their key.
  private readonly clusters = new MemoTable<RevisionSpec, EnvoyResource[]>();
  private readonly assignments = new MemoTable<string, EnvoyResource[]>();
  /** Routing 'single': each listener's RouteConfiguration, kept while its virtual hosts are the same objects. */
  private readonly listenerConfigs = new Map<string, { hosts: EnvoyResource[]; config: EnvoyResource }>();
  private readonly mode: RouteMode;

  constructor(options: TranslateOptions = {}) {
    this.mode = options.routing ?? 'scoped';
  }

  translate(state: DesiredState): Translation {
    const mode = this.mode;
    const listeners = [
      ...this.ingress.get('', JSON.stringify(state.listeners), () =>
        ingressListeners(state.listeners, { routing: mode, scopeKey: 'labels' }),
      ),
    ];
    const routeConfigs: EnvoyResource[] = [];
    const scopes: EnvoyResource[] = [];
    const listenerHosts = new Map<string, Array<[string, EnvoyResource]>>([
      [LISTENER_EXTERNAL, []],
      [LISTENER_LOCAL, []],
    ]);
    const routeHashes = new Map<string, string>();
    // A claim two routes make (Knative calls it a domain conflict) stays with the first in key order.
    const taken = new Set<string>();
    // Code-point order: the same in every locale, and cheap for 10,000 routes.
    const routes = state.routes
      .map((route) => ({ key: namespacedName(route.namespace, route.name), route }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const { key, route } of routes) {
      const inputs = routeInputs(route, state);
      const resources = this.routes.get(key, routeInputsKey(inputs), () =>
        routeResources(route, routeVirtualHosts(inputs), mode),
      );
      routeConfigs.push(...resources.routeConfigs);
      for (const claim of resources.claims) {
        const id = `${claim.kind}:${claim.name}`;
        if (taken.has(id)) continue;
        taken.add(id);
        if (claim.kind === 'scopedRoutes') scopes.push(claim.resource);
        else if (claim.kind === 'listeners') listeners.push(claim.resource);
        else listenerHosts.get(claimListener(claim.name))!.push([claim.name, claim.resource]);
      }
      routeHashes.set(key, resources.hash);
    }
    if (mode === 'single')
      for (const [listener, hosts] of listenerHosts) routeConfigs.push(this.listenerConfig(listener, hosts));
    const clusters: EnvoyResource[] = [];
    const endpoints: EnvoyResource[] = [];
    for (const key of [...state.revisions.keys()].sort()) {
      const routing = state.revisions.get(key)!;
      clusters.push(...this.clusters.get(key, routing.spec, () => revisionClusters(routing)));
      endpoints.push(...this.assignments.get(key, assignmentKey(routing), () => revisionAssignments(routing)));
    }
    for (const table of [this.routes, this.ingress, this.clusters, this.assignments]) table.endPass();
    return { listeners, scopedRoutes: scopes, routes: routeConfigs, clusters, endpoints, routeHashes };
  }

  /**
   * Virtual hosts in claim-name order (as IncrementalTranslator orders them); the same object while they are the same.
   */
  private listenerConfig(listener: string, hosts: Array<[string, EnvoyResource]>): EnvoyResource {
    hosts.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const vhosts = hosts.map(([, vhost]) => vhost);
    const last = this.listenerConfigs.get(listener);
    if (last && last.hosts.length === vhosts.length && last.hosts.every((v, i) => v === vhosts[i])) return last.config;
    const config = listenerRouteConfig(listener, vhosts);
    this.listenerConfigs.set(listener, { hosts: vhosts, config });
    return config;
  }
}

/** Pure: the same state always gives equal resources. */
export function translate(state: DesiredState, options: TranslateOptions = {}): Translation {
  return new Translator(options).translate(state);
}
