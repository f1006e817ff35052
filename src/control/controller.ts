// Knative's reconcilers in one place, without Kubernetes: Service → Configuration → Revision →
// Route. A template change creates a new immutable revision; `latestRevision: true` follows the
// newest revision that has become ready; every object carries conditions with reason and message.
// No I/O: the caller feeds readiness and probe confirmations in and reads desired state out.
// Routes are resolved again only when something they read changed (routeChanges), so a sync
// costs what changed, not a walk over every route.
import { createHash } from 'node:crypto';
import type { ResourceConfig, RouteConfig, ServiceConfig, TrafficConfig } from '../config/load.js';
import type { RevisionSpec, RouteSpec, TrafficTarget } from '../model/desired.js';
import { namespacedName, revisionKey, revisionName } from '../model/names.js';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

interface ConfigurationState {
  namespace: string;
  name: string;
  generation: number;
  templateHash: string;
  latestCreated: string | undefined;
  latestReady: string | undefined;
  /** Revisions by name, oldest first. */
  revisions: RevisionSpec[];
}

export interface ResolvedRoute {
  spec: RouteSpec;
  /** undefined when every target resolved; else why the route cannot be programmed. */
  unresolved: string | undefined;
  /** The service whose Route this is (undefined for standalone Routes). */
  service: string | undefined;
  source: string;
}

export class Controller {
  private readonly configurations = new Map<string, ConfigurationState>();
  private readonly everReady = new Set<string>();
  private readonly failed = new Map<string, string>();
  private resources: ResourceConfig[] = [];
  /** Resources (Services and Routes) by `{namespace}/{name}`, as last applied. */
  private readonly byKey = new Map<string, ResourceConfig>();
  /** `{namespace}/{configuration or revision}` → the resources whose traffic names it. */
  private readonly readers = new Map<string, Set<string>>();
  /** Revision key → its configuration's key. */
  private readonly configurationOf = new Map<string, string>();
  /** Revisions created and not ready yet (nor removed). */
  private readonly unready = new Map<string, RevisionSpec>();
  /** Resources to resolve again, and resources that are gone, since the last routeChanges(). */
  private readonly dirty = new Set<string>();
  private readonly gone = new Set<string>();

  /** Applies a validated configuration; returns the revisions it created. */
  apply(resources: ResourceConfig[]): RevisionSpec[] {
    this.resources = resources;
    this.trackResources(resources);
    const created: RevisionSpec[] = [];
    for (const s of resources) {
      if (s.kind !== 'Service') continue;
      const key = namespacedName(s.namespace, s.name);
      const hash = templateHash(s);
      let c = this.configurations.get(key);
      if (!c)
        this.configurations.set(
          key,
          (c = {
            namespace: s.namespace,
            name: s.name,
            generation: 0,
            templateHash: '',
            latestCreated: undefined,
            latestReady: undefined,
            revisions: [],
          }),
        );
      if (c.templateHash === hash) continue;
      c.generation++;
      c.templateHash = hash;
      const name = s.template.revisionName ?? revisionName(s.name, c.generation);
      const spec: RevisionSpec = {
        namespace: s.namespace,
        name,
        service: s.name,
        configuration: s.name,
        generation: c.generation,
        containerConcurrency: s.template.containerConcurrency,
        timeoutSeconds: s.template.timeoutSeconds,
        ...(s.template.responseStartTimeoutSeconds !== undefined
          ? { responseStartTimeoutSeconds: s.template.responseStartTimeoutSeconds }
          : {}),
        ...(s.template.idleTimeoutSeconds !== undefined ? { idleTimeoutSeconds: s.template.idleTimeoutSeconds } : {}),
        annotations: s.template.annotations,
        container: s.template.container,
      };
      // A re-used template.metadata.name replaces nothing: Knative refuses to mutate a revision.
      const existing = c.revisions.findIndex((r) => r.name === name);
      if (existing !== -1) c.revisions.splice(existing, 1);
      c.revisions.push(spec);
      c.latestCreated = name;
      created.push(spec);
      const rKey = revisionKey(s.namespace, name);
      this.configurationOf.set(rKey, key);
      if (!this.everReady.has(rKey)) this.unready.set(rKey, spec);
      this.touch(namespacedName(s.namespace, name));
      this.touch(key);
    }
    const services = new Set(
      resources.flatMap((s) => (s.kind === 'Service' ? [namespacedName(s.namespace, s.name)] : [])),
    );
    for (const [key, c] of [...this.configurations]) {
      if (services.has(key)) continue;
      this.configurations.delete(key);
      for (const r of c.revisions) {
        this.configurationOf.delete(revisionKey(r.namespace, r.name));
        this.unready.delete(revisionKey(r.namespace, r.name));
      }
      this.touch(key);
    }
    return created;
  }

  /** Marks new, changed and removed resources (the loader hands back the same object for an unchanged one). */
  private trackResources(resources: ResourceConfig[]): void {
    const seen = new Set<string>();
    for (const r of resources) {
      const key = namespacedName(r.namespace, r.name);
      seen.add(key);
      const before = this.byKey.get(key);
      if (before === r) continue;
      if (before) this.unindex(key, before);
      this.byKey.set(key, r);
      for (const name of this.namesRead(r)) {
        let set = this.readers.get(name);
        if (!set) this.readers.set(name, (set = new Set()));
        set.add(key);
      }
      this.dirty.add(key);
      this.gone.delete(key);
    }
    for (const [key, r] of [...this.byKey]) {
      if (seen.has(key)) continue;
      this.unindex(key, r);
      this.byKey.delete(key);
      this.dirty.delete(key);
      this.gone.add(key);
    }
  }

  private unindex(key: string, r: ResourceConfig): void {
    for (const name of this.namesRead(r)) this.readers.get(name)?.delete(key);
  }

  /** The configurations and revisions a resource's traffic reads, as `{namespace}/{name}`. */
  private namesRead(r: ResourceConfig): string[] {
    return r.traffic.map((t) =>
      namespacedName(
        r.namespace,
        (t.latestRevision ? (r.kind === 'Service' ? r.name : t.configurationName) : t.revisionName) ?? '',
      ),
    );
  }

  /** Resolves again every resource that reads `name` (a configuration or a revision). */
  private touch(name: string): void {
    for (const key of this.readers.get(name) ?? []) this.dirty.add(key);
  }

  /**
   * The routes whose resolution may have changed since the last call (new or edited resources,
   * a revision that became ready or was created), and the keys of resources that are gone.
   */
  routeChanges(): { changed: ResolvedRoute[]; removed: string[] } {
    const changed: ResolvedRoute[] = [];
    for (const key of this.dirty) {
      const r = this.byKey.get(key);
      if (r) changed.push(this.resolve(r));
    }
    const removed = [...this.gone];
    this.dirty.clear();
    this.gone.clear();
    return { changed, removed };
  }

  /** A revision's spec by key, while its configuration exists. */
  revision(key: string): RevisionSpec | undefined {
    const c = this.configurations.get(this.configurationOf.get(key) ?? '');
    return c?.revisions.find((r) => revisionKey(r.namespace, r.name) === key);
  }

  /** Revisions created that have not become ready yet. */
  unreadyRevisions(): RevisionSpec[] {
    return [...this.unready.values()];
  }

  /** A revision had a ready pod; from now on it counts as ready (also when scaled to zero). */
  revisionReady(namespace: string, name: string): boolean {
    const key = revisionKey(namespace, name);
    this.failed.delete(key);
    if (this.everReady.has(key)) return false;
    this.everReady.add(key);
    this.unready.delete(key);
    const configKey = this.configurationOf.get(key);
    const c = configKey === undefined ? undefined : this.configurations.get(configKey);
    if (c) {
      // latestReady only moves forward: an older revision turning ready does not take it back.
      const index = (n: string | undefined) => c.revisions.findIndex((r) => r.name === n);
      if (index(name) > index(c.latestReady)) {
        c.latestReady = name;
        this.touch(configKey!);
      }
    }
    this.touch(key);
    return true;
  }

  /** A revision that cannot become ready (crash loop, bad command): shown in its status. */
  revisionFailed(namespace: string, name: string, message: string): void {
    const key = revisionKey(namespace, name);
    if (this.failed.get(key) === message) return;
    this.failed.set(key, message);
    const configKey = this.configurationOf.get(key);
    if (configKey !== undefined) this.touch(configKey); // the routes waiting on it say why
  }

  isReady(key: string): boolean {
    return this.everReady.has(key);
  }

  /** Every revision that exists, newest last per configuration. */
  allRevisions(): RevisionSpec[] {
    return [...this.configurations.values()].flatMap((c) => c.revisions);
  }

  /** Revisions that must keep running: routed ones and each configuration's latest created. */
  activeRevisions(routes: ResolvedRoute[]): RevisionSpec[] {
    const wanted = new Set<string>();
    for (const r of routes) for (const t of r.spec.traffic) wanted.add(revisionKey(r.spec.namespace, t.revisionName));
    for (const c of this.configurations.values())
      if (c.latestCreated) wanted.add(revisionKey(c.namespace, c.latestCreated));
    return this.allRevisions().filter((r) => wanted.has(revisionKey(r.namespace, r.name)));
  }

  /** Every route, resolved now (for status; syncs use routeChanges). */
  routes(): ResolvedRoute[] {
    return this.resources.map((r) => this.resolve(r));
  }

  private resolve(r: ServiceConfig | RouteConfig): ResolvedRoute {
    const resolved = this.resolveTraffic(r);
    return {
      spec: { namespace: r.namespace, name: r.name, visibility: r.visibility, traffic: resolved.targets },
      unresolved: resolved.problem,
      service: r.kind === 'Service' ? r.name : undefined,
      source: r.source,
    };
  }

  private resolveTraffic(r: ServiceConfig | RouteConfig): { targets: TrafficTarget[]; problem: string | undefined } {
    const targets: TrafficTarget[] = [];
    const problems: string[] = [];
    for (const t of r.traffic) {
      const name = this.resolveTarget(r, t, problems);
      if (name !== undefined)
        targets.push({ revisionName: name, percent: t.percent, ...(t.tag ? { tag: t.tag } : {}) });
    }
    return { targets, problem: problems.length > 0 ? problems.join('; ') : undefined };
  }

  private resolveTarget(r: ServiceConfig | RouteConfig, t: TrafficConfig, problems: string[]): string | undefined {
    const configName = r.kind === 'Service' ? r.name : t.configurationName;
    if (t.latestRevision) {
      const c = configName === undefined ? undefined : this.configurations.get(namespacedName(r.namespace, configName));
      if (!c) {
        problems.push(`configuration "${configName}" does not exist`);
        return undefined;
      }
      if (!c.latestReady) {
        const failure = c.latestCreated ? this.failed.get(revisionKey(r.namespace, c.latestCreated)) : undefined;
        const detail = failure ? `: ${c.latestCreated} ${failure}` : ` (waiting for ${c.latestCreated})`;
        problems.push(`configuration "${configName}" has no ready revision yet${detail}`);
        return undefined;
      }
      return c.latestReady;
    }
    const name = t.revisionName!;
    if (!this.configurationOf.has(revisionKey(r.namespace, name))) {
      problems.push(`revision "${name}" does not exist`);
      return undefined;
    }
    if (!this.everReady.has(revisionKey(r.namespace, name))) {
      problems.push(`revision "${name}" is not ready yet`);
      return undefined;
    }
    return name;
  }

  /** Knative's Service conditions, given whether its route is confirmed by every gateway. */
  serviceStatus(
    service: ServiceConfig,
    route: ResolvedRoute | undefined,
    routeConfirmed: { ready: boolean; message?: string },
  ): {
    latestCreatedRevision: string | undefined;
    latestReadyRevision: string | undefined;
    conditions: Condition[];
  } {
    const c = this.configurations.get(namespacedName(service.namespace, service.name));
    const latestCreated = c?.latestCreated;
    let configurationsReady: Condition;
    if (latestCreated && c?.latestReady === latestCreated)
      configurationsReady = { type: 'ConfigurationsReady', status: 'True' };
    else {
      const failure = latestCreated ? this.failed.get(revisionKey(service.namespace, latestCreated)) : undefined;
      configurationsReady = failure
        ? {
            type: 'ConfigurationsReady',
            status: 'False',
            reason: 'RevisionFailed',
            message: `Revision "${latestCreated}" failed: ${failure}`,
          }
        : {
            type: 'ConfigurationsReady',
            status: 'Unknown',
            reason: 'RevisionNotReady',
            message: `Revision "${latestCreated}" is starting`,
          };
    }
    let routesReady: Condition;
    if (!route || route.unresolved)
      routesReady = {
        type: 'RoutesReady',
        status: 'Unknown',
        reason: 'RevisionMissing',
        message: route?.unresolved ?? 'no route',
      };
    else if (!routeConfirmed.ready)
      routesReady = {
        type: 'RoutesReady',
        status: 'Unknown',
        reason: 'IngressNotConfigured',
        message: routeConfirmed.message ?? 'waiting for the gateways to confirm the new configuration',
      };
    else routesReady = { type: 'RoutesReady', status: 'True' };
    const notReady = [configurationsReady, routesReady].find((x) => x.status !== 'True');
    const ready: Condition = notReady
      ? {
          type: 'Ready',
          status: notReady.status,
          ...(notReady.reason ? { reason: notReady.reason } : {}),
          ...(notReady.message ? { message: notReady.message } : {}),
        }
      : { type: 'Ready', status: 'True' };
    return {
      latestCreatedRevision: latestCreated,
      latestReadyRevision: c?.latestReady,
      conditions: [ready, configurationsReady, routesReady],
    };
  }
}

// The config loader hands back the same objects for documents that did not change.
const templateHashes = new WeakMap<ServiceConfig['template'], string>();

function templateHash(s: ServiceConfig): string {
  let hash = templateHashes.get(s.template);
  if (hash === undefined)
    templateHashes.set(s.template, (hash = createHash('sha256').update(JSON.stringify(s.template)).digest('hex')));
  return hash;
}
