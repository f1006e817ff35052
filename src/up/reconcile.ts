// The decisions of `gatehouse up`'s reconcile loop as pure functions of what it observed: whether
// a revision is Ready, which revisions run and which retire, what the prober must see per route,
// and when retiring revisions may go. reconciler.ts gathers the observations, calls these, and
// does what they say (starts pods, pushes xDS, sets the prober). Table tests: test/up/reconcile.test.ts.
import type { DeciderSpec } from '../model/autoscaling.js';
import type { RevisionSpec, RouteSpec } from '../model/desired.js';
import { revisionKey, routeHosts, tagHosts } from '../model/names.js';
import type { RouteExpectation } from '../prober/prober.js';
import type { PodStatus } from '../runtime/types.js';
import { describeFailure } from './failure.js';

export type RevisionVerdict = { kind: 'ready' } | { kind: 'failed'; reason: string } | { kind: 'waiting' };

/**
 * Knative: a revision is Ready once one of its pods is, and one whose initial and minimum scale
 * are both 0 is Ready without ever running a pod; a pod's last failure marks it Failed.
 */
export function revisionVerdict(
  pods: readonly PodStatus[],
  scale: Pick<DeciderSpec, 'initialScale' | 'minScale'>,
): RevisionVerdict {
  if (pods.some((p) => p.phase === 'ready') || Math.max(scale.initialScale, scale.minScale) === 0)
    return { kind: 'ready' };
  const failure = pods.find((p) => p.lastFailure)?.lastFailure;
  return failure ? { kind: 'failed', reason: describeFailure(failure) } : { kind: 'waiting' };
}

export interface RevisionPlan {
  /** Every active revision: each must be registered with the runtime (idempotent). */
  run: RevisionSpec[];
  /** Active revisions not watched yet: the autoscaler starts watching them. */
  watch: RevisionSpec[];
  /** Watched revisions no longer active: they retire once every route is confirmed without them. */
  retire: string[];
}

/** Given the active revisions (routed or latest) and those already watched: which start and which retire. */
export function planRevisions(active: readonly RevisionSpec[], watched: ReadonlySet<string>): RevisionPlan {
  const activeKeys = new Set(active.map((r) => revisionKey(r.namespace, r.name)));
  return {
    run: [...active],
    watch: active.filter((r) => !watched.has(revisionKey(r.namespace, r.name))),
    retire: [...watched].filter((key) => !activeKeys.has(key)),
  };
}

/**
 * What every gateway must show for a route: its hash, on each listener for each of its virtual hosts
 * (its own and one per tag). A virtual host's cluster-local names (`.svc.cluster.local`, `.svc`, none)
 * are one virtual host behind one scope, so one of them answers for all: probing each would double
 * the probes per route for nothing.
 */
export function routeExpectation(route: RouteSpec, hash: string, domain: string): RouteExpectation {
  const groups = [routeHosts(route.name, route.namespace, domain, route.visibility)];
  for (const t of route.traffic)
    if (t.tag) groups.push(tagHosts(t.tag, route.name, route.namespace, domain, route.visibility));
  return {
    hash,
    externalHosts: groups.flatMap((g) => g.external),
    localHosts: groups.map((g) => g.local[0]!),
  };
}

export interface ExpectationChange {
  /** Routes with a new expectation: each is unconfirmed until every gateway shows it. */
  set: Map<string, RouteExpectation>;
  /** Routes no longer programmed, or without a hash: nothing to expect. */
  remove: string[];
}

/**
 * After a translation, per route whose resources changed: its new expectation, or none. An
 * unchanged hash keeps the expectation as it was (the hash covers the route's hosts).
 */
export function expectationChanges(
  changedRoutes: Iterable<string>,
  current: ReadonlyMap<string, RouteExpectation>,
  programmed: (key: string) => { route: RouteSpec; hash: string | undefined } | undefined,
  domain: string,
): ExpectationChange {
  const change: ExpectationChange = { set: new Map(), remove: [] };
  for (const key of changedRoutes) {
    const now = programmed(key);
    if (!now || now.hash === undefined) change.remove.push(key);
    else if (current.get(key)?.hash !== now.hash) change.set.set(key, routeExpectation(now.route, now.hash, domain));
  }
  return change;
}

/**
 * Which of the unconfirmed routes are confirmed now, and whether the retiring revisions may go: only
 * when every route is confirmed on every gateway, so no gateway still sends traffic to them. Only
 * `candidates` (the routes some probe finished for since the last check) are asked about, so a check
 * costs what changed, not the number of routes waiting.
 */
export function confirmations(
  unconfirmed: ReadonlySet<string>,
  candidates: Iterable<string>,
  confirmed: (route: string) => boolean,
  retiring: ReadonlySet<string>,
): { confirmedNow: string[]; allConfirmed: boolean; retire: string[] } {
  const confirmedNow = [...new Set(candidates)].filter((key) => unconfirmed.has(key) && confirmed(key));
  const allConfirmed = confirmedNow.length === unconfirmed.size;
  return { confirmedNow, allConfirmed, retire: allConfirmed ? [...retiring] : [] };
}
