// The controller's pure parts with exact values: validation, translation, backends, status, queue.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backendResources, sliceEndpoints } from '../../src/kube/backends.js';
import { ingressStatus, NOT_PROBED, sameStatus } from '../../src/kube/status.js';
import { translateIngress } from '../../src/kube/translate.js';
import type { EndpointSlice, KIngress, Service } from '../../src/kube/types.js';
import { validateIngress, type ValidIngress } from '../../src/kube/validate.js';
import { retryDelay, WorkQueue } from '../../src/kube/workqueue.js';
import { checkSnapshotConsistency } from '../../src/translate/consistency.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { validateResource } from '../../src/envoy/validate.js';
import { until } from '../support/cli.js';

const ingress = (spec: unknown, namespace = 'ns'): KIngress => ({
  metadata: { name: 'hello', namespace, generation: 3 },
  spec: spec as KIngress['spec'],
});
const split = (serviceName: string, percent?: number, extra: Record<string, unknown> = {}) => ({
  serviceName,
  serviceNamespace: 'ns',
  servicePort: 80,
  ...(percent === undefined ? {} : { percent }),
  ...extra,
});

function valid(spec: unknown): ValidIngress {
  const r = validateIngress(ingress(spec));
  assert.ok(r.ok, JSON.stringify(r));
  return r.spec;
}

test('validation: one split without a percent means 100; visibility defaults to ExternalIP', () => {
  const spec = valid({ rules: [{ hosts: ['a.example.com'], http: { paths: [{ splits: [split('a')] }] } }] });
  assert.equal(spec.rules[0]!.visibility, 'ExternalIP');
  assert.equal(spec.rules[0]!.paths[0]!.splits[0]!.percent, 100);
});

test('validation: every problem with its field path, in Knative words', () => {
  const r = validateIngress(
    ingress({
      httpOption: 'Sometimes',
      rules: [
        {
          hosts: [],
          visibility: 'Public',
          http: {
            paths: [{ path: 'no-slash', splits: [split('a', 50), split('b', 40, { serviceNamespace: 'other' })] }],
          },
        },
        { hosts: ['b.example.com'] },
        {
          hosts: ['c.example.com'],
          http: { paths: [{ headers: { x: {} }, splits: [split('', 101, { servicePort: '' })] }] },
        },
      ],
    }),
  );
  assert.ok(!r.ok);
  assert.deepEqual(
    r.problems.map((p) => `${p.path}: ${p.message}`),
    [
      'spec.httpOption: invalid value: Sometimes (Enabled or Redirected)',
      'spec.rules[0].visibility: invalid value: Public (ExternalIP or ClusterLocal)',
      'spec.rules[0].hosts: missing field(s): a rule needs at least one host',
      'spec.rules[0].http.paths[0].path: invalid value: "no-slash" (a path prefix starting with /)',
      'spec.rules[0].http.paths[0].splits[1].serviceNamespace: service namespace must match ingress namespace',
      'spec.rules[0].http.paths[0].splits: traffic split percentage must total to 100, but was 90',
      'spec.rules[1].http: missing field(s)',
      'spec.rules[2].http.paths[0].headers.x.exact: missing field(s)',
      'spec.rules[2].http.paths[0].splits[0].percent: invalid value: 101',
      'spec.rules[2].http.paths[0].splits[0].serviceName: missing field(s)',
      'spec.rules[2].http.paths[0].splits[0].servicePort: missing field(s)',
      'spec.rules[2].http.paths[0].splits: traffic split percentage must total to 100, but was 101',
    ],
  );
  assert.deepEqual(validateIngress(ingress({})), {
    ok: false,
    problems: [{ path: 'spec', message: 'missing field(s)' }],
  });
});

const SPEC = {
  rules: [
    {
      hosts: ['hello.ns.example.com'],
      visibility: 'ExternalIP',
      http: {
        paths: [
          { headers: { 'Knative-Serving-Tag': { exact: 'canary' } }, splits: [split('hello-00002', 100)] },
          {
            path: '/',
            appendHeaders: { 'K-Original-Host': 'hello.ns.example.com' },
            splits: [
              split('hello-00001', 90, { appendHeaders: { 'Knative-Serving-Revision': 'hello-00001' } }),
              split('hello-00002', 10),
            ],
          },
        ],
      },
    },
    {
      hosts: ['hello.ns', 'hello.ns.svc.cluster.local'],
      visibility: 'ClusterLocal',
      http: { paths: [{ rewriteHost: 'hello.ns.svc.cluster.local', splits: [split('hello-00001', 100)] }] },
    },
  ],
};

test(
  'translation: ExternalIP rules on both listeners, ClusterLocal on ' +
    'the local one; a scope per host; Envoy accepts every resource',
  () => {
    const r = translateIngress('ns', 'hello', valid(SPEC));
    assert.deepEqual(r.externalHosts, ['hello.ns.example.com']);
    assert.deepEqual(r.localHosts, ['hello.ns.example.com', 'hello.ns', 'hello.ns.svc.cluster.local']);
    assert.deepEqual(
      r.routeConfigs.map((rc) => rc.name),
      ['gatehouse-external/ns/hello', 'gatehouse-local/ns/hello'],
    );
    assert.deepEqual(
      r.scopes.map((s) => s.name),
      [
        'gatehouse-external/hello.ns.example.com',
        'gatehouse-local/hello.ns.example.com',
        'gatehouse-local/hello.ns',
        'gatehouse-local/hello.ns.svc.cluster.local',
      ],
    );
    assert.deepEqual(
      r.backends.map((b) => `${b.service}:${b.port}`),
      ['hello-00002:80', 'hello-00001:80'],
    );
    const vhost = (r.routeConfigs[0]!.virtual_hosts as Array<Record<string, any>>)[0]!;
    const routes = vhost.routes as Array<Record<string, any>>;
    // No probe route: the virtual host writes its hash over a probe's placeholder, as `gatehouse up`'s do.
    assert.equal(routes.length, 2);
    assert.deepEqual(vhost.request_headers_to_add, [
      { header: { key: 'k-network-hash', value: r.hash }, append_action: 'OVERWRITE_IF_EXISTS' },
    ]);
    assert.deepEqual(r.routeConfigs[0]!.request_headers_to_remove, ['x-gatehouse-listener']);
    assert.deepEqual(routes[0]!.match, {
      prefix: '/',
      headers: [{ name: 'Knative-Serving-Tag', string_match: { exact: 'canary' } }],
    });
    assert.deepEqual(
      routes[1]!.route.weighted_clusters.clusters.map((c: any) => [
        c.name,
        c.weight.value,
        c.request_headers_to_add.length,
      ]),
      [
        ['kube/ns/hello-00001:80', 90, 1],
        ['kube/ns/hello-00002:80', 10, 0],
      ],
    );
    assert.deepEqual(routes[1]!.request_headers_to_add, [
      {
        header: { key: 'K-Original-Host', value: 'hello.ns.example.com' },
        append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
      },
    ]);
    const local = (r.routeConfigs[1]!.virtual_hosts as Array<{ routes: Array<Record<string, any>> }>)[1]!.routes;
    assert.equal(local[0]!.route.host_rewrite_literal, 'hello.ns.svc.cluster.local');
    for (const rc of r.routeConfigs)
      assert.deepEqual(validateResource(TYPE_URL.route, rc), { valid: true, errors: [] });
    for (const s of r.scopes) assert.deepEqual(validateResource(TYPE_URL.scopedRoute, s), { valid: true, errors: [] });
    // Same spec, same hash; any change to what is routed, another.
    assert.equal(translateIngress('ns', 'hello', valid(SPEC)).hash, r.hash);
    const edited = structuredClone(SPEC);
    edited.rules[0]!.http.paths[1]!.splits[0]!.percent = 80;
    edited.rules[0]!.http.paths[1]!.splits[1]!.percent = 20;
    assert.notEqual(translateIngress('ns', 'hello', valid(edited)).hash, r.hash);
  },
);

test(
  'backends: the split port by number or name, the slice ' + 'port by the Service port name, ready endpoints only',
  () => {
    const service: Service = {
      metadata: { name: 'hello-00001', namespace: 'ns' },
      spec: {
        ports: [
          { name: 'http', port: 80, targetPort: 8012 },
          { name: 'h2c', port: 81, targetPort: 8013 },
        ],
      },
    };
    const slices: EndpointSlice[] = [
      {
        metadata: { name: 's1', namespace: 'ns' },
        addressType: 'IPv4',
        ports: [
          { name: 'http', port: 8012 },
          { name: 'h2c', port: 8013 },
        ],
        endpoints: [
          { addresses: ['10.0.0.2'], conditions: { ready: true } },
          { addresses: ['10.0.0.1'] },
          { addresses: ['10.0.0.3'], conditions: { ready: false } },
          { addresses: ['10.0.0.4'], conditions: { ready: true, terminating: true } },
        ],
      },
      {
        metadata: { name: 's2', namespace: 'ns' },
        addressType: 'FQDN',
        ports: [{ name: 'http', port: 8012 }],
        endpoints: [{ addresses: ['x.example.com'] }],
      },
    ];
    assert.deepEqual(sliceEndpoints(slices, 'http'), [
      { host: '10.0.0.1', port: 8012 },
      { host: '10.0.0.2', port: 8012 },
    ]);
    const byNumber = backendResources({ namespace: 'ns', service: 'hello-00001', port: 80 }, service, slices);
    assert.equal(byNumber.problem, undefined);
    assert.deepEqual(byNumber.endpoints, [
      { host: '10.0.0.1', port: 8012 },
      { host: '10.0.0.2', port: 8012 },
    ]);
    assert.deepEqual(validateResource(TYPE_URL.cluster, byNumber.cluster), { valid: true, errors: [] });
    assert.deepEqual(validateResource(TYPE_URL.endpoint, byNumber.assignment), { valid: true, errors: [] });
    const byName = backendResources({ namespace: 'ns', service: 'hello-00001', port: 'h2c' }, service, slices);
    assert.deepEqual(byName.endpoints, [
      { host: '10.0.0.1', port: 8013 },
      { host: '10.0.0.2', port: 8013 },
    ]);
    assert.ok(byName.cluster.typed_extension_protocol_options, 'an h2c port gets an HTTP/2 cluster');
    assert.equal(
      backendResources({ namespace: 'ns', service: 'gone', port: 80 }, undefined, []).problem,
      'Service ns/gone does not exist',
    );
    assert.equal(
      backendResources({ namespace: 'ns', service: 'hello-00001', port: 90 }, service, slices).problem,
      'Service ns/hello-00001 has no port 90',
    );
    const empty = backendResources({ namespace: 'ns', service: 'hello-00001', port: 80 }, service, []);
    assert.equal(empty.problem, 'Service ns/hello-00001 port 80 has no ready endpoints');
    assert.deepEqual(empty.assignment, { cluster_name: 'kube/ns/hello-00001:80', endpoints: [] });
    // With the ingress's routes, the snapshot is consistent.
    const r = translateIngress(
      'ns',
      'hello',
      valid({ rules: [{ hosts: ['a'], http: { paths: [{ splits: [split('hello-00001', 100)] }] } }] }),
    );
    assert.deepEqual(
      checkSnapshotConsistency({
        listeners: [],
        scopedRoutes: r.scopes,
        routes: r.routeConfigs,
        clusters: [byNumber.cluster],
        endpoints: [byNumber.assignment],
      }),
      [],
    );
  },
);

test(
  'status: Ready follows NetworkConfigured and ' + 'LoadBalancerReady; transition times hold while a status holds',
  () => {
    const base = {
      generation: 2,
      publicLoadBalancer: [{ domainInternal: 'gatehouse.gs.svc.cluster.local' }],
      privateLoadBalancer: [{ domainInternal: 'gatehouse-internal.gs.svc.cluster.local' }],
    };
    const waiting = ingressStatus(undefined, {
      ...base,
      configured: { ok: true },
      loadBalancer: NOT_PROBED,
      now: 'T1',
    });
    assert.deepEqual(waiting, {
      observedGeneration: 2,
      conditions: [
        {
          type: 'LoadBalancerReady',
          status: 'Unknown',
          reason: 'Uninitialized',
          message: 'Waiting for load balancer to be ready',
          lastTransitionTime: 'T1',
        },
        { type: 'NetworkConfigured', status: 'True', lastTransitionTime: 'T1' },
        {
          type: 'Ready',
          status: 'Unknown',
          reason: 'Uninitialized',
          message: 'Waiting for load balancer to be ready',
          lastTransitionTime: 'T1',
        },
      ],
    });
    const ready = ingressStatus(waiting, {
      ...base,
      configured: { ok: true },
      loadBalancer: { ready: true },
      now: 'T2',
    });
    assert.deepEqual(
      ready.conditions!.map((c) => `${c.type}=${c.status}@${c.lastTransitionTime}`),
      ['LoadBalancerReady=True@T2', 'NetworkConfigured=True@T1', 'Ready=True@T2'],
    );
    assert.deepEqual(ready.publicLoadBalancer, { ingress: base.publicLoadBalancer });
    assert.deepEqual(ready.privateLoadBalancer, { ingress: base.privateLoadBalancer });
    const invalid = ingressStatus(ready, {
      ...base,
      generation: 3,
      configured: { ok: false, reason: 'InvalidIngress', message: 'spec.rules: missing field(s)' },
      loadBalancer: { ready: true },
      now: 'T3',
    });
    assert.deepEqual(
      invalid.conditions!.map((c) => `${c.type}=${c.status}:${c.reason ?? ''}`),
      [
        'LoadBalancerReady=Unknown:Uninitialized',
        'NetworkConfigured=False:InvalidIngress',
        'Ready=False:InvalidIngress',
      ],
    );
    assert.equal(invalid.observedGeneration, 3);
    assert.ok(
      sameStatus(
        ready,
        ingressStatus(ready, { ...base, configured: { ok: true }, loadBalancer: { ready: true }, now: 'T9' }),
      ),
    );
    assert.ok(!sameStatus(ready, invalid));
  },
);

test(
  'work queue: a key runs once at a time, runs again if ' + 're-added meanwhile, and failures back off per key',
  async () => {
    assert.deepEqual(
      [1, 2, 3, 20].map((n) => retryDelay(n)),
      [10, 20, 40, 30_000],
    );
    const runs: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let failuresLeft = 2;
    const errors: number[] = [];
    const q = new WorkQueue(
      async (key) => {
        runs.push(key);
        if (key === 'a' && runs.filter((k) => k === 'a').length === 1) await gate;
        if (key === 'b' && failuresLeft-- > 0) throw new Error('conflict');
      },
      (_key, _err, delay) => errors.push(delay),
      { workers: 2, baseDelayMs: 1, maxDelayMs: 100 },
    );
    q.add('a');
    q.add('a'); // queued once
    await new Promise((r) => setImmediate(r));
    q.add('a'); // in flight: runs again afterwards
    q.add('b');
    release();
    await until(() => runs.filter((k) => k === 'b').length >= 3 && q.length === 0, 'b to run three times', 5000);
    assert.deepEqual(runs.filter((k) => k === 'a').length, 2);
    assert.deepEqual(runs.filter((k) => k === 'b').length, 3);
    assert.deepEqual(errors, [1, 2]);
    q.stop();
  },
);
