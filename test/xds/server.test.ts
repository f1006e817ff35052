// The xDS server's protocol behaviour, driven request by request over a real gRPC stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startXdsServer, type XdsServer } from '../../src/xds/index.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { SnapshotCache } from '../../src/xds/cache/snapshot-cache.js';
import { translate } from '../../src/translate/index.js';
import { desired, revision, route, routing } from '../support/desired.js';
import fc from 'fast-check';
import { AdsTestStream } from '../support/ads-client.js';
import { until } from '../support/cli.js';

const node = { id: 'envoy-1', cluster: 'ingress' };

function state(pods: number[], split = 100) {
  const traffic =
    split === 100
      ? [{ revisionName: 'hello-00001', percent: 100 }]
      : [
          { revisionName: 'hello-00001', percent: split },
          { revisionName: 'hello-00002', percent: 100 - split },
        ];
  return desired(
    [route('hello', traffic)],
    [
      routing(
        revision('hello-00001'),
        'serve',
        pods.map((port) => ({ host: '127.0.0.1', port })),
      ),
      routing(revision('hello-00002'), 'proxy', []),
    ],
  );
}

async function server(t: { after(fn: () => unknown): void }): Promise<XdsServer> {
  const xds = await startXdsServer({ port: 0 });
  t.after(() => xds.close());
  xds.cache.setTranslation(translate(state([9001])));
  return xds;
}

test(
  'SotW: first request with an empty nonce is answered; ' + 'ACK recorded; nonces increase; updates pushed',
  async (t) => {
    const xds = await server(t);
    const stream = new AdsTestStream(xds.port, false);
    t.after(() => stream.close());
    stream.send({ node, type_url: TYPE_URL.cluster });
    const first = await stream.next();
    assert.equal(first.type_url, TYPE_URL.cluster);
    assert.deepEqual(
      [...first.resources.keys()],
      ['default/hello-00001', 'default/hello-00001-private', 'default/hello-00002', 'default/hello-00002-private'],
    );
    stream.send({ node, type_url: TYPE_URL.cluster, version_info: first.version_info, response_nonce: first.nonce });
    stream.send({ node, type_url: TYPE_URL.endpoint, resource_names: ['default/hello-00001'] });
    const eds = await stream.next();
    assert.deepEqual([...eds.resources.keys()], ['default/hello-00001'], 'EDS is named, not wildcard');
    assert.ok(Number(eds.nonce) > Number(first.nonce));
    stream.send({
      node,
      type_url: TYPE_URL.endpoint,
      resource_names: ['default/hello-00001'],
      version_info: eds.version_info,
      response_nonce: eds.nonce,
    });
    assert.equal(await stream.quiet(150), true, 'nothing is resent after an ACK');
    assert.equal(xds.status.get('envoy-1')!.types[TYPE_URL.cluster]!.ackedVersion, first.version_info);

    // A scale-up changes only EDS: clusters are not resent.
    xds.cache.setTranslation(translate(state([9001, 9002])));
    const update = await stream.next();
    assert.equal(update.type_url, TYPE_URL.endpoint);
    const lb = (update.resources.get('default/hello-00001') as any).endpoints[0].lb_endpoints;
    assert.equal(lb.length, 2);
    assert.equal(await stream.quiet(150), true);
  },
);

test('SotW: a NACK is recorded, the rejected version is never resent, the next version is', async (t) => {
  const xds = await server(t);
  const stream = new AdsTestStream(xds.port, false);
  t.after(() => stream.close());
  stream.send({ node, type_url: TYPE_URL.route, resource_names: ['default/hello'] });
  const routes = await stream.next();
  stream.send({
    node,
    type_url: TYPE_URL.route,
    resource_names: ['default/hello'],
    version_info: '',
    response_nonce: routes.nonce,
    error_detail: { code: 3, message: 'rejected by test' },
  });
  assert.equal(await stream.quiet(150), true);
  const status = xds.status.get('envoy-1')!.types[TYPE_URL.route]!;
  assert.deepEqual(
    [status.lastNack!.version, status.lastNack!.error, status.ackedVersion],
    [routes.version_info, 'rejected by test', undefined],
  );
  xds.cache.setTranslation(translate(state([9001], 50)));
  const next = await stream.next();
  assert.notEqual(next.version_info, routes.version_info);
  // A stale nonce (an answer to an older response) changes nothing.
  stream.send({
    node,
    type_url: TYPE_URL.route,
    resource_names: ['default/hello'],
    version_info: 'x',
    response_nonce: routes.nonce,
    error_detail: { code: 3, message: 'stale' },
  });
  assert.equal(await stream.quiet(150), true);
  assert.equal(xds.status.get('envoy-1')!.types[TYPE_URL.route]!.lastNack!.error, 'rejected by test');
});

test(
  'SotW: RDS after the first response carries only what changed; ' +
    'a NACK or a refused older response makes the next one full',
  async (t) => {
    const xds = await startXdsServer({ port: 0 });
    t.after(() => xds.close());
    const make = (helloSplit: number, otherSplit: number, extra = false) => {
      const split = (n: string, p: number) =>
        p === 100
          ? [{ revisionName: `${n}-00001`, percent: 100 }]
          : [
              { revisionName: `${n}-00001`, percent: p },
              { revisionName: `${n}-00002`, percent: 100 - p },
            ];
      const names = ['hello', 'other', ...(extra ? ['extra'] : [])];
      return desired(
        names.map((n) => route(n, split(n, n === 'hello' ? helloSplit : n === 'other' ? otherSplit : 100))),
        names.flatMap((n) => [
          routing(revision(`${n}-00001`), 'serve', []),
          routing(revision(`${n}-00002`), 'serve', []),
        ]),
      );
    };
    xds.cache.setTranslation(translate(make(100, 100)));
    const stream = new AdsTestStream(xds.port, false);
    t.after(() => stream.close());
    const names = ['default/hello', 'default/other'];
    const reply = (r: { version_info?: string; nonce: string }, error?: string) =>
      stream.send({
        node,
        type_url: TYPE_URL.route,
        resource_names: names,
        version_info: r.version_info,
        response_nonce: r.nonce,
        ...(error ? { error_detail: { code: 3, message: error } } : {}),
      });
    stream.send({ node, type_url: TYPE_URL.route, resource_names: names });
    const first = await stream.next();
    assert.equal(first.resources.size, 2);
    reply(first);

    xds.cache.setTranslation(translate(make(60, 100)));
    const partial = await stream.next();
    assert.deepEqual([...partial.resources.keys()].sort(), ['default/hello']);
    reply(partial);
    // A new route nobody here subscribed to: a new version with nothing in it, which the client ACKs.
    xds.cache.setTranslation(translate(make(60, 100, true)));
    const empty = await stream.next();
    assert.equal(empty.resources.size, 0);
    reply(empty);
    assert.equal(await stream.quiet(100), true);
    assert.equal(xds.status.get('envoy-1')!.types[TYPE_URL.route]!.ackedVersion, empty.version_info);

    // Refused: the client kept the old hello; the next response is full and never this version again.
    xds.cache.setTranslation(translate(make(50, 100, true)));
    const refused = await stream.next();
    reply(refused, 'rejected by test');
    assert.equal(await stream.quiet(100), true);
    xds.cache.setTranslation(translate(make(50, 70, true)));
    const full = await stream.next();
    assert.equal(full.resources.size, 2);
    reply(full);

    // Two partial responses in a row, the older refused after the newer went out: the client lacks
    // what the older carried, so everything is sent again at once.
    xds.cache.setTranslation(translate(make(40, 70, true)));
    const older = await stream.next();
    xds.cache.setTranslation(translate(make(40, 60, true)));
    const newer = await stream.next();
    assert.deepEqual([older.resources.size, newer.resources.size], [1, 1]);
    reply(older, 'refused late');
    const again = await stream.next();
    assert.equal(again.resources.size, 2);
    assert.equal(again.version_info, newer.version_info);
  },
);

test('SotW: removed resources disappear from the next response', async (t) => {
  const xds = await server(t);
  const stream = new AdsTestStream(xds.port, false);
  t.after(() => stream.close());
  stream.send({ node, type_url: TYPE_URL.cluster });
  const first = await stream.next();
  assert.equal(first.resources.size, 4);
  const only = desired(
    [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
    [routing(revision('hello-00001'), 'serve', [])],
  );
  xds.cache.setTranslation(translate(only));
  const second = await stream.next();
  assert.deepEqual([...second.resources.keys()], ['default/hello-00001', 'default/hello-00001-private']);
});

test('Delta: only changes are sent, removals are named, and a reconnect with versions gets nothing new', async (t) => {
  const xds = await server(t);
  const stream = new AdsTestStream(xds.port, true);
  t.after(() => stream.close());
  stream.send({
    node,
    type_url: TYPE_URL.endpoint,
    resource_names_subscribe: ['default/hello-00001', 'default/hello-00002'],
  });
  const first = await stream.next();
  assert.deepEqual([...first.versions.keys()].sort(), ['default/hello-00001', 'default/hello-00002']);
  stream.send({ node, type_url: TYPE_URL.endpoint, response_nonce: first.nonce });

  xds.cache.setTranslation(translate(state([9001, 9002])));
  const change = await stream.next();
  assert.deepEqual([...change.versions.keys()], ['default/hello-00001'], 'only the changed assignment');
  stream.send({ node, type_url: TYPE_URL.endpoint, response_nonce: change.nonce });

  const fewer = desired(
    [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
    [
      routing(revision('hello-00001'), 'serve', [
        { host: '127.0.0.1', port: 9001 },
        { host: '127.0.0.1', port: 9002 },
      ]),
    ],
  );
  xds.cache.setTranslation(translate(fewer));
  const removal = await stream.next();
  assert.deepEqual(removal.removed, ['default/hello-00002']);
  assert.equal(removal.resources.size, 0);

  const again = new AdsTestStream(xds.port, true);
  t.after(() => again.close());
  again.send({
    node,
    type_url: TYPE_URL.endpoint,
    resource_names_subscribe: ['default/hello-00001'],
    initial_resource_versions: { 'default/hello-00001': change.versions.get('default/hello-00001') },
  });
  const resumed = await again.next();
  assert.equal(resumed.resources.size, 0, 'the client already holds the current version');
  assert.deepEqual(resumed.removed, []);
});

test('Delta: a refused removal is not answered with a resend; the next version carries it again', async (t) => {
  const xds = await server(t);
  const stream = new AdsTestStream(xds.port, true);
  t.after(() => stream.close());
  const names = ['default/hello-00001', 'default/hello-00002'];
  stream.send({ node, type_url: TYPE_URL.endpoint, resource_names_subscribe: names });
  const first = await stream.next();
  stream.send({ node, type_url: TYPE_URL.endpoint, response_nonce: first.nonce });
  /** Only hello-00001, at these ports: hello-00002's assignment is gone. */
  const without2 = (ports: number[]) =>
    desired(
      [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
      [
        routing(
          revision('hello-00001'),
          'serve',
          ports.map((port) => ({ host: '127.0.0.1', port })),
        ),
      ],
    );
  xds.cache.setTranslation(translate(without2([9001])));
  const removal = await stream.next();
  assert.deepEqual(removal.removed, ['default/hello-00002']);
  const nack = { node, type_url: TYPE_URL.endpoint, error_detail: { code: 3, message: 'refused by test' } };
  stream.send({ ...nack, response_nonce: removal.nonce });
  assert.equal(await stream.quiet(150), true, 'no response per NACK');

  xds.cache.setTranslation(translate(without2([9001, 9003])));
  const next = await stream.next();
  assert.deepEqual([...next.versions.keys()], ['default/hello-00001']);
  assert.deepEqual(next.removed, ['default/hello-00002'], 'the refused removal is tried again');
  stream.send({ node, type_url: TYPE_URL.endpoint, response_nonce: next.nonce });
  assert.equal(await stream.quiet(150), true);
});

test('Delta: scopes are wildcard; one route change sends only that route’s RouteConfigurations', async (t) => {
  const xds = await startXdsServer({ port: 0 });
  t.after(() => xds.close());
  const routes = (split: number) =>
    desired(
      ['hello', 'other'].map((n) =>
        route(
          n,
          n === 'hello' && split !== 100
            ? [
                { revisionName: `${n}-00001`, percent: split },
                { revisionName: `${n}-00002`, percent: 100 - split },
              ]
            : [{ revisionName: `${n}-00001`, percent: 100 }],
        ),
      ),
      ['hello-00001', 'hello-00002', 'other-00001'].map((n) => routing(revision(n), 'serve', [])),
    );
  xds.cache.setTranslation(translate(routes(100)));
  const stream = new AdsTestStream(xds.port, true);
  t.after(() => stream.close());
  stream.send({ node, type_url: TYPE_URL.scopedRoute });
  const scopes = await stream.next();
  assert.equal(scopes.type_url, TYPE_URL.scopedRoute);
  assert.equal(scopes.versions.size, 4, 'one scope per route on each listener');
  stream.send({ node, type_url: TYPE_URL.scopedRoute, response_nonce: scopes.nonce });
  const names = ['default/hello', 'default/other'];
  stream.send({ node, type_url: TYPE_URL.route, resource_names_subscribe: names });
  const all = await stream.next();
  assert.deepEqual([...all.versions.keys()].sort(), [...names].sort());
  stream.send({ node, type_url: TYPE_URL.route, response_nonce: all.nonce });

  xds.cache.setTranslation(translate(routes(60)));
  const change = await stream.next();
  assert.equal(change.type_url, TYPE_URL.route);
  assert.deepEqual([...change.versions.keys()].sort(), ['default/hello']);
  stream.send({ node, type_url: TYPE_URL.route, response_nonce: change.nonce });
  assert.equal(await stream.quiet(150), true, 'no scope, listener or other route is resent');
});

test('cache versions are a function of the content alone, however the cache got there', () => {
  const resources = (names: string[], flavour: number) =>
    names.map((name) => ({
      name,
      virtual_hosts: [{ name: 'v', domains: [`${name}.example.com`, `f${flavour}`], routes: [] }],
    }));
  const step = fc.record({
    names: fc.subarray(['a', 'b', 'c', 'd', 'e']),
    flavour: fc.integer({ min: 0, max: 2 }),
    reuse: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), (steps) => {
      const cache = new SnapshotCache();
      let last: ReturnType<typeof resources> = [];
      let previousNames = new Map<string, string>();
      for (const s of steps) {
        // Unchanged objects in the same places take the in-place path; new arrays the full one.
        const next =
          s.reuse && s.names.length === last.length && s.names.every((n, i) => last[i]!.name === n)
            ? last.map((r, i) => (i === 0 ? resources([r.name], s.flavour)[0]! : r))
            : resources(s.names, s.flavour);
        cache.setResources(TYPE_URL.route, next);
        last = next;
        const snapshot = cache.get('', TYPE_URL.route)!;
        const fresh = new SnapshotCache();
        fresh.setResources(TYPE_URL.route, next);
        assert.equal(snapshot.version, fresh.get('', TYPE_URL.route)!.version);
        const now = new Map([...snapshot.resources].map(([n, r]) => [n, r.version]));
        assert.deepEqual([...now.keys()].sort(), [...new Set(next.map((r) => r.name))].sort());
        if (snapshot.previousVersion !== undefined) {
          const changed = [...now].filter(([n, v]) => previousNames.get(n) !== v).map(([n]) => n);
          const removed = [...previousNames.keys()].filter((n) => !now.has(n));
          if (changed.length + removed.length > 0) {
            assert.deepEqual([...snapshot.changed].sort(), changed.sort());
            assert.deepEqual([...snapshot.removed].sort(), removed.sort());
          }
        }
        previousNames = now;
      }
    }),
    { numRuns: 300 },
  );
});

test('bad input: no node id, unknown type, malformed bytes, 10,000 clients vanishing mid-stream', async (t) => {
  setFlagsFromString('--expose-gc');
  const xds = await server(t);
  const noNode = new AdsTestStream(xds.port, false);
  noNode.send({ type_url: TYPE_URL.cluster });
  const status = await noNode.ended;
  assert.equal(status.code, 3);
  assert.match(status.details, /node\.id/);

  const unknown = new AdsTestStream(xds.port, false);
  t.after(() => unknown.close());
  unknown.send({ node, type_url: 'type.googleapis.com/envoy.config.nope.v3.Nope' });
  assert.equal(await unknown.quiet(150), true);
  unknown.send({ node, type_url: TYPE_URL.cluster });
  assert.equal((await unknown.next()).type_url, TYPE_URL.cluster, 'the stream still works');

  const garbage = new AdsTestStream(xds.port, false);
  garbage.sendRaw(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
  assert.equal((await garbage.ended).code, 3);

  // 10,000 clients connect and vanish without a goodbye; the server keeps serving and forgets them.
  const gc = runInNewContext('gc') as () => void; // exposed just above
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let round = 0; round < 200; round++) {
    // Each on a connection of its own, as a reconnecting Envoy would be (thousands of streams
    // cancelled on one connection would trip Node's HTTP/2 rapid-reset protection instead).
    const streams = Array.from(
      { length: 50 },
      () => new AdsTestStream(xds.port, round % 2 === 1, { 'grpc.use_local_subchannel_pool': 1 }),
    );
    for (const s of streams)
      s.send(s.delta ? { node, type_url: TYPE_URL.cluster } : { node, type_url: TYPE_URL.cluster });
    // The bound is for a server that stopped answering, not a speed test: a loaded machine takes seconds here.
    await Promise.all(streams.map((s) => s.next(30_000))).catch((err: Error) => {
      throw new Error(`round ${round}: ${err.message}`);
    });
    for (const s of streams) s.close();
  }
  const probe = new AdsTestStream(xds.port, false);
  t.after(() => probe.close());
  probe.send({ node, type_url: TYPE_URL.cluster });
  assert.equal((await probe.next()).resources.size, 4);
  await until(() => xds.status.get('envoy-1')!.connectedStreams <= 2, 'closed streams to be released', 1000);
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1024 / 1024).toFixed(1)} MiB over 10,000 streams`);
});

test(
  'Delta over any sequence of snapshots and subscription changes: the client ' +
    'ends up holding exactly what it asked for, and nothing is sent twice',
  async (t) => {
    const xds = await startXdsServer({ port: 0 });
    t.after(() => xds.close());
    const names = ['a', 'b', 'c', 'd', 'e'];
    const snapshotOf = (step: { services: boolean[]; pods: number[]; split: number }) => {
      const present = names.filter((_, i) => step.services[i]);
      return desired(
        present.map((n) => route(n, [{ revisionName: `${n}-00001`, percent: 100 }])),
        present.map((n, i) =>
          routing(
            revision(`${n}-00001`),
            step.split > 50 ? 'serve' : 'proxy',
            Array.from({ length: step.pods[i]! }, (_, p) => ({ host: '127.0.0.1', port: 9000 + p })),
          ),
        ),
      );
    };
    const step = fc.record({
      services: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
      pods: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 5, maxLength: 5 }),
      split: fc.integer({ min: 0, max: 100 }),
      watch: fc.subarray(names.map((n) => `default/${n}-00001`)),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        const stream = new AdsTestStream(xds.port, true);
        try {
          const id = { id: `delta-${run++}`, cluster: 'tests' };
          const held = new Map<string, string>();
          let watched = new Set<string>();
          const want = () => {
            const snapshot = xds.cache.get('', TYPE_URL.endpoint);
            return new Map(
              [...(snapshot?.resources ?? new Map())]
                .filter(([name]) => watched.has(name))
                .map(([name, r]) => [name, r.version]),
            );
          };
          // A response may cross an unsubscribe on the wire: what the client no longer watches it ignores.
          const handle = (r: Awaited<ReturnType<AdsTestStream['next']>>) => {
            for (const name of r.removed) held.delete(name);
            for (const [name, version] of r.versions) {
              if (!watched.has(name)) continue;
              assert.notEqual(held.get(name), version, `${name} sent again at a version the client holds`);
              held.set(name, version);
            }
            stream.send({ type_url: TYPE_URL.endpoint, response_nonce: r.nonce });
          };
          const same = () => JSON.stringify([...held].sort()) === JSON.stringify([...want()].sort());
          const settle = async () => {
            for (let i = 0; i < 20 && !same(); i++) handle(await stream.next());
            // Then whatever is still on its way (a response that crossed an unsubscribe).
            for (
              let r = await stream.next(30).catch(() => undefined);
              r;
              r = await stream.next(30).catch(() => undefined)
            )
              handle(r);
            assert.deepEqual([...held].sort(), [...want()].sort());
          };
          let first = true;
          for (const s of steps) {
            xds.cache.setTranslation(translate(snapshotOf(s)));
            const next = new Set(s.watch);
            const subscribe = [...next].filter((n) => !watched.has(n));
            const unsubscribe = [...watched].filter((n) => !next.has(n));
            watched = next;
            for (const n of unsubscribe) held.delete(n);
            if (first || subscribe.length > 0 || unsubscribe.length > 0) {
              stream.send({
                ...(first ? { node: id } : {}),
                type_url: TYPE_URL.endpoint,
                resource_names_subscribe: subscribe,
                resource_names_unsubscribe: unsubscribe,
              });
            }
            if (first) {
              // The first request is always answered, even when there is nothing to send.
              handle(await stream.next());
              first = false;
            }
            await settle();
          }
        } finally {
          stream.close();
        }
      }),
      { numRuns: 15 },
    );
  },
);
