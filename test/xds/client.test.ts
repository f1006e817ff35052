// The ADS client gatehouse's gateway and activators use, over both xDS APIs, against the real server;
// and its decoder, which hands back unchanged resources as the same objects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log/logger.js';
import { translate } from '../../src/translate/index.js';
import { ResourceEncoder } from '../../src/xds/cache/encode.js';
import type * as envoy from '../../src/envoy/envoy-types.js';
import { AdsClient, type XdsProtocol } from '../../src/xds/client/ads-client.js';
import { ResourceDecoder } from '../../src/xds/client/resource-decoder.js';
import { startXdsServer } from '../../src/xds/index.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { desired, revision, route, routing } from '../support/desired.js';

const log = createLogger('test');

function state(services: number, version: number) {
  const names = Array.from({ length: services }, (_, i) => `svc-${i}`);
  // Service 0 gets a new revision at each version; the others stay as they are.
  const revisionOf = (n: string, i: number) => `${n}-${String(i === 0 ? version : 1).padStart(5, '0')}`;
  return desired(
    names.map((n, i) => route(n, [{ revisionName: revisionOf(n, i), percent: 100 }])),
    names.map((n, i) => routing(revision(revisionOf(n, i)), 'serve', [{ host: '127.0.0.1', port: 9000 + i }])),
  );
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the decoder returns the same object for the same bytes', () => {
  const encoder = new ResourceEncoder(TYPE_URL.route);
  const decoder = new ResourceDecoder(TYPE_URL.route);
  const routeConfigs = (v: number) => translate(state(3, v)).routes.map((r) => encoder.encode(r).bytes);
  const first = decoder.decodeAll(routeConfigs(1));
  const again = decoder.decodeAll(routeConfigs(1));
  const changed = decoder.decodeAll(routeConfigs(2));
  assert.deepEqual(
    first.map((rc) => rc.name),
    ['default/svc-0', 'default/svc-1', 'default/svc-2'],
  );
  first.forEach((rc, i) => assert.equal(again[i], rc, `route configuration ${i} decoded again`));
  assert.notEqual(changed[0], first[0], 'the changed route configuration is new');
  assert.equal(changed[1], first[1]);
  assert.equal(
    changed[0]?.virtual_hosts?.[0]?.routes?.[0]?.route?.weighted_clusters?.clusters?.[0]?.name,
    'default/svc-0-00002',
  );
});

for (const protocol of ['delta', 'sotw'] as XdsProtocol[]) {
  test(
    `AdsClient over ${protocol}: full sets to the consumer, unchanged ` +
      `resources as the same objects, NACK keeps the last good set, reconnect`,
    async (t) => {
      let xds = await startXdsServer({ port: 0, log });
      const port = xds.port;
      t.after(() => xds.close());
      xds.cache.setTranslation(translate(state(50, 1)));
      const received: envoy.Cluster[][] = [];
      let refuse: string | undefined;
      const client = new AdsClient({
        target: `127.0.0.1:${port}`,
        node: { id: `client-${protocol}`, cluster: 'tests' },
        protocol,
        log,
        initialBackoffMs: 20,
      });
      t.after(() => client.close());
      client.subscribe(TYPE_URL.cluster, [], (resources) => {
        received.push(resources);
        return resources.some((c) => c.name === refuse) ? `refusing ${refuse}` : undefined;
      });
      const accepted = () => client.status().types[TYPE_URL.cluster]!.acceptedVersion;
      const byName = (list: envoy.Cluster[]) => new Map(list.map((c) => [String(c.name), c]));
      await until(() => accepted() === xds.cache.get('', TYPE_URL.cluster)!.version, 'the first clusters');
      const first = byName(received.at(-1)!);
      assert.equal(first.size, 100, 'a public and a private cluster per revision');

      // svc-0 gets revision 2: the consumer sees all 100 clusters again, 98 of them the same objects.
      xds.cache.setTranslation(translate(state(50, 2)));
      await until(() => accepted() === xds.cache.get('', TYPE_URL.cluster)!.version, 'the second clusters');
      const second = byName(received.at(-1)!);
      assert.equal(second.size, 100);
      assert.ok(second.has('default/svc-0-00002') && !second.has('default/svc-0-00001'));
      const same = [...second].filter(([name, c]) => first.get(name) === c).length;
      assert.equal(same, 98);

      // The consumer refuses revision 3: NACKed, recorded, the last good set stays.
      refuse = 'default/svc-0-00003';
      const nack = new Promise<string>((resolve) => xds.status.once('nack', (e) => resolve(e.error)));
      xds.cache.setTranslation(translate(state(50, 3)));
      assert.equal(await nack, 'refusing default/svc-0-00003');
      assert.equal(client.status().types[TYPE_URL.cluster]!.lastNack!.error, 'refusing default/svc-0-00003');
      refuse = undefined;
      xds.cache.setTranslation(translate(state(50, 4)));
      await until(() => accepted() === xds.cache.get('', TYPE_URL.cluster)!.version, 'revision 4');
      const fourth = byName(received.at(-1)!);
      assert.ok(
        fourth.has('default/svc-0-00004') && !fourth.has('default/svc-0-00003') && !fourth.has('default/svc-0-00002'),
      );
      assert.equal(fourth.size, 100);

      // The server restarts with the same snapshot: the client reconnects and holds the same objects.
      await xds.close();
      xds = await startXdsServer({ port, log });
      xds.cache.setTranslation(translate(state(50, 4)));
      const before = received.length;
      await until(
        () =>
          received.length > before &&
          xds.status.get(`client-${protocol}`)?.types[TYPE_URL.cluster]?.ackedVersion !== undefined,
        'the reconnect',
      );
      const after = byName(received.at(-1)!);
      assert.equal(after.size, 100);
      assert.equal([...after].filter(([name, c]) => fourth.get(name) === c).length, 100);
    },
  );
}
