// `gatehouse controller`: Knative's networking layer in a cluster. Informers on KIngresses,
// Services, EndpointSlices and TLS Secrets feed a work queue with one reconcile per KIngress of
// our class; each reconcile translates the KIngress (translate.ts) and hands the xDS server only
// what changed; the backends' EndpointSlices are streamed as EDS; the certificates of every
// KIngress's spec.tls make the one HTTPS listener (a filter chain per Secret, matched by SNI); the
// prober confirms the KIngress's hash on every gateway pod (the ready addresses of the gateway
// Services' EndpointSlices) and the leader writes status. Followers keep the same xDS state, so
// Envoy may use any replica.
import type { Logger } from '../log/logger.js';
import type { GatewayListeners } from '../model/desired.js';
import { LISTENER_EXTERNAL, LISTENER_EXTERNAL_TLS, LISTENER_LOCAL, namespacedName, scopeName } from '../model/names.js';
import { SERVING_TYPES } from '../prober/gateway-nodes.js';
import { Prober, type GatewayTarget, type RouteExpectation } from '../prober/prober.js';
import { httpsListener, ingressListeners } from '../translate/listener.js';
import type { EnvoyResource } from '../envoy/resource.js';
import { startXdsServer, type XdsServer, type XdsServerOptions } from '../xds/index.js';
import { TYPE_URL } from '../envoy/protos.js';
import { backendResources, sliceEndpoints } from './backends.js';
import { statusCode, type KubeApi } from './client.js';
import { DEFAULT_RECONNECT, Informer, type ReconnectBackoff } from './informer.js';
import { LeaderElector, type LeaderElectionOptions } from './leader.js';
import { ingressStatus, sameStatus, serviceDomain, type LoadBalancer } from './status.js';
import { backendClusterName, translateIngress, type BackendRef, type IngressResources } from './translate.js';
import { secretCertificate, secretKey, tlsChains, type TlsClaim } from './tls.js';
import {
  INGRESS_CLASS_ANNOTATION,
  objectKey,
  SERVICE_NAME_LABEL,
  type EndpointSlice,
  type KIngress,
  type Secret,
  type Service,
} from './types.js';
import { validateIngress } from './validate.js';
import { DEFAULT_WORKQUEUE, WorkQueue, type WorkQueueOptions } from './workqueue.js';

export interface ServiceRef {
  namespace: string;
  name: string;
}

export interface ControllerOptions {
  api: KubeApi;
  log: Logger;
  ingressClass: string;
  /** The Envoy listeners every gateway pod binds, and so the ports the prober uses on each pod. */
  listeners: GatewayListeners;
  /** The HTTPS listener's port on every gateway pod (spec.tls); 8443 unless told. */
  httpsPort?: number;
  /** The gateway Services: their EndpointSlices' ready addresses are the fleet; their names go into status. */
  externalGateway: ServiceRef;
  localGateway: ServiceRef;
  xdsPort: number;
  /** Bind address, TLS and stream limits of the xDS server. */
  xds: Pick<XdsServerOptions, 'host' | 'tls' | 'limits'>;
  /** undefined: no election, this replica always writes status. */
  leaderElection: LeaderElectionOptions | undefined;
  /** Every KIngress is reconciled again this often (0 = never). */
  resyncMs: number;
  clusterDomain: string;
  workQueue?: WorkQueueOptions;
  reconnect?: ReconnectBackoff;
}

interface IngressEntry {
  /** uid + generation the resources were made from. */
  source: string;
  resources: IngressResources;
  /** Scope names this KIngress owns (a host another KIngress already serves is left out). */
  scopes: Set<string>;
  conflicts: string[];
  /** spec.tls with each Secret's certificate as last read, and what that was, to notice changes cheaply. */
  tls: TlsClaim[];
  tlsSignature: string;
}

interface BackendEntry {
  ref: BackendRef;
  users: Set<string>;
  cluster: EnvoyResource;
  assignment: EnvoyResource;
  assignmentJson: string;
  problem: string | undefined;
}

export interface KubeController {
  xds: XdsServer;
  isLeader(): boolean;
  /** For tests and the bench: the KIngress keys served, and whether every gateway confirmed each. */
  ready(key: string): boolean;
  close(): Promise<void>;
}

/** The tlsSignature of a KIngress without spec.tls. */
const NO_TLS = JSON.stringify([]);

const sliceKeyOf = (s: EndpointSlice) =>
  namespacedName(s.metadata.namespace ?? '', s.metadata.labels?.[SERVICE_NAME_LABEL] ?? '');

export async function startController(o: ControllerOptions): Promise<KubeController> {
  const log = o.log;
  const xds = await startXdsServer({ ...o.xds, port: o.xdsPort, log });
  xds.cache.updateResources(TYPE_URL.listener, ingressListeners(o.listeners), []);
  const httpsPort = o.httpsPort ?? 8443;

  const entries = new Map<string, IngressEntry>();
  const backends = new Map<string, BackendEntry>();
  const scopeOwners = new Map<string, string>();
  const expectations = new Map<string, RouteExpectation>();
  /** Service key → its EndpointSlices by slice name. */
  const slices = new Map<string, Map<string, EndpointSlice>>();
  /** Secret key → the KIngresses whose spec.tls names it: only these Secrets matter. */
  const secretUsers = new Map<string, Set<string>>();
  /** Server names a KIngress asked for that another Secret already serves. */
  let tlsLost = new Map<string, string[]>();
  let tlsListenerJson = '';
  const gatewayKeys = new Set([
    namespacedName(o.externalGateway.namespace, o.externalGateway.name),
    namespacedName(o.localGateway.namespace, o.localGateway.name),
  ]);
  let leading = o.leaderElection === undefined;
  let gatewayCount = 0;
  let closed = false;

  const prober = new Prober(log, (key) => queue.add(key));
  // Gateways are probed by address, which an ACK's node id does not name: every pending probe retries.
  xds.status.on('ack', (e) => {
    if (SERVING_TYPES.has(e.typeUrl)) prober.retryNow();
  });

  let reconcileGate: (key: string) => Promise<void> = async () => {};
  const queue = new WorkQueue(
    (key) => reconcileGate(key),
    (key, err, retryInMs) =>
      log.warn('reconcile failed; retrying', { ingress: key, error: (err as Error).message, retryInMs }),
    o.workQueue ?? DEFAULT_WORKQUEUE,
  );
  const enqueueAll = () => {
    for (const ing of ingresses.list()) queue.add(objectKey(ing));
  };

  const serviceSlices = (namespace: string, name: string) => [
    ...(slices.get(namespacedName(namespace, name))?.values() ?? []),
  ];

  /** Recomputes a backend from the informers' view; pushes its cluster and assignment if they changed. */
  const refreshBackend = (name: string, b: BackendEntry): boolean => {
    const next = backendResources(
      b.ref,
      services.get(b.ref.namespace, b.ref.service),
      serviceSlices(b.ref.namespace, b.ref.service),
    );
    const json = JSON.stringify(next.assignment);
    const clusterChanged = JSON.stringify(next.cluster) !== JSON.stringify(b.cluster);
    const assignmentChanged = json !== b.assignmentJson;
    if (clusterChanged) {
      b.cluster = next.cluster;
      xds.cache.updateResources(TYPE_URL.cluster, [b.cluster], []);
    }
    if (assignmentChanged) {
      b.assignment = next.assignment;
      b.assignmentJson = json;
      xds.cache.updateResources(TYPE_URL.endpoint, [b.assignment], []);
      log.debug('backend endpoints', { cluster: name, endpoints: next.endpoints.length });
    }
    b.problem = next.problem;
    return clusterChanged || assignmentChanged;
  };

  const useBackends = (key: string, refs: BackendRef[]) => {
    for (const ref of refs) {
      const name = backendClusterName(ref);
      let b = backends.get(name);
      if (!b) {
        b = { ref, users: new Set(), cluster: {}, assignment: {}, assignmentJson: '', problem: undefined };
        backends.set(name, b);
        // Cluster before assignment, as xDS wants them.
        refreshBackend(name, b);
      }
      b.users.add(key);
    }
  };

  const releaseBackends = (key: string, keep: ReadonlySet<string>) => {
    const removed: string[] = [];
    for (const [name, b] of backends) {
      if (keep.has(name) || !b.users.delete(key) || b.users.size > 0) continue;
      backends.delete(name);
      removed.push(name);
    }
    if (removed.length > 0) {
      xds.cache.updateResources(TYPE_URL.endpoint, [], removed);
      xds.cache.updateResources(TYPE_URL.cluster, [], removed);
    }
  };

  /** Takes the KIngress's resources out of xDS (a delete, or no longer our class). */
  const forget = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    entries.delete(key);
    const scopes = [...entry.scopes];
    for (const s of scopes) scopeOwners.delete(s);
    xds.cache.updateResources(TYPE_URL.scopedRoute, [], scopes);
    xds.cache.updateResources(
      TYPE_URL.route,
      [],
      entry.resources.routeConfigs.map((r) => r.name!),
    );
    releaseBackends(key, new Set());
    setTls(key, entry, []);
    expectations.delete(key);
    prober.expect(expectations);
    log.info('ingress removed', { ingress: key });
    // A host it held may now go to another KIngress that wanted it.
    for (const [other, e] of entries) if (e.conflicts.length > 0) queue.add(other);
  };

  const program = (key: string, ing: KIngress, resources: IngressResources, source: string): IngressEntry => {
    const previous = entries.get(key);
    const scopes = new Set<string>();
    const conflicts: string[] = [];
    const upserts: EnvoyResource[] = [];
    const localHosts: string[] = [];
    const externalHosts: string[] = [];
    for (const scope of resources.scopes) {
      const owner = scopeOwners.get(scope.name!);
      if (owner !== undefined && owner !== key && entries.has(owner)) {
        // One message per host, though it conflicts on each listener.
        const message = `${scope.name!.slice(scope.name!.indexOf('/') + 1)} is already served by KIngress ${owner}`;
        if (!conflicts.includes(message)) conflicts.push(message);
        continue;
      }
      scopeOwners.set(scope.name!, key);
      scopes.add(scope.name!);
      upserts.push(scope);
    }
    const owns = (listener: string, host: string) => scopes.has(scopeName(listener, host));
    for (const h of resources.externalHosts) if (owns(LISTENER_EXTERNAL, h)) externalHosts.push(h);
    for (const h of resources.localHosts) if (owns(LISTENER_LOCAL, h)) localHosts.push(h);
    // Clusters and assignments first, then routes, then the scopes that point at them.
    useBackends(key, resources.backends);
    xds.cache.updateResources(
      TYPE_URL.route,
      resources.routeConfigs,
      previous
        ? previous.resources.routeConfigs
            .map((r) => r.name!)
            .filter((n) => !resources.routeConfigs.some((r) => r.name === n))
        : [],
    );
    const dropped = previous ? [...previous.scopes].filter((s) => !scopes.has(s)) : [];
    for (const s of dropped) if (scopeOwners.get(s) === key) scopeOwners.delete(s);
    xds.cache.updateResources(TYPE_URL.scopedRoute, upserts, dropped);
    releaseBackends(key, new Set(resources.backends.map(backendClusterName)));
    const entry: IngressEntry = {
      source,
      resources,
      scopes,
      conflicts,
      tls: previous?.tls ?? [],
      tlsSignature: previous?.tlsSignature ?? NO_TLS,
    };
    entries.set(key, entry);
    const tlsHosts = resources.tlsHosts.filter((h) => owns(LISTENER_EXTERNAL_TLS, h));
    expectations.set(key, { hash: resources.hash, externalHosts, localHosts, tlsHosts });
    prober.expect(expectations);
    log.info('ingress programmed', {
      ingress: key,
      generation: ing.metadata.generation,
      hash: resources.hash.slice(0, 12),
      hosts: localHosts.length,
    });
    // A host it gave up may now go to another KIngress that wanted it.
    if (dropped.length > 0)
      for (const [other, e] of entries) if (other !== key && e.conflicts.length > 0) queue.add(other);
    return entry;
  };

  /** The HTTPS listener from every KIngress's certificates, in key order; pushed only when it changed. */
  const rebuildHttpsListener = () => {
    const claims = [...entries.keys()].sort().flatMap((k) => entries.get(k)!.tls);
    const { chains, lost } = tlsChains(claims);
    // A server name one KIngress gave up may now go to another that wanted it: requeue those whose losses changed.
    for (const k of new Set([...tlsLost.keys(), ...lost.keys()]))
      if (JSON.stringify(tlsLost.get(k)) !== JSON.stringify(lost.get(k))) queue.add(k);
    tlsLost = lost;
    const listener = chains.length > 0 ? httpsListener(o.listeners.address, httpsPort, chains) : undefined;
    const json = listener ? JSON.stringify(listener) : '';
    if (json === tlsListenerJson) return;
    tlsListenerJson = json;
    if (listener) xds.cache.updateResources(TYPE_URL.listener, [listener], []);
    else xds.cache.updateResources(TYPE_URL.listener, [], [LISTENER_EXTERNAL_TLS]);
    log.info('https listener', {
      certificates: chains.length,
      serverNames: chains.reduce((n, c) => n + c.serverNames.length, 0),
    });
  };

  /** Records the KIngress's certificates and which Secrets it watches; rebuilds the listener if they changed. */
  const setTls = (key: string, entry: IngressEntry, claims: TlsClaim[]) => {
    for (const c of entry.tls) {
      const users = secretUsers.get(secretKey(c.ref));
      users?.delete(key);
      if (users?.size === 0) secretUsers.delete(secretKey(c.ref));
    }
    for (const c of claims) {
      const k = secretKey(c.ref);
      if (!secretUsers.has(k)) secretUsers.set(k, new Set());
      secretUsers.get(k)!.add(key);
    }
    const signature = JSON.stringify(
      claims.map((c) => [
        c.ref,
        c.certificate.ok ? c.certificate.certificateChain + c.certificate.privateKey : c.certificate.problem,
      ]),
    );
    entry.tls = claims;
    if (signature === entry.tlsSignature) return;
    entry.tlsSignature = signature;
    rebuildHttpsListener();
  };

  const loadBalancerState = (key: string, entry: IngressEntry): LoadBalancer => {
    const probe = prober.routeState(key);
    const lostNames = tlsLost.get(key) ?? [];
    const problems = [...entry.conflicts, ...lostNames.map((n) => `server name ${n}`)];
    for (const ref of entry.resources.backends) {
      const p = backends.get(backendClusterName(ref))?.problem;
      if (p) problems.push(p);
    }
    // A host served by another KIngress is not this one's: it is not ready until that one lets go.
    if (entry.conflicts.length > 0 || lostNames.length > 0)
      return { ready: false, reason: 'DomainConflict', message: problems.join('; ') };
    if (probe.ready) return { ready: true };
    const waiting =
      gatewayCount === 0
        ? `no ready gateway pod in the EndpointSlices of Services ${[...gatewayKeys].join(' and ')}`
        : (probe.message ?? 'Waiting for load balancer to be ready');
    return { ready: false, reason: 'Uninitialized', message: [waiting, ...problems].join('; ') };
  };

  const writeStatus = async (
    ing: KIngress,
    configured: Parameters<typeof ingressStatus>[1]['configured'],
    lb: LoadBalancer,
  ) => {
    if (!leading) return;
    const status = ingressStatus(ing.status, {
      generation: ing.metadata.generation ?? 0,
      configured,
      loadBalancer: lb,
      publicLoadBalancer: [serviceDomain(o.externalGateway.namespace, o.externalGateway.name, o.clusterDomain)],
      privateLoadBalancer: [serviceDomain(o.localGateway.namespace, o.localGateway.name, o.clusterDomain)],
      now: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    if (sameStatus(ing.status, status)) return;
    try {
      await o.api.replaceIngressStatus(ing, status);
    } catch (err) {
      // 409: the informer has a newer object; 404: it is gone. Both come back through the watch.
      if (statusCode(err) === 404) return;
      throw err;
    }
  };

  const reconcile = async (key: string): Promise<void> => {
    if (closed) return;
    const [namespace, name] = key.split('/') as [string, string];
    const ing = ingresses.get(namespace, name);
    if (!ing || ing.metadata.annotations?.[INGRESS_CLASS_ANNOTATION] !== o.ingressClass) return forget(key);
    const result = validateIngress(ing);
    if (!result.ok) {
      // The last good config keeps serving; the status names every problem.
      const message = result.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      log.warn('invalid ingress', { ingress: key, problems: message });
      return writeStatus(
        ing,
        { ok: false, reason: 'InvalidIngress', message },
        { ready: false, reason: 'Uninitialized', message: 'not configured' },
      );
    }
    const source = `${ing.metadata.uid ?? ''}/${ing.metadata.generation ?? ''}`;
    let entry = entries.get(key);
    if (!entry || entry.source !== source || entry.conflicts.length > 0)
      entry = program(key, ing, translateIngress(namespace, name, result.spec), source);
    // Read on every reconcile: a Secret changes without its KIngress changing.
    setTls(
      key,
      entry,
      entry.resources.tls.map((ref) => ({
        ingress: key,
        ref,
        certificate: secretCertificate(ref, secrets.get(ref.secretNamespace, ref.secretName)),
      })),
    );
    // A bad certificate takes only its own hosts off HTTPS; everything else is served.
    const bad = entry.tls.flatMap((c) => (c.certificate.ok ? [] : [c.certificate.problem]));
    if (bad.length > 0) {
      const message = [...new Set(bad)].join('; ');
      log.warn('unusable certificate', { ingress: key, problems: message });
      return writeStatus(
        ing,
        { ok: false, reason: 'InvalidSecret', message },
        { ready: false, reason: 'Uninitialized', message: 'not configured' },
      );
    }
    await writeStatus(ing, { ok: true }, loadBalancerState(key, entry));
  };

  const updateGateways = () => {
    const byAddress = new Map<string, GatewayTarget>();
    for (const key of gatewayKeys) {
      const [ns, svc] = key.split('/') as [string, string];
      const all = serviceSlices(ns, svc);
      for (const slice of all)
        for (const name of new Set((slice.ports ?? []).map((p) => p.name ?? '')))
          for (const e of sliceEndpoints([slice], name))
            byAddress.set(e.host, {
              id: e.host,
              host: e.host,
              externalPort: o.listeners.externalPort,
              localPort: o.listeners.localPort,
              httpsPort,
            });
    }
    gatewayCount = byAddress.size;
    prober.setGateways([...byAddress.values()].sort((a, b) => (a.id < b.id ? -1 : 1)));
    for (const key of entries.keys()) queue.add(key);
  };

  /** A Service or its slices changed: refresh the backends on it and requeue their users. */
  const serviceChanged = (namespace: string, name: string) => {
    const key = namespacedName(namespace, name);
    if (gatewayKeys.has(key)) updateGateways();
    for (const [cluster, b] of backends) {
      if (b.ref.namespace !== namespace || b.ref.service !== name) continue;
      const before = b.problem;
      if (refreshBackend(cluster, b) || before !== b.problem) for (const user of b.users) queue.add(user);
    }
  };

  const reconnect = o.reconnect ?? DEFAULT_RECONNECT;
  const ingresses = new Informer<KIngress>(
    o.api.ingresses(),
    o.api.watch,
    { upsert: (i) => queue.add(objectKey(i)), remove: (i) => queue.add(objectKey(i)) },
    log,
    reconnect,
  );
  const services = new Informer<Service>(
    o.api.services(),
    o.api.watch,
    {
      upsert: (s) => serviceChanged(s.metadata.namespace!, s.metadata.name),
      remove: (s) => serviceChanged(s.metadata.namespace!, s.metadata.name),
    },
    log,
    reconnect,
  );
  const sliceHandler = (remove: boolean) => (s: EndpointSlice) => {
    const key = sliceKeyOf(s);
    let bySlice = slices.get(key);
    if (!bySlice) slices.set(key, (bySlice = new Map<string, EndpointSlice>()));
    if (remove) bySlice.delete(s.metadata.name);
    else bySlice.set(s.metadata.name, s);
    if (bySlice.size === 0) slices.delete(key);
    const [ns, svc] = [s.metadata.namespace!, s.metadata.labels?.[SERVICE_NAME_LABEL] ?? ''];
    serviceChanged(ns, svc);
  };
  const endpointSlices = new Informer<EndpointSlice>(
    o.api.endpointSlices(),
    o.api.watch,
    { upsert: sliceHandler(false), remove: sliceHandler(true) },
    log,
    reconnect,
  );
  const secretChanged = (s: Secret) => {
    for (const user of secretUsers.get(objectKey(s)) ?? []) queue.add(user);
  };
  const secrets = new Informer<Secret>(
    o.api.tlsSecrets(),
    o.api.watch,
    { upsert: secretChanged, remove: secretChanged },
    log,
    reconnect,
  );

  // No reconcile before every list is in, so that the first status is not written from half a view.
  const synced = Promise.all([ingresses.synced, services.synced, endpointSlices.synced, secrets.synced]);
  const gated = reconcile;
  reconcileGate = async (key) => {
    await synced;
    return gated(key);
  };
  for (const informer of [services, endpointSlices, secrets, ingresses] as Array<{ start(): void }>) informer.start();

  let elector: LeaderElector | undefined;
  if (o.leaderElection) {
    elector = new LeaderElector(
      o.api,
      o.leaderElection,
      (isLeader) => {
        leading = isLeader;
        // A new leader owes every KIngress a status.
        if (isLeader) enqueueAll();
      },
      log,
    );
    elector.start();
  }
  const resync = o.resyncMs > 0 ? setInterval(enqueueAll, o.resyncMs) : undefined;
  resync?.unref();
  await synced;
  log.info('controller synced', { ingresses: ingresses.list().length, xdsPort: xds.port });

  return {
    xds,
    isLeader: () => leading,
    ready: (key) => prober.routeState(key).ready,
    async close() {
      closed = true;
      clearInterval(resync);
      queue.stop();
      await elector?.stop();
      await Promise.all([ingresses.stop(), services.stop(), endpointSlices.stop(), secrets.stop()]);
      prober.close();
      await xds.close();
    },
  };
}
