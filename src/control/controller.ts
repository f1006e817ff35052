// Knative's reconcilers in one place, without Kubernetes: Service → Configuration → Revision →
// Route. A template change creates a new immutable revision; `latestRevision: true` follows the
// newest revision that has become ready; every object carries conditions with reason and message.
// No I/O: the caller feeds readiness and probe confirmations in and reads desired state out.
import { createHash } from 'node:crypto';
import type { ResourceConfig, RouteConfig, ServiceConfig, TrafficConfig } from '../config/load.js';
import type { RevisionSpec, RouteSpec, TrafficTarget } from '../model/desired.js';
import { revisionKey, revisionName } from '../model/names.js';

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

  /** Applies a validated configuration; returns the revisions it created. */
  apply(resources: ResourceConfig[]): RevisionSpec[] {
    this.resources = resources;
    const created: RevisionSpec[] = [];
    for (const s of resources) {
      if (s.kind !== 'Service') continue;
      const key = `${s.namespace}/${s.name}`;
      const hash = templateHash(s);
      let c = this.configurations.get(key);
      if (!c) this.configurations.set(key, (c = { namespace: s.namespace, name: s.name, generation: 0, templateHash: '', latestCreated: undefined, latestReady: undefined, revisions: [] }));
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
        ...(s.template.responseStartTimeoutSeconds !== undefined ? { responseStartTimeoutSeconds: s.template.responseStartTimeoutSeconds } : {}),
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
    }
    const services = new Set(resources.flatMap((s) => (s.kind === 'Service' ? [`${s.namespace}/${s.name}`] : [])));
    for (const key of [...this.configurations.keys()]) if (!services.has(key)) this.configurations.delete(key);
    return created;
  }

  /** A revision had a ready pod; from now on it counts as ready (also when scaled to zero). */
  revisionReady(namespace: string, name: string): boolean {
    const key = revisionKey(namespace, name);
    this.failed.delete(key);
    if (this.everReady.has(key)) return false;
    this.everReady.add(key);
    for (const c of this.configurations.values()) {
      if (c.namespace !== namespace || !c.revisions.some((r) => r.name === name)) continue;
      // latestReady only moves forward: an older revision turning ready does not take it back.
      const index = (n: string | undefined) => c.revisions.findIndex((r) => r.name === n);
      if (index(name) > index(c.latestReady)) c.latestReady = name;
    }
    return true;
  }

  /** A revision that cannot become ready (crash loop, bad command): shown in its status. */
  revisionFailed(namespace: string, name: string, message: string): void {
    this.failed.set(revisionKey(namespace, name), message);
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
    for (const c of this.configurations.values()) if (c.latestCreated) wanted.add(revisionKey(c.namespace, c.latestCreated));
    return this.allRevisions().filter((r) => wanted.has(revisionKey(r.namespace, r.name)));
  }

  routes(): ResolvedRoute[] {
    const out: ResolvedRoute[] = [];
    const existing = new Set(this.allRevisions().map((rev) => revisionKey(rev.namespace, rev.name)));
    for (const r of this.resources) {
      const resolved = this.resolveTraffic(r, existing);
      out.push({
        spec: { namespace: r.namespace, name: r.name, visibility: r.visibility, traffic: resolved.targets },
        unresolved: resolved.problem,
        service: r.kind === 'Service' ? r.name : undefined,
        source: r.source,
      });
    }
    return out;
  }

  private resolveTraffic(r: ServiceConfig | RouteConfig, existing: ReadonlySet<string>): { targets: TrafficTarget[]; problem: string | undefined } {
    const targets: TrafficTarget[] = [];
    const problems: string[] = [];
    for (const t of r.traffic) {
      const name = this.resolveTarget(r, t, problems, existing);
      if (name !== undefined) targets.push({ revisionName: name, percent: t.percent, ...(t.tag ? { tag: t.tag } : {}) });
    }
    return { targets, problem: problems.length > 0 ? problems.join('; ') : undefined };
  }

  private resolveTarget(r: ServiceConfig | RouteConfig, t: TrafficConfig, problems: string[], existing: ReadonlySet<string>): string | undefined {
    const configName = r.kind === 'Service' ? r.name : t.configurationName;
    if (t.latestRevision) {
      const c = this.configurations.get(`${r.namespace}/${configName}`);
      if (!c) {
        problems.push(`configuration "${configName}" does not exist`);
        return undefined;
      }
      if (!c.latestReady) {
        const failure = c.latestCreated ? this.failed.get(revisionKey(r.namespace, c.latestCreated)) : undefined;
        problems.push(`configuration "${configName}" has no ready revision yet${failure ? `: ${c.latestCreated} ${failure}` : ` (waiting for ${c.latestCreated})`}`);
        return undefined;
      }
      return c.latestReady;
    }
    const name = t.revisionName!;
    if (!existing.has(revisionKey(r.namespace, name))) {
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
  serviceStatus(service: ServiceConfig, route: ResolvedRoute | undefined, routeConfirmed: { ready: boolean; message?: string }): {
    latestCreatedRevision: string | undefined;
    latestReadyRevision: string | undefined;
    conditions: Condition[];
  } {
    const c = this.configurations.get(`${service.namespace}/${service.name}`);
    const latestCreated = c?.latestCreated;
    let configurationsReady: Condition;
    if (latestCreated && c?.latestReady === latestCreated) configurationsReady = { type: 'ConfigurationsReady', status: 'True' };
    else {
      const failure = latestCreated ? this.failed.get(revisionKey(service.namespace, latestCreated)) : undefined;
      configurationsReady = failure
        ? { type: 'ConfigurationsReady', status: 'False', reason: 'RevisionFailed', message: `Revision "${latestCreated}" failed: ${failure}` }
        : { type: 'ConfigurationsReady', status: 'Unknown', reason: 'RevisionNotReady', message: `Revision "${latestCreated}" is starting` };
    }
    let routesReady: Condition;
    if (!route || route.unresolved) routesReady = { type: 'RoutesReady', status: 'Unknown', reason: 'RevisionMissing', message: route?.unresolved ?? 'no route' };
    else if (!routeConfirmed.ready) routesReady = { type: 'RoutesReady', status: 'Unknown', reason: 'IngressNotConfigured', message: routeConfirmed.message ?? 'waiting for the gateways to confirm the new configuration' };
    else routesReady = { type: 'RoutesReady', status: 'True' };
    const notReady = [configurationsReady, routesReady].find((x) => x.status !== 'True');
    const ready: Condition = notReady ? { type: 'Ready', status: notReady.status, ...(notReady.reason ? { reason: notReady.reason } : {}), ...(notReady.message ? { message: notReady.message } : {}) } : { type: 'Ready', status: 'True' };
    return { latestCreatedRevision: latestCreated, latestReadyRevision: c?.latestReady, conditions: [ready, configurationsReady, routesReady] };
  }
}

// The config loader hands back the same objects for documents that did not change.
const templateHashes = new WeakMap<ServiceConfig['template'], string>();

function templateHash(s: ServiceConfig): string {
  let hash = templateHashes.get(s.template);
  if (hash === undefined) templateHashes.set(s.template, (hash = createHash('sha256').update(JSON.stringify(s.template)).digest('hex')));
  return hash;
}
