// translate: desired state → Envoy resources and one hash per route. One module per kind.
// A Translator remembers what it produced per route and per revision and hands back the very same
// objects while their inputs stay the same, so that encoding (which memoizes on identity) and the
// xDS push only pay for what changed. `translate` is the pure, memo-free form.
import type { DesiredState, RevisionSpec } from '../model/desired.js';
import { revisionClusters } from './cluster.js';
import { assignmentKey, revisionAssignments } from './endpoint.js';
import { ingressListeners } from './listener.js';
import { routeInputs, routeInputsKey, routeVirtualHosts } from './route.js';
import { routeResources, type RouteResources } from './route-resources.js';
import type { EnvoyResource, Translation } from './types.js';

export type { EnvoyResource, Translation } from './types.js';
export { routeVirtualHosts } from './route.js';
export { checkSnapshotConsistency } from './consistency.js';
export { setTranslationByRole, rolesOf } from './roles.js';
export { fromStruct, toStruct } from './struct.js';

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
    if (this.used < this.entries.size) for (const [name, entry] of this.entries) if (entry.pass !== this.pass) this.entries.delete(name);
    this.pass++;
    this.used = 0;
  }
}

export class Translator {
  private readonly routes = new MemoTable<string, RouteResources>();
  private readonly ingress = new MemoTable<string, EnvoyResource[]>();
  // Revision specs are immutable (a change is a new revision), so identity is their key.
  private readonly clusters = new MemoTable<RevisionSpec, EnvoyResource[]>();
  private readonly assignments = new MemoTable<string, EnvoyResource[]>();

  translate(state: DesiredState): Translation {
    const listeners = [...this.ingress.get('', JSON.stringify(state.listeners), () => ingressListeners(state.listeners))];
    const routeConfigs: EnvoyResource[] = [];
    const scopes: EnvoyResource[] = [];
    const routeHashes = new Map<string, string>();
    // A host claimed by two routes (Knative calls it a domain conflict) stays with the first in key order.
    const taken = new Set<string>();
    const claim = (into: EnvoyResource[], resources: EnvoyResource[]) => {
      for (const r of resources) {
        const name = r.name as string;
        if (taken.has(name)) continue;
        taken.add(name);
        into.push(r);
      }
    };
    // Code-point order: the same in every locale, and cheap for 10,000 routes.
    const routes = state.routes.map((route) => ({ key: `${route.namespace}/${route.name}`, route })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const { key, route } of routes) {
      const inputs = routeInputs(route, state);
      const resources = this.routes.get(key, routeInputsKey(inputs), () => routeResources(route, routeVirtualHosts(inputs)));
      routeConfigs.push(...resources.routeConfigs);
      claim(scopes, resources.scopes);
      claim(listeners, resources.apiListeners);
      routeHashes.set(key, resources.hash);
    }
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
}

/** Pure: the same state always gives equal resources. */
export function translate(state: DesiredState): Translation {
  return new Translator().translate(state);
}
