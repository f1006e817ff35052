// What `gatehouse status` shows, as one JSON document: services with their conditions and
// traffic, revisions with pods and serving mode, gateways with the hashes they confirmed and any
// NACK, and for everything not Ready, why. Also its plain-text rendering.
import type { Multiscaler } from '../autoscaler/multiscaler.js';
import type { ResourceConfig } from '../config/load.js';
import type { Condition, Controller, ResolvedRoute } from '../control/controller.js';
import type { RevisionMode } from '../model/desired.js';
import { namespacedName, revisionKey, routeHosts, tagHosts } from '../model/names.js';
import type { GatewayTarget, Prober } from '../prober/prober.js';
import type { PodRuntime } from '../runtime/index.js';
import type { NodeStatus } from '../xds/index.js';
import { describeFailure } from './failure.js';

export interface UpStatus {
  config: { file: string; error?: string };
  services: Array<{
    namespace: string;
    name: string;
    url: string;
    ready: Condition['status'];
    conditions: Condition[];
    latestCreatedRevision?: string;
    latestReadyRevision?: string;
    traffic: Array<{ revisionName: string; percent: number; tag?: string; url?: string }>;
  }>;
  routes: Array<{ namespace: string; name: string; ready: boolean; message?: string }>;
  revisions: Array<{
    namespace: string;
    name: string;
    ready: boolean;
    mode: RevisionMode;
    pods: { ready: number; desired: number; starting: number; draining: number };
    scaleReason?: string;
    failure?: string;
    podList: Array<{
      name: string;
      phase: string;
      reason?: string;
      restarts: number;
      servingPort?: number;
      pids: { app?: number; queueProxy?: number };
    }>;
  }>;
  gateways: Array<{
    id: string;
    connected: boolean;
    confirmed: Record<string, string>;
    nacks: Array<{ type: string; version: string; error: string }>;
  }>;
}

export interface StatusInputs {
  file: string;
  configError: string | undefined;
  resources: ResourceConfig[];
  controller: Controller;
  routes: ResolvedRoute[];
  prober: Prober;
  multiscaler: Multiscaler;
  runtime: PodRuntime;
  watched: ReadonlySet<string>;
  modes: ReadonlyMap<string, RevisionMode>;
  gateways: GatewayTarget[];
  nodes: NodeStatus[];
  domain: string;
}

export function buildStatus(i: StatusInputs): UpStatus {
  const routeByKey = new Map(i.routes.map((r) => [namespacedName(r.spec.namespace, r.spec.name), r]));
  const scale = new Map(i.multiscaler.status().map((s) => [s.revision, s]));
  const services: UpStatus['services'] = [];
  for (const s of i.resources) {
    if (s.kind !== 'Service') continue;
    const key = namespacedName(s.namespace, s.name);
    const route = routeByKey.get(key);
    const st = i.controller.serviceStatus(s, route, i.prober.routeState(key));
    const host = (name: string) =>
      s.visibility === 'external'
        ? routeHosts(name, s.namespace, i.domain, 'external').external[0]!
        : routeHosts(name, s.namespace, i.domain, 'cluster-local').local[0]!;
    services.push({
      namespace: s.namespace,
      name: s.name,
      url: `http://${host(s.name)}`,
      ready: st.conditions[0]!.status,
      conditions: st.conditions,
      ...(st.latestCreatedRevision ? { latestCreatedRevision: st.latestCreatedRevision } : {}),
      ...(st.latestReadyRevision ? { latestReadyRevision: st.latestReadyRevision } : {}),
      traffic: (route?.spec.traffic ?? []).map((t) => ({
        revisionName: t.revisionName,
        percent: t.percent,
        ...(t.tag ? { tag: t.tag, url: `http://${tagHost(t.tag, s.name, s.namespace, i.domain, s.visibility)}` } : {}),
      })),
    });
  }
  const routes = i.routes.map((r) => {
    const key = namespacedName(r.spec.namespace, r.spec.name);
    const state = r.unresolved ? { ready: false, message: r.unresolved } : i.prober.routeState(key);
    return {
      namespace: r.spec.namespace,
      name: r.spec.name,
      ready: state.ready,
      ...(state.message ? { message: state.message } : {}),
    };
  });
  const revisions = revisionStatuses(i, scale);
  const confirmedState = i.prober.state().confirmed;
  const gateways = i.gateways.map((g) => {
    const node = i.nodes.find((n) => n.id === g.id);
    const confirmed: Record<string, string> = {};
    for (const [route, byGateway] of confirmedState) {
      const hash = byGateway.get(g.id);
      if (hash) confirmed[route] = hash;
    }
    const nacks = Object.entries(node?.types ?? {}).flatMap(([type, t]) =>
      t.lastNack
        ? [{ type: type.slice(type.lastIndexOf('.') + 1), version: t.lastNack.version, error: t.lastNack.error }]
        : [],
    );
    return { id: g.id, connected: (node?.connectedStreams ?? 0) > 0, confirmed, nacks };
  });
  return {
    config: { file: i.file, ...(i.configError ? { error: i.configError } : {}) },
    services,
    routes,
    revisions,
    gateways,
  };
}

/** What each revision shows: the part of the status the history samples every second, built without the rest. */
export function revisionStatuses(
  i: Pick<StatusInputs, 'controller' | 'multiscaler' | 'runtime' | 'watched' | 'modes'>,
  scale = new Map(i.multiscaler.status().map((s) => [s.revision, s])),
): UpStatus['revisions'] {
  return i.controller.allRevisions().map((rev) => {
    const key = revisionKey(rev.namespace, rev.name);
    const pods = i.runtime.pods(key);
    const failure = pods.find((p) => p.lastFailure)?.lastFailure;
    const sc = scale.get(key);
    return {
      namespace: rev.namespace,
      name: rev.name,
      ready: i.controller.isReady(key),
      mode: i.modes.get(key) ?? 'proxy',
      pods: {
        ready: pods.filter((p) => p.phase === 'ready').length,
        desired: i.watched.has(key) ? (sc?.desiredPods ?? 0) : 0,
        starting: pods.filter((p) => p.phase === 'starting').length,
        draining: pods.filter((p) => p.phase === 'draining').length,
      },
      ...(sc
        ? { scaleReason: sc.reason }
        : i.watched.has(key)
          ? {}
          : { scaleReason: 'retired: no route sends traffic to it' }),
      ...(failure ? { failure: `${describeFailure(failure)} (at ${failure.at})` } : {}),
      podList: pods.map((p) => ({
        name: p.name,
        phase: p.phase,
        ...(p.reason ? { reason: p.reason } : {}),
        restarts: p.restarts,
        ...(p.serving ? { servingPort: p.serving.port } : {}),
        pids: {
          ...(p.pids.app ? { app: p.pids.app } : {}),
          ...(p.pids.queueProxy ? { queueProxy: p.pids.queueProxy } : {}),
        },
      })),
    };
  });
}

/** `gatehouse status` exit codes (docs/up.md). */
export const STATUS_EXIT = { ready: 0, unreachable: 1, notReady: 3, configError: 4 } as const;

export function statusExitCode(s: UpStatus): number {
  if (s.config.error) return STATUS_EXIT.configError;
  const allReady =
    s.services.every((svc) => svc.ready === 'True') &&
    s.routes.every((r) => r.ready) &&
    s.revisions.every((r) => r.ready || r.scaleReason?.startsWith('retired'));
  return allReady ? STATUS_EXIT.ready : STATUS_EXIT.notReady;
}

/** Whether a JSON document has the shape of UpStatus (and so came from gatehouse up). */
export function isUpStatus(v: unknown): v is UpStatus {
  const s = v as Partial<UpStatus> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.config?.file === 'string' &&
    Array.isArray(s.services) &&
    Array.isArray(s.routes) &&
    Array.isArray(s.revisions) &&
    Array.isArray(s.gateways)
  );
}

/** The human view of the same document. */
export function renderStatus(s: UpStatus): string {
  const out: string[] = [];
  if (s.config.error)
    out.push(
      `CONFIG ERROR (the last good configuration keeps serving):\n  ${s.config.error.split('\n').join('\n  ')}`,
      '',
    );
  out.push('SERVICES');
  for (const svc of s.services) {
    const notReady = svc.conditions.find((c) => c.status !== 'True' && c.type !== 'Ready');
    const why = notReady ? `\n    ${notReady.type}: ${notReady.reason ?? ''} ${notReady.message ?? ''}` : '';
    out.push(`  ${svc.namespace}/${svc.name}  ${svc.ready === 'True' ? 'Ready' : 'NotReady'}  ${svc.url}${why}`);
    for (const t of svc.traffic) {
      const tag = t.tag ? `  (tag ${t.tag}: ${t.url})` : '';
      out.push(`    ${String(t.percent).padStart(3)}% → ${t.revisionName}${tag}`);
    }
  }
  out.push('', 'REVISIONS');
  for (const r of s.revisions) {
    const starting = r.pods.starting ? ` (+${r.pods.starting} starting)` : '';
    const draining = r.pods.draining ? ` (${r.pods.draining} draining)` : '';
    const reason = r.scaleReason ? `  — ${r.scaleReason}` : '';
    const pods = `${r.pods.ready}/${r.pods.desired}${starting}${draining}`;
    out.push(`  ${r.namespace}/${r.name}  ${r.ready ? 'Ready' : 'NotReady'}  pods ${pods}  mode ${r.mode}${reason}`);
    if (r.failure) out.push(`    last failure: ${r.failure}`);
  }
  out.push('', 'GATEWAYS');
  if (s.gateways.length === 0) out.push('  none connected');
  for (const g of s.gateways) {
    out.push(
      `  ${g.id}  ${g.connected ? 'connected' : 'disconnected'}  ${Object.keys(g.confirmed).length} route(s) confirmed`,
    );
    for (const n of g.nacks) out.push(`    NACK ${n.type} ${n.version}: ${n.error}`);
  }
  const waiting = s.routes.filter((r) => !r.ready);
  if (waiting.length > 0) {
    out.push('', 'NOT READY');
    for (const r of waiting) out.push(`  route ${r.namespace}/${r.name}: ${r.message ?? ''}`);
  }
  return out.join('\n') + '\n';
}

/** The first host of a traffic tag: its external one, or for a cluster-local route its local one. */
function tagHost(
  tag: string,
  name: string,
  namespace: string,
  domain: string,
  visibility: 'external' | 'cluster-local',
): string {
  const hosts = tagHosts(tag, name, namespace, domain, visibility);
  return (visibility === 'external' ? hosts.external[0] : hosts.local[0])!;
}
