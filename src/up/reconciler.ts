// `gatehouse up`'s reconcile loop as an object: what it remembers between passes (the routes as
// programmed, the revisions watched and retiring, each route's expectation and whether every
// gateway confirmed it) and the two passes that act on it. A sync hands the translator what
// changed, publishes the resources and tells the prober what to expect; a confirmation check
// retires revisions once no gateway can still send them traffic. The decisions themselves are the
// pure functions of reconcile.ts; this object gathers what they need and does what they say.
// Everything it acts on is injected (orchestrator.ts wires the real parts; test/up/reconciler.test.ts
// drives it with the real controller, translator and prober and a runtime of its own).
import type { Controller, ResolvedRoute } from '../control/controller.js';
import type { ResourceChange } from '../envoy/resource.js';
import type { Logger } from '../log/logger.js';
import { deciderSpecFor, type DeciderSpec, type GlobalAutoscalerConfig } from '../model/autoscaling.js';
import type { Endpoint, RevisionMode, RevisionRouting } from '../model/desired.js';
import { namespacedName, revisionKey, splitKey } from '../model/names.js';
import type { GatewayTarget, Prober, RouteExpectation } from '../prober/prober.js';
import type { PodRuntime } from '../runtime/types.js';
import type { IncrementalTranslator } from '../translate/incremental.js';
import { confirmations, expectationChanges, planRevisions, revisionVerdict } from './reconcile.js';

export interface ReconcilerDeps {
  domain: string;
  autoscalerConfig: GlobalAutoscalerConfig;
  controller: Controller;
  translator: IncrementalTranslator;
  runtime: Pick<PodRuntime, 'pods' | 'ensureRevision' | 'deleteRevision'>;
  prober: Pick<Prober, 'update' | 'setGateways' | 'isReady'>;
  /** Where the translator's changes go (the xDS server's cache). */
  publish(changes: readonly ResourceChange[]): void;
  /** The autoscaler: a revision is watched while it runs. */
  autoscaler: { watch(key: string, spec: DeciderSpec): void; unwatch(key: string): void };
  /** Every gateway the prober must see a route's hash on. */
  gateways(): GatewayTarget[];
  /** The activators that answer their readiness probe, or all of them when none does. */
  activators(): Endpoint[];
  log: Logger;
}

export class UpReconciler {
  /** Each route as last programmed with every target resolved: kept while a change is pending. */
  readonly programmed = new Map<string, ResolvedRoute>();
  /** Revisions that run (routed or latest) and the autoscaler watches. */
  readonly watched = new Set<string>();
  /** Serving mode per watched revision (proxy through the activators until the autoscaler says serve). */
  readonly modes = new Map<string, RevisionMode>();
  /** Watched revisions no route needs any more: they go once every route is confirmed without them. */
  private readonly retiring = new Set<string>();
  /** Routes with an unresolved target (their last resolved version, if any, keeps serving). */
  private readonly unresolved = new Set<string>();
  /** What the prober checks per route, kept up to date change by change. */
  private readonly expectations = new Map<string, RouteExpectation>();
  /** Routes whose current hash some gateway has not confirmed yet: all that checkConfirmations looks at. */
  private readonly unconfirmed = new Set<string>();
  /** Routes a probe finished for since the last confirmation check. */
  private readonly probed = new Set<string>();
  /** Revisions whose routing (mode, pods, activators, being watched) may have changed. */
  private readonly dirtyRevisions = new Set<string>();
  /** Routes came, went or changed targets, or revisions were created: the running set may change. */
  private topologyChanged = true;
  private gatewaysKey = '';
  private readonly readyWaiters = new Set<() => void>();
  private syncQueued = false;
  private checkQueued = false;
  /** Set by stop(): from then on nothing is reconciled (no pod started, nothing pushed). */
  private stopped = false;

  constructor(private readonly deps: ReconcilerDeps) {}

  /** A sync on the next turn of the event loop: many changes in one turn make one pass. */
  scheduleSync(): void {
    if (this.syncQueued) return;
    this.syncQueued = true;
    setImmediate(() => {
      this.syncQueued = false;
      this.sync();
    });
  }

  /** A revision's pods (or its being watched) changed: its routing is pushed again on the next sync. */
  revisionChanged(key: string): void {
    this.dirtyRevisions.add(key);
    this.scheduleSync();
  }

  /** The ready activators changed: every watched revision's proxy-mode assignment names them. */
  activatorsChanged(): void {
    for (const key of this.watched) this.dirtyRevisions.add(key);
    this.scheduleSync();
  }

  /**
   * The autoscaler's serving mode for a revision; a change is pushed at once (the caller then waits
   * for the gateways to acknowledge it). Returns whether it changed.
   */
  setMode(key: string, mode: RevisionMode): boolean {
    const changed = (this.modes.get(key) ?? 'proxy') !== mode;
    this.modes.set(key, mode);
    if (changed) {
      this.dirtyRevisions.add(key);
      this.sync();
    }
    return changed;
  }

  /**
   * A probe finished for the route. A confirmation changes no desired state, so it only re-checks
   * what waits on confirmations, and only the routes it was about.
   */
  routeProbed(key: string): void {
    this.probed.add(key);
    if (this.checkQueued) return;
    this.checkQueued = true;
    setImmediate(() => {
      this.checkQueued = false;
      this.checkConfirmations();
    });
  }

  /** Resolves once every route is programmed and confirmed on every gateway; rejects after timeoutMs. */
  whenReady(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiters.delete(done);
        reject(new Error(`routes not Ready within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.readyWaiters.add(done);
      this.scheduleSync();
    });
  }

  /** One route, cheaply: the revisions it sends to as programmed. */
  programmedRoute(namespace: string, name: string): ResolvedRoute | undefined {
    return this.programmed.get(namespacedName(namespace, name));
  }

  stop(): void {
    this.stopped = true;
  }

  /** Hands the translator only what changed; its cost follows the change, not the number of services. */
  sync(): void {
    if (this.stopped) return;
    this.recordRevisionReadiness();
    this.programRoutes();
    if (this.topologyChanged) {
      this.topologyChanged = false;
      this.planRevisions();
    }
    this.routeDirtyRevisions();
    this.deps.publish(this.deps.translator.flush('by-role'));
    this.updateExpectations();
    this.updateGateways();
    this.checkConfirmations();
  }

  /** Retires revisions once every route is confirmed without them; wakes whenReady callers. */
  checkConfirmations(): void {
    const { prober, autoscaler, runtime, log } = this.deps;
    const verdict = confirmations(this.unconfirmed, this.probed, (key) => prober.isReady(key), this.retiring);
    this.probed.clear();
    for (const key of verdict.confirmedNow) this.unconfirmed.delete(key);
    if (verdict.retire.length > 0) {
      for (const key of verdict.retire) {
        this.watched.delete(key);
        this.modes.delete(key);
        this.dirtyRevisions.add(key);
        autoscaler.unwatch(key);
        log.info('revision retired: no route sends traffic to it', { revision: key });
        void runtime.deleteRevision(key);
      }
      this.retiring.clear();
      this.scheduleSync(); // their clusters leave the snapshot now
    }
    if (this.readyWaiters.size > 0 && verdict.allConfirmed && this.unresolved.size === 0 && this.programmed.size > 0) {
      for (const wake of this.readyWaiters) wake();
      this.readyWaiters.clear();
    }
  }

  /** Revision readiness from the runtime, into the controller. */
  private recordRevisionReadiness(): void {
    const { controller, runtime, autoscalerConfig } = this.deps;
    for (const rev of controller.unreadyRevisions()) {
      const verdict = revisionVerdict(
        runtime.pods(revisionKey(rev.namespace, rev.name)),
        deciderSpecFor(rev.annotations, rev.containerConcurrency, autoscalerConfig),
      );
      if (verdict.kind === 'ready') controller.revisionReady(rev.namespace, rev.name);
      else if (verdict.kind === 'failed') controller.revisionFailed(rev.namespace, rev.name, verdict.reason);
    }
  }

  /** Programs the resolved route changes; an unresolved change keeps the last programmed version. */
  private programRoutes(): void {
    const { controller, translator } = this.deps;
    const { changed, removed } = controller.routeChanges();
    for (const key of removed) {
      const gone = this.programmed.get(key);
      this.programmed.delete(key);
      this.unresolved.delete(key);
      if (gone) translator.removeRoute(gone.spec.namespace, gone.spec.name);
      this.topologyChanged = true;
    }
    for (const r of changed) {
      const key = namespacedName(r.spec.namespace, r.spec.name);
      if (r.unresolved !== undefined) {
        this.unresolved.add(key);
        continue;
      }
      this.unresolved.delete(key);
      this.programmed.set(key, r);
      translator.setRoute(r.spec);
      this.topologyChanged = true;
    }
  }

  /** Routed and latest revisions run; others retire once every route is confirmed without them. */
  private planRevisions(): void {
    const { controller, runtime, autoscaler, autoscalerConfig } = this.deps;
    const plan = planRevisions(controller.activeRevisions([...this.programmed.values()]), this.watched);
    for (const rev of plan.run) {
      this.retiring.delete(revisionKey(rev.namespace, rev.name));
      runtime.ensureRevision(rev);
    }
    for (const rev of plan.watch) {
      const key = revisionKey(rev.namespace, rev.name);
      this.watched.add(key);
      this.dirtyRevisions.add(key);
      autoscaler.watch(key, deciderSpecFor(rev.annotations, rev.containerConcurrency, autoscalerConfig));
    }
    for (const key of plan.retire) this.retiring.add(key);
  }

  private routeDirtyRevisions(): void {
    const { translator } = this.deps;
    for (const key of this.dirtyRevisions) {
      const routing = this.watched.has(key) ? this.routingOf(key) : undefined;
      if (routing) translator.setRevision(routing);
      else {
        const { namespace, name } = splitKey(key);
        translator.removeRevision(namespace, name);
      }
    }
    this.dirtyRevisions.clear();
  }

  private routingOf(key: string): RevisionRouting | undefined {
    const spec = this.deps.controller.revision(key);
    return (
      spec && {
        spec,
        mode: this.modes.get(key) ?? 'proxy',
        pods: this.deps.runtime.pods(key).flatMap((p) => (p.phase === 'ready' && p.serving ? [p.serving] : [])),
        activators: this.deps.activators(),
      }
    );
  }

  /** The prober learns each route whose hash changed; each is unconfirmed until every gateway shows it. */
  private updateExpectations(): void {
    const { translator, prober, domain } = this.deps;
    const programmedNow = (key: string) => {
      const r = this.programmed.get(key);
      return r && { route: r.spec, hash: translator.routeHash(r.spec.namespace, r.spec.name) };
    };
    const change = expectationChanges(translator.changedRoutes(), this.expectations, programmedNow, domain);
    for (const key of change.remove) {
      this.expectations.delete(key);
      this.unconfirmed.delete(key);
    }
    for (const [key, expectation] of change.set) {
      this.expectations.set(key, expectation);
      this.unconfirmed.add(key);
      this.probed.add(key); // back to a hash every gateway confirmed already
    }
    prober.update(change.set, change.remove);
  }

  /** A gateway that came must confirm every route; one that left may have been all some routes waited for. */
  private updateGateways(): void {
    const gateways = this.deps.gateways();
    const key = gateways
      .map((g) => `${g.id}@${g.externalPort}/${g.localPort}`)
      .sort()
      .join('|');
    if (key !== this.gatewaysKey) {
      this.gatewaysKey = key;
      for (const k of this.expectations.keys()) this.unconfirmed.add(k);
      for (const k of this.unconfirmed) this.probed.add(k);
    }
    this.deps.prober.setGateways(gateways);
  }
}
