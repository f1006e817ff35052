// `gatehouse up`'s reconcile loop with the real controller, translator and prober, and two parts in
// the test's hands: the pods (a revision has a ready pod when the test says so) and the gateways
// (each serves a route's hash once the test lets it catch up). What it starts, publishes, waits on
// and retires, and when.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serviceYaml } from '../../src/bench/services.js';
import { parseConfig, type ParseCache } from '../../src/config/load.js';
import { Controller } from '../../src/control/controller.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import type { ResourceChange } from '../../src/envoy/resource.js';
import { KNATIVE_DEFAULTS, type DeciderSpec } from '../../src/model/autoscaling.js';
import type { RevisionSpec } from '../../src/model/desired.js';
import { revisionKey } from '../../src/model/names.js';
import { Prober, type GatewayTarget, type ProbeHttp } from '../../src/prober/prober.js';
import type { PodRuntime, PodStatus } from '../../src/runtime/types.js';
import { IncrementalTranslator } from '../../src/translate/incremental.js';
import { UpReconciler } from '../../src/up/reconciler.js';
import { captureLog } from '../support/capture-log.js';
import { ManualClock, settle } from '../support/manual-clock.js';

/** Pods by hand: a revision has one ready pod once the test calls podReady. */
class HandRuntime implements Pick<PodRuntime, 'pods' | 'ensureRevision' | 'deleteRevision'> {
  readonly ensured = new Set<string>();
  readonly deleted: string[] = [];
  private readonly ready = new Map<string, PodStatus[]>();
  ensureRevision(spec: RevisionSpec): void {
    this.ensured.add(revisionKey(spec.namespace, spec.name));
  }
  pods(key: string): PodStatus[] {
    return this.ready.get(key) ?? [];
  }
  deleteRevision(key: string): Promise<void> {
    this.deleted.push(key);
    this.ready.delete(key);
    return Promise.resolve();
  }
  podReady(key: string, port: number): void {
    this.ready.set(key, [
      {
        name: `${key}-pod`,
        revision: key,
        phase: 'ready',
        serving: { host: '127.0.0.1', port },
        metrics: undefined,
        restarts: 0,
        lastFailure: undefined,
        reason: undefined,
        pids: { app: undefined, queueProxy: undefined },
      },
    ]);
  }
}

/** Gateways that serve, per port, the hash each host had when the test last let them catch up. */
class HandGateways {
  readonly targets: GatewayTarget[] = [];
  private readonly served = new Map<number, Map<string, string>>();
  readonly http: ProbeHttp = ({ port, headers }) => {
    const hash = this.served.get(port)?.get(headers.host!);
    return hash === undefined
      ? Promise.resolve({ status: 404, hash: undefined })
      : Promise.resolve({ status: 200, hash });
  };
  add(id: string, externalPort: number, localPort: number): void {
    this.targets.push({ id, host: '127.0.0.1', externalPort, localPort });
  }
  /** The gateway applied everything published: each route's hosts answer with its current hash. */
  catchUp(id: string, prober: Prober, routes: Iterable<string>): void {
    const g = this.targets.find((t) => t.id === id)!;
    for (const key of routes) {
      const e = prober.expectation(key);
      if (!e) continue;
      for (const [port, hosts] of [
        [g.externalPort, e.externalHosts],
        [g.localPort, e.localHosts],
      ] as const) {
        if (!this.served.has(port)) this.served.set(port, new Map());
        for (const h of hosts) this.served.get(port)!.set(h, e.hash);
      }
    }
  }
}

function setUp() {
  const cache: ParseCache = new Map();
  const load = (text: string) => parseConfig(text, 'services.yaml', undefined, cache);
  const controller = new Controller();
  const runtime = new HandRuntime();
  const gateways = new HandGateways();
  gateways.add('gateway-a', 1, 2);
  const clock = new ManualClock();
  const published: ResourceChange[] = [];
  const watched: string[] = [];
  const unwatched: string[] = [];
  const prober = new Prober(captureLog(), (key) => reconciler.routeProbed(key), { http: gateways.http, clock });
  const reconciler = new UpReconciler({
    domain: 'example.com',
    autoscalerConfig: KNATIVE_DEFAULTS,
    controller,
    translator: new IncrementalTranslator('example.com', { externalPort: 8080, localPort: 8081, address: '127.0.0.1' }),
    runtime,
    prober,
    publish: (changes) => published.push(...changes),
    autoscaler: {
      watch: (key: string, _spec: DeciderSpec) => watched.push(key),
      unwatch: (key: string) => unwatched.push(key),
    },
    gateways: () => [...gateways.targets],
    activators: () => [{ host: '127.0.0.1', port: 9000 }],
    log: captureLog(),
  });
  /** Every gateway applies what was published and acknowledges it (the prober retries at once). */
  const gatewaysCatchUp = async (...ids: string[]) => {
    for (const id of ids.length > 0 ? ids : gateways.targets.map((t) => t.id))
      gateways.catchUp(id, prober, reconciler.programmed.keys());
    prober.retryNow();
    await settle();
  };
  const clusterNames = (field: 'upserts' | 'removals') =>
    published
      .filter((c) => c.typeUrl === TYPE_URL.cluster)
      .flatMap((c) => (field === 'upserts' ? c.upserts.map((r) => String(r.name)) : c.removals));
  return {
    load,
    controller,
    runtime,
    gateways,
    prober,
    reconciler,
    published,
    watched,
    unwatched,
    gatewaysCatchUp,
    clusterNames,
  };
}

const svc = (name: string, target = 'v1') => serviceYaml(name, { target, appPath: 'app.mjs' });
const ready = (p: Promise<void>) => {
  const state = { done: false };
  void p.then(() => (state.done = true));
  return state;
};

test('a revision runs at once; its route is programmed once a pod is ready, Ready once gateways serve it', async () => {
  const { load, controller, runtime, prober, reconciler, watched, gatewaysCatchUp, clusterNames } = setUp();
  controller.apply(load(svc('hello')));
  reconciler.sync();
  assert.deepEqual([...runtime.ensured], ['default/hello-00001']);
  assert.deepEqual(watched, ['default/hello-00001']);
  assert.equal(prober.expectation('default/hello'), undefined, 'no route while its revision has no ready pod');
  const whenReady = ready(reconciler.whenReady(60_000));

  runtime.podReady('default/hello-00001', 7001);
  reconciler.revisionChanged('default/hello-00001');
  await settle();
  assert.ok(reconciler.programmedRoute('default', 'hello'));
  assert.ok(clusterNames('upserts').some((n) => n.includes('hello-00001')));
  assert.ok(prober.expectation('default/hello'), 'the prober expects the route');
  assert.equal(prober.isReady('default/hello'), false);
  assert.equal(whenReady.done, false, 'not Ready before the gateway serves the hash');

  await gatewaysCatchUp();
  assert.equal(prober.isReady('default/hello'), true);
  assert.equal(whenReady.done, true);
});

test('a revision the traffic left retires only once every gateway serves the route without it', async () => {
  const { load, controller, runtime, prober, reconciler, unwatched, gatewaysCatchUp, clusterNames } = setUp();
  controller.apply(load(svc('hello')));
  runtime.podReady('default/hello-00001', 7001);
  reconciler.sync();
  await gatewaysCatchUp();
  const firstHash = prober.expectation('default/hello')!.hash;

  controller.apply(load(svc('hello', 'v2')));
  runtime.podReady('default/hello-00002', 7002);
  reconciler.sync();
  await settle();
  assert.deepEqual(
    reconciler.programmedRoute('default', 'hello')!.spec.traffic.map((t) => t.revisionName),
    ['hello-00002'],
  );
  assert.notEqual(prober.expectation('default/hello')!.hash, firstHash);
  assert.deepEqual(runtime.deleted, [], 'the gateway may still send traffic to hello-00001');
  assert.equal(reconciler.watched.has('default/hello-00001'), true);

  await gatewaysCatchUp();
  await settle();
  assert.deepEqual(runtime.deleted, ['default/hello-00001']);
  assert.deepEqual(unwatched, ['default/hello-00001']);
  assert.equal(reconciler.watched.has('default/hello-00001'), false);
  assert.ok(
    clusterNames('removals').some((n) => n.includes('hello-00001')),
    'its clusters leave the snapshot',
  );
});

test('a gateway that connects must confirm every route again; one that leaves is no longer waited on', async () => {
  const { load, controller, runtime, prober, reconciler, gateways, gatewaysCatchUp } = setUp();
  controller.apply(load(svc('a') + svc('b')));
  runtime.podReady('default/a-00001', 7001);
  runtime.podReady('default/b-00001', 7002);
  reconciler.sync();
  await gatewaysCatchUp('gateway-a');
  assert.equal(prober.isReady('default/a') && prober.isReady('default/b'), true);

  gateways.add('gateway-b', 3, 4);
  const whenReady = ready(reconciler.whenReady(60_000));
  reconciler.sync();
  await settle();
  assert.equal(prober.isReady('default/a'), false, 'gateway-b has not served it');
  assert.equal(whenReady.done, false);

  await gatewaysCatchUp('gateway-b');
  assert.equal(prober.isReady('default/a') && prober.isReady('default/b'), true);
  assert.equal(whenReady.done, true);
});

test('an edit whose revision has no ready pod yet keeps the latest ready revision Ready; nothing retires', async () => {
  const { load, controller, runtime, prober, reconciler, gatewaysCatchUp } = setUp();
  controller.apply(load(svc('hello')));
  runtime.podReady('default/hello-00001', 7001);
  reconciler.sync();
  await gatewaysCatchUp();

  controller.apply(load(svc('hello', 'v2')));
  reconciler.sync();
  const whenReady = ready(reconciler.whenReady(60_000));
  await gatewaysCatchUp();
  assert.equal(prober.isReady('default/hello'), true, 'the old version keeps serving');
  assert.deepEqual(
    reconciler.programmedRoute('default', 'hello')!.spec.traffic.map((t) => t.revisionName),
    ['hello-00001'],
  );
  assert.deepEqual(runtime.deleted, []);
  assert.equal(whenReady.done, true, "the route is Ready on Knative's latest ready revision");
  assert.equal(reconciler.watched.has('default/hello-00002'), true, 'the new revision runs, to become ready');
});

test('a serving-mode change is pushed at once and only when it changes', async () => {
  const { load, controller, runtime, reconciler, published } = setUp();
  controller.apply(load(svc('hello')));
  runtime.podReady('default/hello-00001', 7001);
  reconciler.sync();
  const endpointPushes = () => published.filter((c) => c.typeUrl === TYPE_URL.endpoint).length;
  const before = endpointPushes();
  assert.equal(reconciler.setMode('default/hello-00001', 'proxy'), false, 'revisions start in proxy mode');
  assert.equal(endpointPushes(), before);
  assert.equal(reconciler.setMode('default/hello-00001', 'serve'), true);
  assert.ok(endpointPushes() > before, 'the pods replace the activators in its endpoints at once');
  assert.equal(reconciler.modes.get('default/hello-00001'), 'serve');
  reconciler.stop();
  assert.equal(reconciler.setMode('default/hello-00001', 'proxy'), true);
  const after = published.length;
  reconciler.sync();
  assert.equal(published.length, after, 'nothing is published once stopped');
});
