// The embedded gateway applies each xDS update as the changes it carries, over both APIs: services
// come and go, endpoints move, a refused update changes nothing, and a reconnect to a server whose
// state moved meanwhile leaves the gateway holding exactly that state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { startGateway } from '../../src/gateway/index.js';
import { createLogger } from '../../src/log/logger.js';
import type { DesiredState } from '../../src/model/desired.js';
import { translate } from '../../src/translate/index.js';
import { startXdsServer, type XdsServer } from '../../src/xds/index.js';
import type { XdsProtocol } from '../../src/xds/client/ads-client.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { startExampleApp } from '../support/app.js';
import { desired, revision, route, routing } from '../support/desired.js';
import { until } from '../support/cli.js';

const log = createLogger('test');

/** Services by name → the port of the app serving them. */
function state(services: Record<string, number>): DesiredState {
  const names = Object.keys(services);
  const s = desired(
    names.map((n) => route(n, [{ revisionName: `${n}-00001`, percent: 100 }])),
    names.map((n) => routing(revision(`${n}-00001`), 'serve', [{ host: '127.0.0.1', port: services[n]! }])),
  );
  s.listeners = { externalPort: 0, localPort: 0, address: '127.0.0.1' };
  return s;
}

for (const protocol of ['delta', 'sotw'] as XdsProtocol[]) {
  test(`the gateway over ${protocol} follows services added, removed and moved, refuses a conflicting scope whole, and
    after a reconnect holds exactly the server's new state`, async (t) => {
    const [one, two] = await Promise.all([
      startExampleApp({ K_REVISION: 'one' }),
      startExampleApp({ K_REVISION: 'two' }),
    ]);
    t.after(() => Promise.all([one.stop(), two.stop()]));
    let xds: XdsServer = await startXdsServer({ port: 0, log });
    const xdsPort = xds.port;
    t.after(() => xds.close());
    xds.cache.setTranslation(translate(state({ a: one.port, b: one.port })));
    const gateway = await startGateway({
      xds: `127.0.0.1:${xdsPort}`,
      nodeId: `incremental-${protocol}`,
      protocol,
      log,
    });
    t.after(() => gateway.close());
    await gateway.ready;
    const port = gateway.listenerPorts().get('gatehouse-external')!;
    /** Which app answered a service's host (its K_REVISION), or the status when none did. */
    const answer = async (service: string) => {
      const res = await request(`http://127.0.0.1:${port}/`, { headers: { host: `${service}.default.example.com` } });
      await res.body.dump();
      return res.statusCode === 200 ? String(res.headers['x-revision']) : res.statusCode;
    };
    const held = () => {
      const s = gateway.status();
      return {
        routes: s.routeConfigurations.filter((n) => n.startsWith('default/')).sort(),
        clusters: s.clusters
          .map((c) => `${c.name}:${c.endpoints}`)
          .filter((n) => !n.includes('-private'))
          .sort(),
      };
    };
    const settled = (what: string) =>
      until(
        () =>
          [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.scopedRoute, TYPE_URL.route].every(
            (type) => gateway.status().xds.types[type]?.acceptedVersion === xds.cache.get('', type)?.version,
          ),
        what,
        15_000,
      );

    await until(async () => (await answer('b')) === 'one', 'b to answer');
    await settled('the first config');
    assert.equal(await answer('a'), 'one');
    assert.deepEqual(held(), {
      routes: ['default/a', 'default/b'],
      clusters: ['default/a-00001:1', 'default/b-00001:1'],
    });
    const scopesOfTwo = gateway.status().scopes;

    // c comes; then b goes and a's endpoint moves to the other app (EDS alone).
    xds.cache.setTranslation(translate(state({ a: one.port, b: one.port, c: two.port })));
    // A new route's configuration is asked for once its scope arrives: the type's version can match before it does.
    await until(async () => (await answer('c')) === 'two', 'c to answer');
    await settled('c');
    assert.equal(gateway.status().scopes, (scopesOfTwo / 2) * 3);
    const afterRemoval = state({ a: two.port, c: two.port });
    xds.cache.setTranslation(translate(afterRemoval));
    await settled('b removed, a moved');
    assert.equal(await answer('b'), 404);
    assert.equal(await answer('a'), 'two');
    assert.deepEqual(held(), {
      routes: ['default/a', 'default/c'],
      clusters: ['default/a-00001:1', 'default/c-00001:1'],
    });
    assert.equal(gateway.status().scopes, scopesOfTwo);

    // A scope whose key a's scope holds, under another name: the whole update is NACKed, nothing of it applied.
    const translation = translate(afterRemoval);
    const scopeOfA = translation.scopedRoutes.find((s) => (s.route_configuration_name as string) === 'default/a')!;
    const nacked = new Promise<string>((resolve) => xds.status.once('nack', (e) => resolve(e.error)));
    xds.cache.setResources(TYPE_URL.scopedRoute, [...translation.scopedRoutes, { ...scopeOfA, name: 'forged' }]);
    assert.equal(
      await nacked,
      `ScopedRouteConfiguration forged.key: scope key conflict found, first scope is '${String(scopeOfA.name)}', ` +
        `second scope is 'forged'`,
    );
    assert.equal(gateway.status().scopes, scopesOfTwo);
    assert.equal(await answer('a'), 'two');

    // The server restarts with other services (a gone, d new): after the reconnect the gateway holds just those.
    await xds.close();
    assert.equal(await answer('a'), 'two', 'the last good config serves while the server is away');
    xds = await startXdsServer({ port: xdsPort, log });
    xds.cache.setTranslation(translate(state({ c: two.port, d: one.port })));
    await until(async () => (await answer('d')) === 'one', 'd to answer after the reconnect');
    await settled('the reconnect');
    assert.equal(await answer('c'), 'two');
    assert.equal(await answer('a'), 404);
    assert.deepEqual(held(), {
      routes: ['default/c', 'default/d'],
      clusters: ['default/c-00001:1', 'default/d-00001:1'],
    });
    assert.equal(gateway.status().scopes, scopesOfTwo);
  });
}
