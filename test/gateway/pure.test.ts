// The gateway's lookups as Envoy defines them: domain order, route order, weighted picks, header mutations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileCluster, compileRouteConfiguration, ConfigErrors } from '../../src/gateway/compile.js';
import { applyMutations, findVirtualHost, matchRoute, pickTarget, routingHost } from '../../src/gateway/match.js';

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
            route('no-debug', { prefix: '/api', headers: [{ name: 'x-debug', present_match: true, invert_match: true }] }),
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
  for (const [url, headers, want] of cases) assert.equal(matchRoute(vh, url, headers)?.name, want, `${url} ${JSON.stringify(headers)}`);
});

test('weighted clusters: cumulative ranges; weight 0 never picked', () => {
  const errors = new ConfigErrors();
  const table = compileRouteConfiguration(
    {
      name: 'rc',
      virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ name: 'split', match: { prefix: '/' }, route: { weighted_clusters: { clusters: [
        { name: 'a', weight: { value: 80 } },
        { name: 'zero', weight: { value: 0 } },
        { name: 'b', weight: { value: 20 } },
      ] } } }] }],
    },
    errors,
  );
  const r = table.catchAll!.routes[0]!;
  assert.equal(r.totalWeight, 100);
  const cases: Array<[number, string]> = [[0, 'a'], [0.7999, 'a'], [0.8, 'b'], [0.9999, 'b']];
  for (const [x, want] of cases) assert.equal(pickTarget(r, x).cluster, want, String(x));
  assert.equal(r.timeoutMs, 15_000, "Envoy's default route timeout");
});

test('header mutations apply in order with each append action', () => {
  const base = ['a', '1', 'b', '2'];
  const m = (add: Array<[string, string, 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS']>, remove: string[] = []) => ({ remove, add: add.map(([name, value, action]) => ({ name, value, action })) });
  assert.deepEqual(applyMutations([...base], [m([['a', '3', 'APPEND_IF_EXISTS_OR_ADD']])]), ['a', '1', 'b', '2', 'a', '3']);
  assert.deepEqual(applyMutations([...base], [m([['a', '3', 'ADD_IF_ABSENT'], ['c', '4', 'ADD_IF_ABSENT']])]), ['a', '1', 'b', '2', 'c', '4']);
  assert.deepEqual(applyMutations([...base], [m([['a', '3', 'OVERWRITE_IF_EXISTS_OR_ADD']])]), ['b', '2', 'a', '3']);
  assert.deepEqual(applyMutations([...base], [m([['c', '3', 'OVERWRITE_IF_EXISTS']])]), base);
  // The later (less specific) level wins an overwrite, as with Envoy's default.
  assert.deepEqual(applyMutations([...base], [m([['x', 'route', 'OVERWRITE_IF_EXISTS_OR_ADD']]), m([['x', 'vhost', 'OVERWRITE_IF_EXISTS_OR_ADD']], ['b'])]), ['a', '1', 'x', 'vhost']);
});

test('unsupported config is refused with its field path', () => {
  const errors = new ConfigErrors();
  compileCluster({ name: 'dns', type: 'LOGICAL_DNS' }, errors);
  compileCluster({ name: 'ring', type: 'EDS', lb_policy: 'RING_HASH', circuit_breakers: {} }, errors);
  compileRouteConfiguration({ name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }] }, errors);
  assert.deepEqual(errors.messages, [
    'Cluster dns.type: LOGICAL_DNS is not supported; use EDS or STATIC',
    'Cluster ring.circuit_breakers: is not supported by the embedded gateway (use Envoy for this resource)',
    'Cluster ring.lb_policy: RING_HASH is not supported; use ROUND_ROBIN, RANDOM or LEAST_REQUEST',
    'RouteConfiguration rc.virtual_hosts[0] (vh).routes[0].direct_response: is not supported by the embedded gateway (use Envoy for this resource)',
    'RouteConfiguration rc.virtual_hosts[0] (vh).routes[0].route: is required (direct_response and redirect are not supported)',
  ]);
});
