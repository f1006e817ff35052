import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { checkSnapshotConsistency, translate, Translator } from '../../src/translate/index.js';
import type { EnvoyResource } from '../../src/envoy/resource.js';
import { fromStruct } from '../../src/envoy/struct.js';
import { IncrementalTranslator } from '../../src/translate/incremental.js';
import { SnapshotCache } from '../../src/xds/cache/snapshot-cache.js';
import { splitByRole } from '../../src/translate/roles.js';
import { LOWER_CASE_AUTHORITY_LUA } from '../../src/translate/listener.js';
import fc from 'fast-check';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { validateResource } from '../../src/envoy/validate.js';
import { typeForUrl } from '../../src/envoy/protos.js';
import { desired, revision, route, routing } from '../support/desired.js';

const pod = (port: number) => ({ host: '127.0.0.1', port });
const activator = { host: '127.0.0.1', port: 8013 };

function sample() {
  return desired(
    [
      route('hello', [
        { revisionName: 'hello-00001', percent: 80 },
        { revisionName: 'hello-00002', percent: 20, tag: 'canary' },
      ]),
      route('grpc', [{ revisionName: 'grpc-00001', percent: 100 }]),
      route('internal', [{ revisionName: 'internal-00001', percent: 100 }], 'cluster-local'),
    ],
    [
      routing(
        revision('hello-00001', { containerConcurrency: 10, timeoutSeconds: 60 }),
        'serve',
        [pod(9001), pod(9002)],
        [activator],
      ),
      routing(revision('hello-00002', { timeoutSeconds: 120 }), 'proxy', [], [activator]),
      routing(
        revision('grpc-00001', { container: { command: ['x'], args: [], env: [], protocol: 'h2c' } }),
        'serve',
        [pod(9003)],
        [activator],
      ),
      routing(revision('internal-00001'), 'serve', [pod(9004)], [activator]),
    ],
  );
}

const vhosts = (rc: EnvoyResource) =>
  rc.virtual_hosts as Array<{
    name: string;
    domains: string[];
    request_headers_to_remove?: string[];
    routes: Array<Record<string, any>>;
  }>;

for (const mode of ['scoped', 'single'] as const)
  test(
    `every emitted resource is valid against Envoy’s protos ` + `and validate rules, and consistent (routing ${mode})`,
    () => {
      const t = translate(sample(), { routing: mode });
      const all: Array<[string, EnvoyResource[]]> = [
        [TYPE_URL.listener, t.listeners],
        [TYPE_URL.scopedRoute, t.scopedRoutes],
        [TYPE_URL.route, t.routes],
        [TYPE_URL.cluster, t.clusters],
        [TYPE_URL.endpoint, t.endpoints],
      ];
      for (const [typeUrl, resources] of all) {
        for (const r of resources)
          assert.deepEqual(validateResource(typeUrl, r), { valid: true, errors: [] }, `${r.name ?? r.cluster_name}`);
      }
      assert.deepEqual(checkSnapshotConsistency(t), []);
    },
  );

test('validation names the field path of each broken rule', () => {
  const result = validateResource(TYPE_URL.cluster, { name: '', type: 'EDSS', connectTimeout: { seconds: 1 } });
  assert.deepEqual(result.errors, [
    'connectTimeout: no such field in Cluster',
    'name: must be at least 1 characters',
    'type: EDSS is not a value of DiscoveryType',
  ]);
  const route = validateResource(TYPE_URL.route, {
    name: 'r',
    virtual_hosts: [{ name: 'v', domains: [], routes: [{ match: { prefix: '/' } }] }],
  });
  assert.deepEqual(route.errors, [
    'virtual_hosts[0].domains: needs at least 1 item(s)',
    'virtual_hosts[0].routes[0].action: one of route, redirect, ' +
      'direct_response, filter_action, non_forwarding_action is required',
  ]);
});

test(
  'hosts: a RouteConfiguration per route that both listeners’ scopes point at, a scope per virtual host and ' +
    'listener; tags get their own virtual hosts',
  () => {
    const t = translate(sample());
    assert.deepEqual(
      t.routes.map((rc) => [rc.name, vhosts(rc).map((v) => [v.name, v.domains])]),
      [
        [
          'default/grpc',
          [
            [
              'default/grpc',
              ['grpc.default.example.com', 'grpc.default.svc.cluster.local', 'grpc.default.svc', 'grpc.default'],
            ],
          ],
        ],
        [
          'default/hello',
          [
            [
              'default/hello',
              ['hello.default.example.com', 'hello.default.svc.cluster.local', 'hello.default.svc', 'hello.default'],
            ],
            [
              'default/hello/canary',
              [
                'canary-hello.default.example.com',
                'canary-hello.default.svc.cluster.local',
                'canary-hello.default.svc',
                'canary-hello.default',
              ],
            ],
          ],
        ],
        [
          'gatehouse-local/default/internal',
          [['default/internal', ['internal.default.svc.cluster.local', 'internal.default.svc', 'internal.default']]],
        ],
      ],
    );
    // One scope per virtual host and listener, keyed by the hosts' first two labels and the listener: a cluster-local
    // route has none on the external listener, so its names are never served there.
    const scope = (s: EnvoyResource) => [
      s.name,
      s.route_configuration_name,
      (s.key as { fragments: Array<{ string_key: string }> }).fragments.map((f) => f.string_key),
    ];
    assert.deepEqual(t.scopedRoutes.filter((s) => s.route_configuration_name === 'default/hello').map(scope), [
      ['gatehouse-external/hello.default', 'default/hello', ['hello', 'default', 'gatehouse-external']],
      ['gatehouse-external/canary-hello.default', 'default/hello', ['canary-hello', 'default', 'gatehouse-external']],
      ['gatehouse-local/hello.default', 'default/hello', ['hello', 'default', 'gatehouse-local']],
      ['gatehouse-local/canary-hello.default', 'default/hello', ['canary-hello', 'default', 'gatehouse-local']],
    ]);
    assert.equal(t.scopedRoutes.length, 3 + 4, 'a scope per external virtual host, one per cluster-local virtual host');
    // proxyless gRPC gets one api_listener per external host, routed by its route's RouteConfiguration
    assert.deepEqual(
      t.listeners.map((l) => l.name),
      [
        'gatehouse-external',
        'gatehouse-local',
        'grpc.default.example.com',
        'hello.default.example.com',
        'canary-hello.default.example.com',
      ],
    );
    const rds = (l: EnvoyResource) => (l as any).api_listener.api_listener.rds.route_config_name;
    assert.deepEqual(t.listeners.slice(2).map(rds), ['default/grpc', 'default/hello', 'default/hello']);
  },
);

test(
  'ingress listeners route by scope: the host’s first two ' + 'labels, and the listener’s own name set before routing',
  () => {
    const [external] = translate(sample()).listeners;
    const hcm = (external as any).filter_chains[0].filters[0].typed_config;
    assert.equal(hcm.rds, undefined);
    assert.deepEqual(hcm.scoped_routes.scope_key_builder.fragments, [
      { header_value_extractor: { name: ':authority', element_separator: '.', index: 0 } },
      { header_value_extractor: { name: ':authority', element_separator: '.', index: 1 } },
      { header_value_extractor: { name: 'x-gatehouse-listener', index: 0 } },
    ]);
    assert.deepEqual(hcm.scoped_routes.scoped_rds, {
      scoped_rds_config_source: { ads: {}, resource_api_version: 'V3' },
    });
    assert.deepEqual(hcm.early_header_mutation_extensions[0].typed_config.mutations, [
      {
        append: {
          header: { key: 'x-gatehouse-listener', value: 'gatehouse-external' },
          append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
        },
      },
      { remove: 'k-proxy-request' },
    ]);
    // The host lower-casing Lua filter, then the router; gRPC api_listeners get the router alone.
    assert.deepEqual(
      hcm.http_filters.map((f: any) => f.name),
      ['envoy.filters.http.lua', 'envoy.filters.http.router'],
    );
    assert.equal(hcm.http_filters[0].typed_config.default_source_code.inline_string, LOWER_CASE_AUTHORITY_LUA);
    const grpc = translate(sample()).listeners.find((l) => l.api_listener) as any;
    assert.deepEqual(
      grpc.api_listener.api_listener.http_filters.map((f: any) => f.name),
      ['envoy.filters.http.router'],
    );
  },
);

test('a host two routes claim stays with the first in namespace/name order', () => {
  // Route "b-a" and route "a" tagged "b" both claim b-a.default.example.com.
  const t = translate(
    desired(
      [
        route('b-a', [{ revisionName: 'b-a-00001', percent: 100 }]),
        route('a', [{ revisionName: 'a-00001', percent: 100, tag: 'b' }]),
      ],
      [routing(revision('b-a-00001'), 'serve', [pod(9001)]), routing(revision('a-00001'), 'serve', [pod(9002)])],
    ),
  );
  const claimed = t.scopedRoutes.filter((s) => s.name === 'gatehouse-external/b-a.default');
  assert.deepEqual(
    claimed.map((s) => s.route_configuration_name),
    ['default/a'],
  );
  assert.equal(t.listeners.filter((l) => l.name === 'b-a.default.example.com').length, 1);
  assert.deepEqual(checkSnapshotConsistency(t), []);
});

test('the split, activator headers, timeout, and the hash written over a probe’s placeholder', () => {
  const t = translate(sample());
  const helloExternal = t.routes.find((rc) => rc.name === 'default/hello')!;
  assert.deepEqual(helloExternal.request_headers_to_remove, ['x-gatehouse-listener']);
  const hello = vhosts(helloExternal).find((v) => v.name === 'default/hello')! as any;
  // One route per virtual host: a probe (K-Network-Hash: override) gets the hash, other requests nothing.
  assert.deepEqual(hello.request_headers_to_add, [
    {
      header: { key: 'k-network-hash', value: t.routeHashes.get('default/hello') },
      append_action: 'OVERWRITE_IF_EXISTS',
    },
  ]);
  assert.equal(hello.routes.length, 1);
  const [main] = hello.routes;
  assert.deepEqual(main!.match, { prefix: '/' });
  assert.deepEqual(
    main!.route.weighted_clusters.clusters.map((c: any) => [
      c.name,
      c.weight.value,
      c.request_headers_to_add.map((h: any) => `${h.header.key}=${h.header.value}`),
    ]),
    [
      ['default/hello-00001', 80, ['knative-serving-namespace=default', 'knative-serving-revision=hello-00001']],
      ['default/hello-00002', 20, ['knative-serving-namespace=default', 'knative-serving-revision=hello-00002']],
    ],
  );
  assert.deepEqual(main!.route.timeout, { seconds: 120 }, 'the longest timeout of the split');
  const canary = vhosts(helloExternal).find((v) => v.name === 'default/hello/canary')!;
  assert.deepEqual(
    canary.routes[0]!.route.weighted_clusters.clusters.map((c: any) => [c.name, c.weight.value]),
    [['default/hello-00002', 100]],
  );
});

test('routing single: one RouteConfiguration per listener holding every virtual host, plain RDS, no scopes', () => {
  const t = translate(sample(), { routing: 'single' });
  assert.deepEqual(t.scopedRoutes, []);
  assert.deepEqual(
    t.routes.map((rc) => [rc.name, vhosts(rc).map((v) => v.domains[0]), rc.request_headers_to_remove]),
    [
      [
        'gatehouse-external',
        ['canary-hello.default.example.com', 'grpc.default.example.com', 'hello.default.example.com'],
        ['k-proxy-request'],
      ],
      [
        'gatehouse-local',
        [
          'canary-hello.default.svc.cluster.local',
          'grpc.default.svc.cluster.local',
          'hello.default.svc.cluster.local',
          'internal.default.svc.cluster.local',
        ],
        ['k-proxy-request'],
      ],
    ],
  );
  const hcm = (t.listeners[0] as any).filter_chains[0].filters[0].typed_config;
  assert.deepEqual(hcm.rds, {
    route_config_name: 'gatehouse-external',
    config_source: { ads: {}, resource_api_version: 'V3' },
  });
  assert.equal(hcm.early_header_mutation_extensions, undefined, 'works on Envoy older than 1.25');
  assert.deepEqual(
    hcm.http_filters.map((f: any) => f.name),
    ['envoy.filters.http.router'],
    'virtual host matching is case-insensitive already',
  );
  const rds = (l: EnvoyResource) => (l as any).api_listener.api_listener.rds.route_config_name;
  assert.deepEqual(t.listeners.slice(2).map(rds), ['gatehouse-external', 'gatehouse-external', 'gatehouse-external']);
  // The same virtual hosts as scoped routing, only gathered per listener (scoped routing gives each one all its names).
  const merged = new Map<string, EnvoyResource>();
  for (const v of t.routes.flatMap(vhosts)) {
    const seen = merged.get(v.name);
    merged.set(v.name, seen ? { ...seen, domains: [...(seen.domains as string[]), ...v.domains] } : v);
  }
  const json = (list: EnvoyResource[]) => list.map((v) => JSON.stringify(v)).sort();
  assert.deepEqual(json([...merged.values()]), json(translate(sample()).routes.flatMap(vhosts)));
  assert.deepEqual(checkSnapshotConsistency(translate(desired([], []), { routing: 'single' })), [], 'empty, but there');
  assert.equal(translate(desired([], []), { routing: 'single' }).routes.length, 2);
});

test('clusters keep their names; the mode changes only the public assignment', () => {
  const state = sample();
  const t = translate(state);
  assert.deepEqual(
    t.clusters.map((c) => c.name),
    [
      'default/grpc-00001',
      'default/grpc-00001-private',
      'default/hello-00001',
      'default/hello-00001-private',
      'default/hello-00002',
      'default/hello-00002-private',
      'default/internal-00001',
      'default/internal-00001-private',
    ],
  );
  const grpc = t.clusters.find((c) => c.name === 'default/grpc-00001')!;
  assert.equal(grpc.metadata, undefined, 'only the private cluster carries what the activator reads');
  assert.ok(
    (grpc.typed_extension_protocol_options as Record<string, unknown>)[
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'
    ],
  );
  assert.equal(t.clusters.find((c) => c.name === 'default/hello-00001')!.typed_extension_protocol_options, undefined);
  const meta = (t.clusters.find((c) => c.name === 'default/hello-00001-private')!.metadata as any).filter_metadata
    .gatehouse;
  assert.deepEqual(fromStruct(meta), {
    namespace: 'default',
    revision: 'hello-00001',
    containerConcurrency: 10,
    timeoutSeconds: 60,
  });
  // …and it survives encoding (protobufjs drops Struct values spelt any other way).
  const Cluster = typeForUrl(TYPE_URL.cluster);
  const decoded = Cluster.toObject(
    Cluster.decode(
      Cluster.encode(Cluster.fromObject(t.clusters.find((c) => c.name === 'default/hello-00001-private')!)).finish(),
    ),
  ) as any;
  assert.deepEqual(fromStruct(decoded.metadata.filter_metadata.gatehouse), {
    namespace: 'default',
    revision: 'hello-00001',
    containerConcurrency: 10,
    timeoutSeconds: 60,
  });
  const ports = (cla: EnvoyResource) =>
    (cla.endpoints as any[]).flatMap((l) =>
      l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.port_value),
    );
  const byName = (tr: typeof t, name: string) => tr.endpoints.find((e) => e.cluster_name === name)!;
  assert.deepEqual(ports(byName(t, 'default/hello-00001')), [9001, 9002]);
  assert.deepEqual(ports(byName(t, 'default/hello-00002')), [8013], 'proxy mode → the activator');
  assert.deepEqual(ports(byName(t, 'default/hello-00002-private')), []);

  state.revisions.get('default/hello-00001')!.mode = 'proxy';
  const flipped = translate(state);
  assert.deepEqual(ports(byName(flipped, 'default/hello-00001')), [8013]);
  assert.deepEqual(flipped.clusters, t.clusters);
  assert.deepEqual(flipped.routes, t.routes);
  assert.deepEqual(flipped.scopedRoutes, t.scopedRoutes);
  assert.deepEqual(flipped.listeners, t.listeners);
  assert.deepEqual(flipped.routeHashes, t.routeHashes, 'a mode switch is not a route change');
});

test('route hashes are stable across input order and change only with the route', () => {
  const a = translate(sample());
  const shuffled = sample();
  shuffled.routes.reverse();
  shuffled.revisions = new Map([...shuffled.revisions].reverse());
  assert.deepEqual(translate(shuffled).routeHashes, a.routeHashes);
  assert.match(a.routeHashes.get('default/hello')!, /^[0-9a-f]{64}$/);

  const changed = sample();
  changed.routes[0]!.traffic = [
    { revisionName: 'hello-00001', percent: 50 },
    { revisionName: 'hello-00002', percent: 50, tag: 'canary' },
  ];
  const b = translate(changed);
  assert.notEqual(b.routeHashes.get('default/hello'), a.routeHashes.get('default/hello'));
  assert.equal(b.routeHashes.get('default/grpc'), a.routeHashes.get('default/grpc'));
  const timeout = sample();
  timeout.revisions.get('default/grpc-00001')!.spec.timeoutSeconds = 10;
  assert.notEqual(translate(timeout).routeHashes.get('default/grpc'), a.routeHashes.get('default/grpc'));
});

test('golden translation', () => {
  const file = path.resolve('test/translate/golden/sample.json');
  const t = translate(sample());
  const actual = JSON.stringify({ ...t, routeHashes: Object.fromEntries(t.routeHashes) }, null, 2) + '\n';
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
  }
  assert.equal(actual, readFileSync(file, 'utf8'), 'translation changed: review it, then UPDATE_GOLDEN=1 npm test');
});

test('serve mode with no ready pod keeps the activator as the public endpoint (Knative SKS fallback)', () => {
  const activator = { host: '127.0.0.1', port: 8013 };
  const t = translate(
    desired(
      [route('cold', [{ revisionName: 'cold-00001', percent: 100 }])],
      [routing(revision('cold-00001'), 'serve', [], [activator])],
    ),
  );
  const publicCla = t.endpoints.find((e) => e.cluster_name === 'default/cold-00001') as {
    endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { port_value: number } } } }> }>;
  };
  assert.deepEqual(
    publicCla.endpoints[0]!.lb_endpoints.map((e) => e.endpoint.address.socket_address.port_value),
    [8013],
  );
  const privateCla = t.endpoints.find((e) => e.cluster_name === 'default/cold-00001-private') as {
    endpoints: unknown[];
  };
  assert.deepEqual(privateCla.endpoints, []);
});

test(
  'a long-lived Translator gives what a fresh translate gives, ' +
    'over any sequence of states, and reuses unchanged resources',
  () => {
    // Revision specs are immutable and shared between states, as the controller shares them.
    const specs = ['a-00001', 'a-00002', 'b-00001', 'b-00002'].map((n, i) =>
      revision(n, {
        timeoutSeconds: 100 + i,
        container: { command: ['node'], args: [], env: [], protocol: i === 3 ? 'h2c' : 'http1' },
      }),
    );
    const endpoint = fc.record({ host: fc.constant('127.0.0.1'), port: fc.integer({ min: 1, max: 4 }) });
    const state = fc
      .record({
        revisions: fc.subarray(specs, { minLength: 1 }),
        modes: fc.array(fc.constantFrom('proxy' as const, 'serve' as const), { minLength: 4, maxLength: 4 }),
        pods: fc.array(fc.array(endpoint, { maxLength: 2 }), { minLength: 4, maxLength: 4 }),
        split: fc.integer({ min: 0, max: 100 }),
        tag: fc.option(fc.constantFrom('candidate', 'blue')),
        local: fc.boolean(),
        domain: fc.constantFrom('example.com', 'example.org'),
      })
      .map((s) => {
        const revisions = s.revisions.map((spec, i) => routing(spec, s.modes[i]!, s.pods[i]!));
        const names = s.revisions.map((r) => r.name);
        const routes = ['a', 'b'].flatMap((svc) => {
          const own = names.filter((n) => n.startsWith(`${svc}-`));
          if (own.length === 0) return [];
          const traffic =
            own.length === 1
              ? [{ revisionName: own[0]!, percent: 100 }]
              : [
                  { revisionName: own[0]!, percent: s.split },
                  { revisionName: own[1]!, percent: 100 - s.split, ...(s.tag ? { tag: s.tag } : {}) },
                ];
          return [route(svc, traffic, svc === 'b' && s.local ? 'cluster-local' : 'external')];
        });
        return desired(routes, revisions, s.domain);
      });
    fc.assert(
      fc.property(fc.array(state, { minLength: 1, maxLength: 6 }), (states) => {
        const translator = new Translator();
        let previous: ReturnType<Translator['translate']> | undefined;
        for (const s of states) {
          const got = translator.translate(s);
          assert.deepEqual(got, translate(s));
          if (previous) {
            // An unchanged input gives back the very same cluster object.
            const before = new Map(previous.clusters.map((c) => [c.name, c]));
            for (const c of got.clusters)
              if (before.has(c.name) && JSON.stringify(before.get(c.name)) === JSON.stringify(c))
                assert.equal(before.get(c.name), c);
          }
          previous = got;
        }
      }),
      { numRuns: 200 },
    );
  },
);

for (const mode of ['scoped', 'single'] as const)
  test(
    `the IncrementalTranslator, fed any sequence of changes, leaves the cache ` +
      `holding what translate() of the same state gives (routing ${mode})`,
    () => {
      // Specs with different timeouts, so that routes depend on which revisions exist.
      const specs = ['a-00001', 'a-00002', 'b-00001', 'b-a-00001'].map((n, i) =>
        revision(n, { timeoutSeconds: 10 * (i + 1) }),
      );
      const routeNames = ['a', 'b', 'b-a'];
      const op = fc.oneof(
        fc.record({
          kind: fc.constant('setRoute' as const),
          name: fc.constantFrom(...routeNames),
          targets: fc.subarray(
            specs.map((s) => s.name),
            { minLength: 1, maxLength: 2 },
          ),
          split: fc.integer({ min: 0, max: 100 }),
          // "a" tagged "b" claims b-a.default.example.com, which route "b-a" claims too.
          tag: fc.option(fc.constantFrom('b', 'blue')),
          local: fc.boolean(),
        }),
        fc.record({ kind: fc.constant('removeRoute' as const), name: fc.constantFrom(...routeNames) }),
        fc.record({
          kind: fc.constant('setRevision' as const),
          spec: fc.constantFrom(...specs),
          serve: fc.boolean(),
          pods: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
        }),
        fc.record({ kind: fc.constant('removeRevision' as const), spec: fc.constantFrom(...specs) }),
      );
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 15 }), (ops) => {
          const model = desired([], []);
          // One flushes into a single group, the other into each role's group.
          const incremental = new IncrementalTranslator(model.domain, model.listeners, { routing: mode });
          const incrementalByRole = new IncrementalTranslator(model.domain, model.listeners, { routing: mode });
          const both = [incremental, incrementalByRole];
          const cache = new SnapshotCache();
          const byRole = new SnapshotCache('role');
          for (const o of ops) {
            if (o.kind === 'setRoute') {
              const traffic = o.targets.map((revisionName, i) => ({
                revisionName,
                percent: o.targets.length === 1 ? 100 : i === 0 ? o.split : 100 - o.split,
                ...(i === o.targets.length - 1 && o.tag ? { tag: o.tag } : {}),
              }));
              const spec = route(o.name, traffic, o.local ? 'cluster-local' : 'external');
              model.routes = [...model.routes.filter((r) => r.name !== o.name), spec];
              for (const i of both) i.setRoute(spec);
            } else if (o.kind === 'removeRoute') {
              model.routes = model.routes.filter((r) => r.name !== o.name);
              for (const i of both) i.removeRoute('default', o.name);
            } else if (o.kind === 'setRevision') {
              const r = routing(
                o.spec,
                o.serve ? 'serve' : 'proxy',
                o.pods.map((port) => pod(port)),
              );
              model.revisions.set(`default/${o.spec.name}`, r);
              for (const i of both) i.setRevision(r);
            } else {
              model.revisions.delete(`default/${o.spec.name}`);
              for (const i of both) i.removeRevision('default', o.spec.name);
            }
            cache.applyChanges(incremental.flush());
            byRole.applyChanges(incrementalByRole.flush('by-role'));
            const full = translate(model, { routing: mode });
            const expected = new SnapshotCache();
            expected.setTranslation(full);
            const expectedByRole = new SnapshotCache('role');
            for (const [role, share] of splitByRole(full)) expectedByRole.setTranslation(share, role);
            for (const typeUrl of [
              TYPE_URL.cluster,
              TYPE_URL.endpoint,
              TYPE_URL.listener,
              TYPE_URL.scopedRoute,
              TYPE_URL.route,
            ]) {
              for (const [gotCache, wantCache, group] of [
                [cache, expected, ''],
                [byRole, expectedByRole, 'ingress'],
                [byRole, expectedByRole, 'activator'],
                [byRole, expectedByRole, 'proxyless'],
              ] as const) {
                const got = gotCache.get(group, typeUrl);
                const want = wantCache.get(group, typeUrl)!;
                assert.deepEqual(
                  [...(got?.resources.keys() ?? [])].sort(),
                  [...want.resources.keys()].sort(),
                  `${group} ${typeUrl}`,
                );
                assert.equal(got?.version, want.version, `${group} ${typeUrl} content`);
              }
            }
            for (const [key, hash] of full.routeHashes)
              assert.equal(incremental.routeHash('default', key.split('/')[1]!), hash);
          }
        }),
        { numRuns: 300 },
      );
    },
  );
