// translate: desired state → Envoy resources and one hash per route. One module per kind.
// A Translator remembers what it produced per route and per revision and hands back the very same
// objects while their inputs stay the same, so that encoding (which memoizes on identity) and the
// xDS push only pay for what changed. `translate` is the pure, memo-free form.
import type { DesiredState, RevisionRouting, RevisionSpec } from '../model/desired.js';
import { ROUTE_CONFIG_EXTERNAL, ROUTE_CONFIG_LOCAL } from '../model/names.js';
import { revisionClusters } from './cluster.js';
import { revisionAssignments } from './endpoint.js';
import { apiListener, ingressListeners } from './listener.js';
import { routeInputs, routeInputsKey, routeVirtualHosts, type RouteVirtualHosts } from './route.js';
import type { EnvoyResource, Translation } from './types.js';

export type { EnvoyResource, Translation } from './types.js';
export { routeVirtualHosts } from './route.js';
export { checkSnapshotConsistency } from './consistency.js';
export { fromStruct, toStruct } from './struct.js';

interface Memo<K, V> {
  key: K;
  value: V;
}

/** Per name, the last value and the key (compared with ===) it was made from; names not asked for in a pass are dropped. */
class MemoTable<K, V> {
  private entries = new Map<string, Memo<K, V>>();
  private seen = new Map<string, Memo<K, V>>();

  get(name: string, key: K, make: () => V): V {
    let entry = this.entries.get(name);
    if (!entry || entry.key !== key) entry = { key, value: make() };
    this.seen.set(name, entry);
    return entry.value;
  }

  endPass(): void {
    this.entries = this.seen;
    this.seen = new Map();
  }
}

export class Translator {
  private readonly routes = new MemoTable<string, RouteVirtualHosts>();
  private readonly apiListeners = new MemoTable<string, EnvoyResource>();
  private readonly ingress = new MemoTable<string, EnvoyResource[]>();
  // Revision specs are immutable (a change is a new revision), so identity is their key.
  private readonly clusters = new MemoTable<RevisionSpec, EnvoyResource[]>();
  private readonly assignments = new MemoTable<string, EnvoyResource[]>();

  translate(state: DesiredState): Translation {
    const listeners = [...this.ingress.get('', JSON.stringify(state.listeners), () => ingressListeners(state.listeners))];
    const externalHosts: EnvoyResource[] = [];
    const localHosts: EnvoyResource[] = [];
    const routeHashes = new Map<string, string>();
    // Code-point order: the same in every locale, and cheap for 10,000 routes.
    const routes = state.routes.map((route) => ({ key: `${route.namespace}/${route.name}`, route })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const { key, route } of routes) {
      const inputs = routeInputs(route, state);
      const vhosts = this.routes.get(key, routeInputsKey(inputs), () => routeVirtualHosts(inputs));
      externalHosts.push(...vhosts.external);
      localHosts.push(...vhosts.local);
      routeHashes.set(key, vhosts.hash);
      for (const vhost of vhosts.external) {
        for (const domain of vhost.domains as string[]) listeners.push(this.apiListeners.get(domain, domain, () => apiListener(domain, ROUTE_CONFIG_EXTERNAL)));
      }
    }
    const clusters: EnvoyResource[] = [];
    const endpoints: EnvoyResource[] = [];
    for (const key of [...state.revisions.keys()].sort()) {
      const routing = state.revisions.get(key)!;
      clusters.push(...this.clusters.get(key, routing.spec, () => revisionClusters(routing)));
      endpoints.push(...this.assignments.get(key, assignmentKey(routing), () => revisionAssignments(routing)));
    }
    for (const table of [this.routes, this.apiListeners, this.ingress, this.clusters, this.assignments]) table.endPass();
    return {
      listeners,
      routes: [
        { name: ROUTE_CONFIG_EXTERNAL, virtual_hosts: externalHosts },
        { name: ROUTE_CONFIG_LOCAL, virtual_hosts: localHosts },
      ],
      clusters,
      endpoints,
      routeHashes,
    };
  }
}

/** What revisionAssignments reads besides the (immutable) spec's names. */
function assignmentKey(r: RevisionRouting): string {
  const list = (endpoints: RevisionRouting['pods']) => endpoints.map((e) => `${e.host}:${e.port}`).join(',');
  return `${r.spec.namespace}/${r.spec.name}|${r.mode}|${list(r.pods)}|${list(r.activators)}`;
}

/** Pure: the same state always gives equal resources. */
export function translate(state: DesiredState): Translation {
  return new Translator().translate(state);
}
