// The gateway's lookups as Envoy defines them: domain order, route order, weighted picks, header mutations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileCluster } from '../../src/gateway/compile-cluster.js';
import { ConfigErrors } from '../../src/gateway/compile-errors.js';
import { compileListener, type ListenerConfig } from '../../src/gateway/compile-listener.js';
import { compileRouteConfiguration, type RouteTable } from '../../src/gateway/compile-routes.js';
import {
  compileScopes,
  ScopeIndex,
  scopeKeyOf,
  type ScopeKeyFragmentBuilder,
} from '../../src/gateway/compile-scopes.js';
import {
  applyMutations,
  computeScopeKey,
  findVirtualHost,
  matchRoute,
  pickTarget,
  requestAuthority,
  routeRequest,
  routingHost,
} from '../../src/gateway/match.js';
import { ingressConnectionManager } from '../../src/translate/listener.js';

const route = (name: string, match: Record<string, unknown>, cluster = name) => ({ name, match, route: { cluster } });

test('virtual hosts: exact, then longest suffix wildcard, then longest prefix wildcard, then *', () => {
  const errors = new ConfigErrors();
  const table = compileRouteConfiguration(
    {
      name: 'rc',
      virtual_hosts: [
        { name: 'exact', domains: ['api.example.com'], routes: [route('r', { prefix: '/' })] },
        { name: 'short-suffix', domains: ['*.com'], routes: [] },
        { name: 'long-suffix', domains: ['*.example.com'], routes: [] },
        { name: 'prefix', domains: ['api.*'], routes: [] },
        { name: 'any', domains: ['*'], routes: [] },
      ],
    },
    errors,
  );
  assert.ok(errors.empty, errors.toString());
  const cases: Array<[string, string]> = [
    ['api.example.com', 'exact'],
    ['API.example.com', 'exact'],
    ['www.example.com', 'long-suffix'],
    ['example.com', 'short-suffix'],
    ['api.example.org', 'prefix'],
    ['localhost', 'any'],
  ];
  for (const [host, want] of cases) assert.equal(findVirtualHost(table, routingHost(host, true))?.name, want, host);
  assert.equal(routingHost('Hello.Default.example.com:8080', true), 'hello.default.example.com');
  assert.equal(routingHost('[::1]:8080', true), '[::1]');
  assert.equal(routingHost('[::1]', true), '[::1]');
  assert.equal(routingHost('a.b:8080', false), 'a.b:8080');
});

test('routes: first match wins; path vs prefix; headers exact/present/invert; query ignored', () => {
  const errors = new ConfigErrors();
  const table = compileRouteConfiguration(
    {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            route('probe', { prefix: '/', headers: [{ name: 'k-network-hash', string_match: { exact: 'override' } }] }),
            route('exact-path', { path: '/healthz' }),
            route('no-debug', {
              prefix: '/api',
              headers: [{ name: 'x-debug', present_match: true, invert_match: true }],
            }),
            route('any', { prefix: '/' }),
          ],
        },
      ],
    },
    errors,
  );
  assert.ok(errors.empty, errors.toString());
  const vh = table.catchAll!;
  const cases: Array<[string, Record<string, string>, string]> = [
    ['/x', { 'k-network-hash': 'override' }, 'probe'],
    ['/x', { 'k-network-hash': 'abc' }, 'any'],
    ['/healthz?full=1', {}, 'exact-path'],
    ['/healthz/more', {}, 'any'],
    ['/api/v1', {}, 'no-debug'],
    ['/api/v1', { 'x-debug': '1' }, 'any'],
  ];
  for (const [url, headers, want] of cases)
    assert.equal(matchRoute(vh, url, headers)?.name, want, `${url} ${JSON.stringify(headers)}`);
});

test('weighted clusters: cumulative ranges; weight 0 never picked', () => {
  const errors = new ConfigErrors();
  const table = compileRouteConfiguration(
    {
      name: 'rc',
      virtual_hosts: [
        {
          name: 'vh',
          domains: ['*'],
          routes: [
            {
              name: 'split',
              match: { prefix: '/' },
              route: {
                weighted_clusters: {
                  clusters: [
                    { name: 'a', weight: { value: 80 } },
                    { name: 'zero', weight: { value: 0 } },
                    { name: 'b', weight: { value: 20 } },
                  ],
                },
              },
            },
          ],
        },
      ],
    },
    errors,
  );
  const r = table.catchAll!.routes[0]!;
  assert.equal(r.totalWeight, 100);
  const cases: Array<[number, string]> = [
    [0, 'a'],
    [0.7999, 'a'],
    [0.8, 'b'],
    [0.9999, 'b'],
  ];
  for (const [x, want] of cases) assert.equal(pickTarget(r, x).cluster, want, String(x));
  assert.equal(r.timeoutMs, 15_000, "Envoy's default route timeout");
});

test('header mutations apply in order with each append action', () => {
  const base = ['a', '1', 'b', '2'];
  const m = (
    add: Array<
      [
        string,
        string,
        'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS',
      ]
    >,
    remove: string[] = [],
  ) => ({ remove, add: add.map(([name, value, action]) => ({ name, value, action })) });
  assert.deepEqual(applyMutations([...base], [m([['a', '3', 'APPEND_IF_EXISTS_OR_ADD']])]), [
    'a',
    '1',
    'b',
    '2',
    'a',
    '3',
  ]);
  assert.deepEqual(
    applyMutations(
      [...base],
      [
        m([
          ['a', '3', 'ADD_IF_ABSENT'],
          ['c', '4', 'ADD_IF_ABSENT'],
        ]),
      ],
    ),
    ['a', '1', 'b', '2', 'c', '4'],
  );
  assert.deepEqual(applyMutations([...base], [m([['a', '3', 'OVERWRITE_IF_EXISTS_OR_ADD']])]), ['b', '2', 'a', '3']);
  assert.deepEqual(applyMutations([...base], [m([['c', '3', 'OVERWRITE_IF_EXISTS']])]), base);
  // The later (less specific) level wins an overwrite, as with Envoy's default.
  assert.deepEqual(
    applyMutations(
      [...base],
      [m([['x', 'route', 'OVERWRITE_IF_EXISTS_OR_ADD']]), m([['x', 'vhost', 'OVERWRITE_IF_EXISTS_OR_ADD']], ['b'])],
    ),
    ['a', '1', 'x', 'vhost'],
  );
});

test('unsupported config is refused with its field path', () => {
  const errors = new ConfigErrors();
  compileCluster({ name: 'dns', type: 'LOGICAL_DNS' }, errors);
  compileCluster({ name: 'ring', type: 'EDS', lb_policy: 'RING_HASH', circuit_breakers: {} }, errors);
  compileRouteConfiguration(
    {
      name: 'rc',
      virtual_hosts: [
        { name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] },
      ],
    },
    errors,
  );
  assert.deepEqual(errors.messages, [
    'Cluster dns.type: LOGICAL_DNS is not supported; use EDS or STATIC',
    'Cluster ring.circuit_breakers: is not supported by the embedded gateway (use Envoy for this resource)',
    'Cluster ring.lb_policy: RING_HASH is not supported; use ROUND_ROBIN, RANDOM or LEAST_REQUEST',
    'RouteConfiguration rc.virtual_hosts[0] (vh).routes[0].direct_response: ' +
      'is not supported by the embedded gateway (use Envoy for this resource)',
    'RouteConfiguration rc.virtual_hosts[0] (vh).routes[0].route: is required (direct_response is not supported)',
  ]);
});

// ---------- Scoped routes (SRDS) and early header mutations ----------

const ADS = { ads: {}, resource_api_version: 'V3' };
const LISTENER_HEADER = 'x-gatehouse-listener';

/** The HttpConnectionManager translate emits for an ingress listener (a copy the test may change). */
const scopedHcm = (listener: string): Record<string, any> =>
  structuredClone(ingressConnectionManager(listener, { scopeKey: 'labels' }));

const listenerWith = (name: string, hcm: Record<string, unknown>) => ({
  name,
  address: { socket_address: { address: '127.0.0.1', port_value: 8080 } },
  filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }],
});

/** A scope for hosts whose first two labels are those of `host`, as translate makes them. */
const scope = (listener: string, host: string, rc: string) => {
  const [name, namespace] = host.split('.');
  return {
    name: `${listener}/${name}.${namespace}`,
    route_configuration_name: rc,
    key: { fragments: [{ string_key: name }, { string_key: namespace }, { string_key: listener }] },
  };
};

const extractor = (
  header: string,
  elementSeparator: string,
  pick: number | { separator: string; key: string },
): ScopeKeyFragmentBuilder =>
  typeof pick === 'number'
    ? { header, elementSeparator, index: pick, element: undefined }
    : { header, elementSeparator, index: undefined, element: pick };

test('scope keys: authority before the port, index, key=value elements, missing headers, first value only', () => {
  const ingress = [extractor(':authority', ':', 0), extractor(LISTENER_HEADER, '', 0)];
  const key = (builders: ScopeKeyFragmentBuilder[], flat: string[]) =>
    computeScopeKey(builders, flat, requestAuthority(flat));
  const want = scopeKeyOf(['hello.default.example.com', 'gatehouse-external']);
  assert.equal(
    key(ingress, ['Host', 'hello.default.example.com:8080', 'X-Gatehouse-Listener', 'gatehouse-external']),
    want,
    'port cut by the element separator',
  );
  assert.equal(
    key(ingress, ['host', 'hello.default.example.com', 'x-gatehouse-listener', 'gatehouse-external']),
    want,
    'no port',
  );
  assert.equal(
    key(ingress, [':authority', 'hello.default.example.com:80', 'x-gatehouse-listener', 'gatehouse-external']),
    want,
    'HTTP/2 :authority',
  );
  assert.equal(
    key(ingress, ['host', 'Hello.default.example.com', 'x-gatehouse-listener', 'gatehouse-external']),
    scopeKeyOf(['Hello.default.example.com', 'gatehouse-external']),
    'values are not lower-cased',
  );
  assert.equal(key(ingress, ['host', 'hello.default.example.com']), undefined, 'a missing header: no key');
  assert.equal(key(ingress, ['x-gatehouse-listener', 'gatehouse-external']), undefined, 'no authority: no key');
  assert.equal(
    key(ingress, [
      'host',
      'a.example.com',
      'x-gatehouse-listener',
      'gatehouse-local',
      'x-gatehouse-listener',
      'gatehouse-external',
    ]),
    scopeKeyOf(['a.example.com', 'gatehouse-local']),
    'only the first value of a repeated header counts',
  );
  // index
  assert.equal(key([extractor('x-path', '/', 2)], ['x-path', '/a/b/c']), scopeKeyOf(['b']));
  assert.equal(key([extractor('x-path', '/', 4)], ['x-path', '/a/b/c']), undefined, 'index out of range');
  assert.equal(
    key([extractor(':authority', ':', 1)], ['host', 'a.example.com']),
    undefined,
    'no port: element 1 is missing',
  );
  assert.equal(key([extractor(':authority', ':', 1)], ['host', 'a.example.com:8080']), scopeKeyOf(['8080']));
  assert.equal(
    key([extractor('x-whole', '', 0)], ['x-whole', 'a:b;c']),
    scopeKeyOf(['a:b;c']),
    'no separator: the whole value',
  );
  assert.equal(
    key([extractor('x-empty', ',', 0)], ['x-empty', '']),
    scopeKeyOf(['']),
    'an empty value has one empty element',
  );
  // element (KvElement): the part after the first separator of the element with that key
  const kv = (k: string) => [extractor('x-scope', ';', { separator: '=', key: k })];
  const flat = ['x-scope', 'a=1;b=2=3;c;=d'];
  assert.equal(key(kv('a'), flat), scopeKeyOf(['1']));
  assert.equal(key(kv('b'), flat), scopeKeyOf(['2=3']), 'split at the first separator only');
  assert.equal(key(kv('c'), flat), scopeKeyOf(['']), 'an element without a separator is a key with an empty value');
  assert.equal(key(kv('x'), flat), undefined, 'no element with that key');
  assert.equal(
    key([extractor('x-scope', '', { separator: '=', key: 'a' })], ['x-scope', 'a=1;b=2']),
    scopeKeyOf(['1;b=2']),
    'no element separator: the value is one element',
  );
});

test(
  'the ingress HttpConnectionManager with scoped_rds and ' + 'an early header mutation compiles as Envoy reads it',
  () => {
    const errors = new ConfigErrors();
    const l = compileListener(listenerWith('gatehouse-external', scopedHcm('gatehouse-external')), errors)!;
    assert.ok(errors.empty, errors.toString());
    assert.equal(l.routeConfigName, undefined);
    assert.equal(l.inlineRoutes, undefined);
    assert.equal(l.stripAnyHostPort, true);
    assert.deepEqual([...l.upgradeTypes], ['websocket']);
    assert.deepEqual(l.scoped, {
      name: 'gatehouse-external',
      fragments: [
        { header: ':authority', elementSeparator: '.', index: 0, element: undefined },
        { header: ':authority', elementSeparator: '.', index: 1, element: undefined },
        { header: 'x-gatehouse-listener', elementSeparator: '', index: 0, element: undefined },
      ],
      inlineScopes: undefined,
    });
    assert.deepEqual(l.earlyMutations, [
      {
        remove: [],
        add: [{ name: 'x-gatehouse-listener', value: 'gatehouse-external', action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      },
      { remove: ['k-proxy-request'], add: [] },
    ]);
    // remove and the legacy append BoolValue
    const hcm = scopedHcm('x');
    hcm.early_header_mutation_extensions[0].typed_config.mutations = [
      { remove: 'X-Drop' },
      { append: { header: { key: 'x-add', value: '1' }, append: { value: false } } },
    ];
    const l2 = compileListener(listenerWith('x', hcm), errors)!;
    assert.ok(errors.empty, errors.toString());
    assert.deepEqual(l2.earlyMutations, [
      { remove: ['x-drop'], add: [] },
      { remove: [], add: [{ name: 'x-add', value: '1', action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
    ]);
  },
);

test('scoped_routes: what the gateway does not implement is refused with the field path', () => {
  const hcmPath = (name: string) => `Listener ${name}.filter_chains[0].filters[0].typed_config`;
  const refused = (name: string, edit: (hcm: Record<string, any>) => void): string[] => {
    const hcm = scopedHcm(name);
    edit(hcm);
    const errors = new ConfigErrors();
    compileListener(listenerWith(name, hcm), errors);
    return errors.messages;
  };
  assert.deepEqual(
    refused('two', (h) => (h.rds = { route_config_name: 'rc', config_source: ADS })),
    [`${hcmPath('two')}: sets rds and scoped_routes; set exactly one of rds, route_config and scoped_routes`],
  );
  assert.deepEqual(
    refused('three', (h) => {
      h.route_config = { name: 'inline', virtual_hosts: [] };
      h.rds = { route_config_name: 'rc' };
    }),
    [
      `${hcmPath('three')}: sets rds and route_config and scoped_routes; ` +
        `set exactly one of rds, route_config and scoped_routes`,
    ],
  );
  assert.deepEqual(
    refused('none', (h) => delete h.scoped_routes),
    [`${hcmPath('none')}.rds.route_config_name: is required when neither route_config nor scoped_routes is set`],
  );
  assert.deepEqual(
    refused('extractor', (h) => (h.scoped_routes.scope_key_builder.fragments[1].header_value_extractor.regex = '.*')),
    [
      `${hcmPath('extractor')}.scoped_routes.scope_key_builder.fragments[1].header_value_extractor.regex: ` +
        `is not supported by the embedded gateway (use Envoy for this resource)`,
    ],
  );
  assert.deepEqual(
    refused(
      'no-extract-type',
      (h) => delete h.scoped_routes.scope_key_builder.fragments[1].header_value_extractor.index,
    ),
    [
      `${hcmPath('no-extract-type')}.scoped_routes.scope_key_builder.fragments[1].header_value_extractor: ` +
        `needs exactly one of index and element`,
    ],
  );
  assert.deepEqual(
    refused('index', (h) => (h.scoped_routes.scope_key_builder.fragments[2].header_value_extractor.index = 1)),
    [
      `${hcmPath('index')}.scoped_routes.scope_key_builder.fragments[2].header_value_extractor.index: ` +
        `is 1, but without an element_separator the only element is index 0`,
    ],
  );
  assert.deepEqual(
    refused('builder', (h) => (h.scoped_routes.scope_key_builder.fragments = [{}])),
    [
      `${hcmPath('builder')}.scoped_routes.scope_key_builder.fragments[0].header_value_extractor: ` +
        `is required (it is the only fragment builder)`,
    ],
  );
  assert.deepEqual(
    refused('locator', (h) => (h.scoped_routes.scoped_rds.srds_resources_locator = 'xdstp://x')),
    [
      `${hcmPath('locator')}.scoped_routes.scoped_rds.srds_resources_locator: ` +
        `is not supported by the embedded gateway (use Envoy for this resource)`,
    ],
  );
  assert.deepEqual(
    refused(
      'both-sources',
      (h) =>
        (h.scoped_routes.scoped_route_configurations_list = { scoped_route_configurations: [scope('x', 'h', 'rc')] }),
    ),
    [`${hcmPath('both-sources')}.scoped_routes: needs exactly one of scoped_rds and scoped_route_configurations_list`],
  );
  assert.deepEqual(
    refused('not-ads', (h) => (h.scoped_routes.rds_config_source = { path_config_source: { path: '/etc/rds.yaml' } })),
    [
      `${hcmPath('not-ads')}.scoped_routes.rds_config_source.path_config_source: ` +
        `is not supported by the embedded gateway (use Envoy for this resource)`,
      `${hcmPath('not-ads')}.scoped_routes.rds_config_source.ads: is required: ` +
        `the embedded gateway fetches everything over its one ADS stream`,
    ],
  );
  const otherType = 'type.googleapis.com/envoy.extensions.http.early_header_mutation.other.v3.Other';
  assert.deepEqual(
    refused('early', (h) => (h.early_header_mutation_extensions[0].typed_config = { '@type': otherType })),
    [
      `${hcmPath('early')}.early_header_mutation_extensions[0].typed_config: ` +
        `envoy.extensions.http.early_header_mutation.other.v3.Other is not supported; only ` +
        `envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation is`,
    ],
  );
  assert.deepEqual(
    refused('early-both', (h) => (h.early_header_mutation_extensions[0].typed_config.mutations[0].remove = 'x')),
    [
      `${hcmPath('early-both')}.early_header_mutation_extensions[0].typed_config.mutations[0]: ` +
        `needs exactly one of remove and append`,
    ],
  );
});

test('SRDS: a scope key used twice, a name used twice and malformed scopes are refused', () => {
  const errors = new ConfigErrors();
  const set = compileScopes(
    [
      scope('l', 'a.example.com', 'rc-a'),
      scope('l', 'b.example.com', 'rc-b'),
      { ...scope('l', 'a.example.com', 'rc-c'), name: 'l/again' },
    ],
    errors,
  );
  assert.deepEqual(errors.messages, [
    'ScopedRouteConfiguration l/again.key: scope key conflict ' +
      "found, first scope is 'l/a.example', second scope is 'l/again'",
  ]);
  assert.equal(set.byName.size, 0, 'a refused set holds none of its scopes');

  const more = new ConfigErrors();
  compileScopes(
    [
      scope('l', 'a.example.com', 'rc-a'),
      { ...scope('l', 'b.example.com', 'rc-b'), name: 'l/a.example' },
      { name: 'no-key', route_configuration_name: 'rc' },
      { name: 'empty-key', route_configuration_name: 'rc', key: { fragments: [] } },
      { name: 'no-route', key: { fragments: [{ string_key: 'x' }] } },
    ],
    more,
  );
  assert.deepEqual(more.messages, [
    "ScopedRouteConfiguration l/a.example: duplicate scoped route configuration 'l/a.example' found",
    'ScopedRouteConfiguration no-key.key: is required',
    'ScopedRouteConfiguration empty-key.key.fragments: needs at least one fragment',
    'ScopedRouteConfiguration no-route: needs exactly one of route_configuration_name and route_configuration',
  ]);

  // Keys compare fragment by fragment: ["a", "b"] and ["a\0b"] differ; on_demand is accepted.
  const fine = new ConfigErrors();
  const nul = compileScopes(
    [
      { name: 'two', route_configuration_name: 'rc', key: { fragments: [{ string_key: 'a' }, { string_key: 'b' }] } },
      {
        name: 'one',
        route_configuration_name: 'rc',
        on_demand: true,
        key: { fragments: [{ string_key: 'a\u0000b' }] },
      },
    ],
    fine,
  );
  assert.ok(fine.empty, fine.toString());
  assert.equal(nul.byName.size, 2);
  assert.equal(nul.byKey.get(scopeKeyOf(['a', 'b']))?.name, 'two');
});

test('SRDS held by the gateway: each update changes what it names, a conflict refuses it whole', () => {
  const index = new ScopeIndex();
  const named = (...scopes: ReturnType<typeof scope>[]) => scopes.map((s) => [s.name, s] as const);
  const apply = (changed: ReturnType<typeof named>, removed: string[]) => {
    const errors = new ConfigErrors();
    const { left, came } = index.apply(changed, removed, errors);
    return { errors: errors.messages, left: left.map((s) => s.name), came: came.map((s) => s.name) };
  };
  const routeOf = (host: string) => index.byKey.get(scopeKeyOf([...host.split('.').slice(0, 2), 'l']))?.routeConfigName;
  assert.deepEqual(apply(named(scope('l', 'a.x.com', 'rc-a'), scope('l', 'b.x.com', 'rc-b')), []), {
    errors: [],
    left: [],
    came: ['l/a.x', 'l/b.x'],
  });
  // A scope named anew may take the key of one the same update removes or replaces.
  const takesA = { ...scope('l', 'a.x.com', 'rc-a2'), name: 'l/a-again' };
  assert.deepEqual(apply(named(takesA, { ...scope('l', 'c.x.com', 'rc-b2'), name: 'l/b.x' }), ['l/a.x']), {
    errors: [],
    left: ['l/a.x', 'l/b.x'],
    came: ['l/a-again', 'l/b.x'],
  });
  assert.equal(routeOf('a.x.com'), 'rc-a2');
  assert.equal(routeOf('b.x.com'), undefined, "l/b.x's old key is free");
  assert.equal(routeOf('c.x.com'), 'rc-b2');
  // A key another held scope keeps, or a scope sent under another name: nothing of the update applies.
  assert.deepEqual(apply(named(scope('l', 'd.x.com', 'rc-d'), { ...scope('l', 'c.x.com', 'rc'), name: 'l/c' }), []), {
    errors: [
      "ScopedRouteConfiguration l/c.key: scope key conflict found, first scope is 'l/b.x', second scope is 'l/c'",
    ],
    left: [],
    came: [],
  });
  assert.deepEqual(apply([['l/e', scope('l', 'e.x.com', 'rc-e')]], []).errors, [
    "ScopedRouteConfiguration l/e.x.name: differs from the name 'l/e' it was sent under",
  ]);
  assert.deepEqual([...index.byName.keys()].sort(), ['l/a-again', 'l/b.x']);
  assert.equal(routeOf('d.x.com'), undefined);
  assert.deepEqual(apply([], ['l/a-again', 'l/unknown']), { errors: [], left: ['l/a-again'], came: [] });
  assert.deepEqual(
    [...index.byKey.values()].map((s) => s.name),
    ['l/b.x'],
  );
});

test("a request goes through the early mutation, then its scope, then that scope's route table", () => {
  const errors = new ConfigErrors();
  const external = compileListener(listenerWith('gatehouse-external', scopedHcm('gatehouse-external')), errors)!;
  const local = compileListener(listenerWith('gatehouse-local', scopedHcm('gatehouse-local')), errors)!;
  const scopes = compileScopes(
    [
      scope('gatehouse-external', 'hello.default.example.com', 'gatehouse-external/default/hello'),
      scope('gatehouse-local', 'hello.default.svc.cluster.local', 'gatehouse-local/default/hello'),
      scope('gatehouse-external', 'later.default.example.com', 'gatehouse-external/default/later'),
    ],
    errors,
  );
  const rc = (name: string, domains: string[]) =>
    compileRouteConfiguration(
      {
        name,
        virtual_hosts: [
          {
            name: domains[0],
            domains,
            routes: [
              route(
                'by-listener',
                { prefix: '/', headers: [{ name: LISTENER_HEADER, string_match: { exact: 'gatehouse-external' } }] },
                'ext',
              ),
              route('any', { prefix: '/' }, 'other'),
            ],
            request_headers_to_remove: [LISTENER_HEADER],
          },
        ],
      },
      errors,
    );
  const tables = new Map<string, RouteTable>([
    [
      'gatehouse-external/default/hello',
      rc('gatehouse-external/default/hello', ['hello.default.example.com', 'hello.default.example.com:*']),
    ],
    [
      'gatehouse-local/default/hello',
      rc('gatehouse-local/default/hello', ['hello.default.svc.cluster.local', 'hello.default.svc', 'hello.default']),
    ],
  ]);
  assert.ok(errors.empty, errors.toString());
  const go = (l: ListenerConfig, raw: string[], url = '/') => routeRequest(l, scopes, tables, raw, url);

  const routed = go(external, [
    'Host',
    'hello.default.example.com:8080',
    'X-Gatehouse-Listener',
    'gatehouse-local',
    'Accept',
    '*/*',
  ])!;
  assert.equal(routed.table.name, 'gatehouse-external/default/hello');
  assert.equal(routed.route.name, 'by-listener', 'routes see the header the listener wrote');
  // strip_any_host_port rewrites the Host itself, as Envoy does.
  assert.deepEqual(routed.rawHeaders, [
    'host',
    'hello.default.example.com',
    'accept',
    '*/*',
    'x-gatehouse-listener',
    'gatehouse-external',
  ]);
  assert.equal(routed.authority, 'hello.default.example.com');
  assert.deepEqual(
    applyMutations(routed.rawHeaders, [routed.vh.requestHeaders]),
    ['host', 'hello.default.example.com', 'accept', '*/*'],
    'not sent upstream',
  );
  assert.equal(
    go(external, [':authority', 'hello.default.example.com', ':path', '/'])?.table.name,
    'gatehouse-external/default/hello',
    'HTTP/2',
  );

  // A cluster-local host is not served on the external listener, whatever the client claims.
  assert.equal(
    go(external, ['host', 'hello.default.svc.cluster.local', 'x-gatehouse-listener', 'gatehouse-local']),
    undefined,
  );
  assert.equal(
    go(local, ['host', 'hello.default.svc.cluster.local', 'x-gatehouse-listener', 'gatehouse-external'])?.table.name,
    'gatehouse-local/default/hello',
  );
  assert.equal(go(local, ['host', 'hello.default.svc.cluster.local'])?.route.name, 'any');
  assert.equal(go(local, ['host', 'hello.default.example.com']), undefined);

  // No scope for the host, a scope whose RouteConfiguration has not arrived, no authority: no route.
  assert.equal(go(external, ['host', 'nope.default.example.com']), undefined);
  assert.equal(go(external, ['host', 'later.default.example.com']), undefined);
  assert.equal(go(external, ['accept', '*/*']), undefined);

  // Host names are case-insensitive: the listener's Lua filter lower-cases the host, Envoy looks
  // the scope up again, and the upstream gets the lower-cased host. Without that filter the scope
  // key compares exactly, as Envoy's does.
  assert.equal(external.lowerCaseAuthority, true);
  const mixed = go(external, ['Host', 'Hello.Default.Example.COM:8080'])!;
  assert.equal(mixed.table.name, 'gatehouse-external/default/hello');
  assert.equal(mixed.authority, 'hello.default.example.com');
  assert.deepEqual(mixed.rawHeaders.slice(0, 2), ['host', 'hello.default.example.com']);
  assert.equal(
    go(external, [':authority', 'HELLO.default.example.com', ':path', '/'])?.rawHeaders[1],
    'hello.default.example.com',
    'HTTP/2',
  );
  assert.equal(go(local, ['host', 'Hello.Default.Svc.Cluster.Local'])?.table.name, 'gatehouse-local/default/hello');
  assert.equal(go({ ...external, lowerCaseAuthority: false }, ['host', 'Hello.default.example.com']), undefined);
  // Only A–Z change, as Envoy's ASCII lower-casing: a non-ASCII capital stays and finds nothing.
  assert.equal(go(external, ['host', 'hello.default.example.\u0130o']), undefined);

  // Without strip_any_host_port the port stays in the host, but this extractor cuts it anyway.
  assert.equal(
    go({ ...external, stripAnyHostPort: false }, ['host', 'hello.default.example.com:8080'])?.table.name,
    'gatehouse-external/default/hello',
  );
});

test(
  "http_filters: the router last, optionally after gatehouse's " +
    'host lower-casing Lua filter; any other Lua code is refused',
  () => {
    const compile = (filters: unknown[]) => {
      const errors = new ConfigErrors();
      const hcm = scopedHcm('l');
      hcm.http_filters = filters;
      const l = compileListener(listenerWith('l', hcm), errors);
      return { l, errors: errors.toString() };
    };
    const [lua, router] = scopedHcm('l').http_filters;
    assert.equal(compile([lua, router]).l?.lowerCaseAuthority, true);
    assert.equal(compile([router]).l?.lowerCaseAuthority, false);
    const other = structuredClone(lua);
    other.typed_config.default_source_code.inline_string = 'function envoy_on_request(r) end';
    assert.match(
      compile([other, router]).errors,
      /http_filters\[0\].*Lua code the embedded gateway does not implement/,
    );
    const errors = compile([router, lua]).errors;
    assert.match(errors, /http_filters\[0\]: the router filter must be the last/);
    assert.match(errors, /http_filters\[1\]: the last HTTP filter must be the router/);
  },
);

test('scoped_route_configurations_list: inline scopes with inline route tables', () => {
  const errors = new ConfigErrors();
  const hcm = scopedHcm('inline');
  delete hcm.scoped_routes.scoped_rds;
  hcm.scoped_routes.scoped_route_configurations_list = {
    scoped_route_configurations: [
      {
        name: 'inline/a',
        key: { fragments: [{ string_key: 'a' }, { string_key: 'example' }, { string_key: 'inline' }] },
        route_configuration: {
          name: 'inline-a',
          virtual_hosts: [{ name: 'a', domains: ['*'], routes: [route('a', { prefix: '/' })] }],
        },
      },
      scope('inline', 'b.example.com', 'rds-b'),
    ],
  };
  const l = compileListener(listenerWith('inline', hcm), errors)!;
  assert.ok(errors.empty, errors.toString());
  assert.deepEqual(
    [...l.scoped!.inlineScopes!.byName.values()].map((s) => [s.name, s.routeConfigName]),
    [
      ['inline/a', undefined],
      ['inline/b.example', 'rds-b'],
    ],
  );
  const srds = compileScopes([scope('inline', 'c.example.com', 'rds-c')], errors);
  const tables = new Map([
    [
      'rds-c',
      compileRouteConfiguration(
        { name: 'rds-c', virtual_hosts: [{ name: 'c', domains: ['*'], routes: [route('c', { prefix: '/' })] }] },
        errors,
      ),
    ],
  ]);
  assert.equal(routeRequest(l, srds, tables, ['host', 'a.example.com'], '/')?.route.name, 'a');
  assert.equal(
    routeRequest(l, srds, tables, ['host', 'c.example.com'], '/'),
    undefined,
    "the SRDS set is not this listener's",
  );
});
