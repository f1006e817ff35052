// The embedded gateway against the real xDS server and translate, with example apps as endpoints.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { request } from 'undici';
import WebSocket from 'ws';
import { startGateway, type Gateway } from '../../src/gateway/index.js';
import { createLogger } from '../../src/log/logger.js';
import type { DesiredState } from '../../src/model/desired.js';
import { translate } from '../../src/translate/index.js';
import { startXdsServer, type XdsServer } from '../../src/xds/index.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { freePort } from '../../src/runtime/ports.js';
import { startExampleApp } from '../support/app.js';
import { desired, revision, route, routing } from '../support/desired.js';
import { until } from '../support/cli.js';
import { startQueue } from '../support/queue.js';

const log = createLogger('test');
const HOST = 'hello.default.example.com';

function state(pods1: number, pods2: number, split: [number, number], timeoutSeconds = 300): DesiredState {
  const s = desired(
    [
      route('hello', [
        { revisionName: 'hello-00001', percent: split[0] },
        { revisionName: 'hello-00002', percent: split[1], tag: 'candidate' },
      ]),
    ],
    [
      routing(revision('hello-00001', { timeoutSeconds }), 'serve', [{ host: '127.0.0.1', port: pods1 }]),
      routing(revision('hello-00002', { timeoutSeconds }), 'serve', [{ host: '127.0.0.1', port: pods2 }]),
    ],
  );
  s.listeners = { externalPort: 0, localPort: 0, address: '127.0.0.1' };
  return s;
}

async function get(port: number, host: string, path = '/headers', headers: Record<string, string> = {}) {
  const res = await request(`http://127.0.0.1:${port}${path}`, { headers: { host, ...headers } });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

test(
  'the embedded gateway routes by host with weights, headers, ' +
    'probes, timeouts and websockets; survives the xDS server',
  async (t) => {
    const [app1, app2] = await Promise.all([
      startExampleApp({ K_REVISION: 'hello-00001' }),
      startExampleApp({ K_REVISION: 'hello-00002' }),
    ]);
    t.after(() => Promise.all([app1.stop(), app2.stop()]));
    let xds: XdsServer = await startXdsServer({ port: 0, log });
    const xdsPort = xds.port;
    t.after(() => xds.close());
    let translation = translate(state(app1.port, app2.port, [80, 20], 1));
    xds.cache.setTranslation(translation);
    const gateway: Gateway = await startGateway({ xds: `127.0.0.1:${xdsPort}`, nodeId: 'gateway-test', log });
    t.after(() => gateway.close());
    await gateway.ready;
    const port = gateway.listenerPorts().get('gatehouse-external')!;
    assert.ok(port > 0);
    // Clusters and routes arrive after the listener; wait until the route answers.
    await until(async () => (await get(port, HOST)).status === 200, 'the route to answer');

    // The weights reach the gateway end to end (the picker's exact ranges are pure.test.ts's): 300
    // requests split 80/20 give hello-00001 240 ± 6.9 (one standard deviation); the bounds 195-285
    // are 6.5 deviations away (a false failure about once in 10^10 runs), yet 50/50 (150) or
    // all to one revision (300) fall outside them.
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const r = await get(port, HOST);
      const rev = (JSON.parse(r.body) as Record<string, string>)['knative-serving-revision']!;
      counts.set(rev, (counts.get(rev) ?? 0) + 1);
    }
    const first = counts.get('hello-00001') ?? 0;
    assert.ok(first >= 195 && first <= 285, `hello-00001 got ${first} of 300 (want 195-285 for an 80/20 split)`);

    // Tag host → its revision only; Host header with a port still matches; k-proxy-request removed.
    const tagged = await get(port, `candidate-hello.default.example.com:${port}`, '/headers', {
      'k-proxy-request': 'activator',
    });
    const seen = JSON.parse(tagged.body) as Record<string, string>;
    assert.equal(seen['knative-serving-revision'], 'hello-00002');
    assert.equal(seen['k-proxy-request'], undefined);
    assert.equal(
      seen.host,
      'candidate-hello.default.example.com',
      'strip_any_host_port: the app sees the host without the port, as behind Envoy',
    );
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.ok(seen['x-request-id']);

    // The probe route writes the route's hash into K-Network-Hash.
    const probed = JSON.parse((await get(port, HOST, '/headers', { 'k-network-hash': 'override' })).body) as Record<
      string,
      string
    >;
    assert.equal(probed['k-network-hash'], translation.routeHashes.get('default/hello'));

    assert.equal((await get(port, 'nobody.default.example.com')).status, 404);

    // Host names are case-insensitive; the app sees the host lower-cased, as behind Envoy.
    const mixed = await get(port, `Candidate-Hello.Default.Example.COM:${port}`);
    assert.equal(mixed.status, 200);
    assert.equal((JSON.parse(mixed.body) as Record<string, string>).host, 'candidate-hello.default.example.com');

    // Route timeout (timeoutSeconds: 1) → Envoy's 504.
    const slow = await get(port, HOST, '/?delay=3000');
    assert.equal(slow.status, 504);
    assert.equal(slow.body, 'upstream request timeout');

    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: HOST } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('through the gateway');
    assert.equal(await reply, 'through the gateway');
    ws.close();

    // An unsupported resource is NACKed with the field path; the old config keeps serving.
    const nacked = new Promise<string>((resolve) => xds.status.once('nack', (e) => resolve(e.error)));
    const badRoutes = translation.routes.map((rc) => ({
      ...rc,
      virtual_hosts: (rc.virtual_hosts as Array<Record<string, unknown>>).map((vh) => ({
        ...vh,
        routes: [{ match: { safe_regex: { regex: '.*' } }, route: { cluster: 'x' } }],
      })),
    }));
    xds.cache.setResources(TYPE_URL.route, badRoutes);
    assert.match(await nacked, /match.*(safe_regex|needs prefix or path)/);
    assert.equal((await get(port, HOST)).status, 200);

    // The xDS server goes away: the gateway keeps serving what it had.
    await xds.close();
    for (let i = 0; i < 20; i++) assert.equal((await get(port, HOST)).status, 200);
    // It comes back on the same port with 100 % to the candidate: the gateway reconnects and follows.
    xds = await startXdsServer({ port: xdsPort, log });
    translation = translate(state(app1.port, app2.port, [0, 100]));
    xds.cache.setTranslation(translation);
    const routesVersion = xds.cache.get('', TYPE_URL.route)!.version;
    await until(
      () => gateway.status().xds.types[TYPE_URL.route]?.acceptedVersion === routesVersion,
      'the gateway to accept the new routes',
      15_000,
    );
    for (let i = 0; i < 50; i++)
      assert.equal(
        (JSON.parse((await get(port, HOST)).body) as Record<string, string>)['knative-serving-revision'],
        'hello-00002',
      );
  },
);

/** The embedded gateway in front of one revision whose pods are these ports; resolves with its external port. */
async function gatewayOverPods(t: TestContext, nodeId: string, ports: number[]): Promise<number> {
  const xds = await startXdsServer({ port: 0, log });
  t.after(() => xds.close());
  const s = desired(
    [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
    [
      routing(
        revision('hello-00001'),
        'serve',
        ports.map((port) => ({ host: '127.0.0.1', port })),
      ),
    ],
  );
  s.listeners = { externalPort: 0, localPort: 0, address: '127.0.0.1' };
  xds.cache.setTranslation(translate(s));
  const gateway = await startGateway({ xds: `127.0.0.1:${xds.port}`, nodeId, log });
  t.after(() => gateway.close());
  await gateway.ready;
  const port = gateway.listenerPorts().get('gatehouse-external')!;
  await until(async () => (await get(port, HOST)).status === 200, 'the route to answer');
  return port;
}

test('retry_policy connect-failure: a refused endpoint is skipped, the request goes to another', async (t) => {
  const app = await startExampleApp({ K_REVISION: 'hello-00001' });
  t.after(() => app.stop());
  const refusing = await freePort(); // bound and closed: nothing listens there
  const port = await gatewayOverPods(t, 'retry-test', [refusing, app.port]);
  const statuses = new Set<number>();
  for (let i = 0; i < 40; i++) statuses.add((await get(port, HOST)).status);
  assert.deepEqual([...statuses], [200]);
});

test(
  'retry_policy retriable-headers: a pod whose app refused (502, unprocessed) is retried elsewhere, ' +
    'unless the request had a body',
  async (t) => {
    const app = await startExampleApp({ K_REVISION: 'hello-00001' });
    t.after(() => app.stop());
    // A real queue-proxy whose app is gone: it answers 502 with X-Gatehouse-Unprocessed.
    const orphan = await startQueue(await freePort());
    t.after(() => orphan.stop());
    const port = await gatewayOverPods(t, 'unprocessed-test', [orphan.servingPort, app.port]);
    const direct = await (await fetch(`http://127.0.0.1:${app.port}/`)).text();
    const answers = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const { status, body } = await get(port, HOST, '/');
      answers.add(`${status} ${body}`);
    }
    assert.deepEqual(
      [...answers],
      [`200 ${direct}`],
      'requests without a body all reach the app, answered by it alone',
    );
    // A body was read by the queue-proxy and cannot be sent again: the 502 passes through, marked.
    const posts: Array<{ status: number; unprocessed: unknown }> = [];
    for (let i = 0; i < 6; i++) {
      const res = await request(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { host: HOST }, body: 'x' });
      await res.body.text();
      posts.push({ status: res.statusCode, unprocessed: res.headers['x-gatehouse-unprocessed'] });
    }
    assert.ok(
      posts.some((p) => p.status === 502 && p.unprocessed === 'app-refused') && posts.some((p) => p.status === 200),
      JSON.stringify(posts),
    );
  },
);

test(
  'scoped routes: the external listener never serves a cluster-local route, a forged listener ' +
    'header changes nothing, one route’s change reaches the gateway alone',
  async (t) => {
    const [publicApp, privateApp] = await Promise.all([
      startExampleApp({ K_REVISION: 'web-00001' }),
      startExampleApp({ K_REVISION: 'internal-00001' }),
    ]);
    t.after(() => Promise.all([publicApp.stop(), privateApp.stop()]));
    const xds = await startXdsServer({ port: 0, log });
    t.after(() => xds.close());
    const make = (internalRevision: string) => {
      const s = desired(
        [
          route('web', [{ revisionName: 'web-00001', percent: 100 }]),
          route('internal', [{ revisionName: internalRevision, percent: 100 }], 'cluster-local'),
        ],
        [
          routing(revision('web-00001'), 'serve', [{ host: '127.0.0.1', port: publicApp.port }]),
          routing(revision('internal-00001'), 'serve', [{ host: '127.0.0.1', port: privateApp.port }]),
          routing(revision('internal-00002'), 'serve', [{ host: '127.0.0.1', port: publicApp.port }]),
        ],
      );
      s.listeners = { externalPort: 0, localPort: 0, address: '127.0.0.1' };
      return s;
    };
    xds.cache.setTranslation(translate(make('internal-00001')));
    const gateway = await startGateway({ xds: `127.0.0.1:${xds.port}`, nodeId: 'scopes-test', log });
    t.after(() => gateway.close());
    await gateway.ready;
    const external = gateway.listenerPorts().get('gatehouse-external')!;
    const local = gateway.listenerPorts().get('gatehouse-local')!;
    const revisionOf = async (port: number, host: string) =>
      (JSON.parse((await get(port, host)).body) as Record<string, string>)['knative-serving-revision'];
    await until(
      async () => (await get(local, 'internal.default.svc.cluster.local')).status === 200,
      'the cluster-local route to answer',
    );
    assert.equal(gateway.status().scopes, 2 + 1, 'web: one on each listener; internal: one on the local listener');

    assert.equal(await revisionOf(external, 'web.default.example.com'), 'web-00001');
    assert.equal(await revisionOf(local, 'web.default.svc.cluster.local:80'), 'web-00001');
    for (const host of ['internal.default.svc.cluster.local', 'internal.default.svc', 'internal.default'])
      assert.equal(await revisionOf(local, host), 'internal-00001');
    // The cluster-local host is not served on the external port, even when the client claims to be on the local
    // listener.
    assert.equal((await get(external, 'internal.default.svc.cluster.local')).status, 404);
    assert.equal(
      (
        await get(external, 'internal.default.svc.cluster.local', '/headers', {
          'x-gatehouse-listener': 'gatehouse-local',
        })
      ).status,
      404,
    );
    // An external route's names are one virtual host behind both listeners' scopes (as Kourier, its external host
    // is served on the local port too).
    assert.equal(await revisionOf(local, 'web.default.example.com'), 'web-00001');
    // The scope key is the first two labels; the virtual host still checks the whole host.
    assert.equal((await get(external, 'web.default.elsewhere.org')).status, 404);
    assert.equal((await get(local, 'web.default.svc.cluster.local.evil')).status, 404);
    const forwarded = JSON.parse(
      (await get(local, 'internal.default', '/headers', { 'x-gatehouse-listener': 'forged' })).body,
    ) as Record<string, string>;
    assert.equal(forwarded['x-gatehouse-listener'], undefined, 'the listener header never reaches the app');

    // One route's change: only its RouteConfiguration changes; scopes, listeners and the other route stay.
    const before = (type: string) => xds.cache.get('', type)!.version;
    const [scopesVersion, listenersVersion] = [before(TYPE_URL.scopedRoute), before(TYPE_URL.listener)];
    xds.cache.setTranslation(translate(make('internal-00002')));
    assert.deepEqual([...xds.cache.get('', TYPE_URL.route)!.changed], ['gatehouse-local/default/internal']);
    assert.equal(before(TYPE_URL.scopedRoute), scopesVersion);
    assert.equal(before(TYPE_URL.listener), listenersVersion);
    await until(
      async () => (await revisionOf(local, 'internal.default')) === 'internal-00002',
      'the change to reach the gateway',
    );
    assert.equal(await revisionOf(external, 'web.default.example.com'), 'web-00001');
  },
);

test(
  'routing single: one RouteConfiguration per listener serves ' + 'every route, hosts in any case, probes get the hash',
  async (t) => {
    const [app1, app2] = await Promise.all([
      startExampleApp({ K_REVISION: 'hello-00001' }),
      startExampleApp({ K_REVISION: 'hello-00002' }),
    ]);
    t.after(() => Promise.all([app1.stop(), app2.stop()]));
    const xds = await startXdsServer({ port: 0, log });
    t.after(() => xds.close());
    const translation = translate(state(app1.port, app2.port, [100, 0]), { routing: 'single' });
    xds.cache.setTranslation(translation);
    const gateway = await startGateway({ xds: `127.0.0.1:${xds.port}`, nodeId: 'single-test', log });
    t.after(() => gateway.close());
    await gateway.ready;
    const port = gateway.listenerPorts().get('gatehouse-external')!;
    await until(async () => (await get(port, HOST)).status === 200, 'the route to answer');
    assert.equal(gateway.status().scopes, 0);
    const seen = async (host: string, headers: Record<string, string> = {}) =>
      JSON.parse((await get(port, host, '/headers', headers)).body) as Record<string, string>;
    assert.equal((await seen('Candidate-Hello.Default.Example.com'))['knative-serving-revision'], 'hello-00002');
    assert.equal(
      (await seen(HOST, { 'k-network-hash': 'override' }))['k-network-hash'],
      translation.routeHashes.get('default/hello'),
    );
    assert.equal((await seen(HOST))['k-network-hash'], undefined, 'only a probe carries the hash');
    assert.equal((await seen(HOST, { 'k-proxy-request': 'activator' }))['k-proxy-request'], undefined);
    assert.equal(
      (await get(gateway.listenerPorts().get('gatehouse-local')!, HOST)).status,
      404,
      'an external host is not on the local listener',
    );
  },
);
