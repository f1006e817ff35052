// The ADS client gatehouse's gateway and activators use, over both xDS APIs, against the real server;
// and its decoder, which hands back unchanged resources as the same objects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log/logger.js';
import { translate } from '../../src/translate/index.js';
import { ResourceEncoder } from '../../src/xds/cache/encode.js';
import type * as envoy from '../../src/envoy/envoy-types.js';
import { AdsClient, type ResourceUpdate, type XdsProtocol } from '../../src/xds/client/ads-client.js';
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
    `AdsClient over ${protocol}: the consumer is told what changed and what was removed, ` +
      `a NACK keeps the last good set, a reconnect changes nothing`,
    async (t) => {
      let xds = await startXdsServer({ port: 0, log });
      const port = xds.port;
      t.after(() => xds.close());
      xds.cache.setTranslation(translate(state(50, 1)));
      const updates: ResourceUpdate<envoy.Cluster>[] = []; // the accepted ones
      // What the consumer holds: every accepted update applied in turn.
      const held = new Map<string, envoy.Cluster>();
      let refuse: string | undefined;
      const client = new AdsClient({
        target: `127.0.0.1:${port}`,
        node: { id: `client-${protocol}`, cluster: 'tests' },
        protocol,
        log,
        initialBackoffMs: 20,
      });
      t.after(() => client.close());
      client.subscribe(TYPE_URL.cluster, [], (update) => {
        if (refuse !== undefined && update.changed.has(refuse)) return `refusing ${refuse}`;
        updates.push(update);
        for (const name of update.removed) held.delete(name);
        for (const [name, c] of update.changed) held.set(name, c);
        return undefined;
      });
      const accepted = () => client.status().types[TYPE_URL.cluster]!.acceptedVersion;
      const served = () => xds.cache.get('', TYPE_URL.cluster)!.version;
      const summary = (u: ResourceUpdate<envoy.Cluster>) => ({
        changed: [...u.changed.keys()].sort(),
        removed: [...u.removed].sort(),
      });
      await until(() => accepted() === served(), 'the first clusters');
      assert.equal(updates.at(-1)!.changed.size, 100, 'a public and a private cluster per revision');
      assert.deepEqual(updates.at(-1)!.removed, []);
      const first = new Map(held);

      // svc-0 gets revision 2: its two clusters come, its two old ones go, nothing else is told.
      xds.cache.setTranslation(translate(state(50, 2)));
      await until(() => accepted() === served(), 'the second clusters');
      assert.deepEqual(summary(updates.at(-1)!), {
        changed: ['default/svc-0-00002', 'default/svc-0-00002-private'],
        removed: ['default/svc-0-00001', 'default/svc-0-00001-private'],
      });
      assert.equal(held.size, 100);
      assert.equal([...held].filter(([name, c]) => first.get(name) === c).length, 98);

      // The consumer refuses revision 3: NACKed, recorded, the last good set stays.
      refuse = 'default/svc-0-00003';
      const sinceNack = updates.length;
      const nack = new Promise<string>((resolve) => xds.status.once('nack', (e) => resolve(e.error)));
      xds.cache.setTranslation(translate(state(50, 3)));
      assert.equal(await nack, 'refusing default/svc-0-00003');
      assert.equal(client.status().types[TYPE_URL.cluster]!.lastNack!.error, 'refusing default/svc-0-00003');
      // Revision 4 is told against what the consumer accepted (revision 2), not what it refused; svc-49 goes.
      // (Delta sends revision 3's refused removals again with revision 4.)
      refuse = undefined;
      xds.cache.setTranslation(translate(state(49, 4)));
      await until(() => accepted() === served(), 'revision 4');
      const told = updates.slice(sinceNack);
      assert.deepEqual(
        summary({ changed: new Map(told.flatMap((u) => [...u.changed])), removed: told.flatMap((u) => u.removed) }),
        {
          changed: ['default/svc-0-00004', 'default/svc-0-00004-private'],
          removed: [
            'default/svc-0-00002',
            'default/svc-0-00002-private',
            'default/svc-49-00001',
            'default/svc-49-00001-private',
          ],
        },
      );
      assert.equal(held.size, 98);
      const fourth = new Map(held);

      // The server restarts with the same snapshot: the client reconnects, is sent it again, and nothing changes.
      await xds.close();
      xds = await startXdsServer({ port, log });
      xds.cache.setTranslation(translate(state(49, 4)));
      const before = updates.length;
      await until(
        () =>
          updates.length > before &&
          xds.status.get(`client-${protocol}`)?.types[TYPE_URL.cluster]?.ackedVersion !== undefined,
        'the reconnect',
      );
      assert.deepEqual(
        updates.slice(before).map(summary),
        updates.slice(before).map(() => ({ changed: [], removed: [] })),
      );
      assert.equal([...held].filter(([name, c]) => fourth.get(name) === c).length, 98);
    },
  );
}
