// KIngress spec.tls and httpOption Redirected, the pure parts with exact values: validation,
// translation (Kourier's shape, checked against Envoy's protos), Secrets → certificates, and the
// HTTPS listener's chains. Certificates come from openssl at test time.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { secretCertificate, tlsChains, type TlsClaim } from '../../src/kube/tls.js';
import { translateIngress } from '../../src/kube/translate.js';
import type { KIngress, Secret } from '../../src/kube/types.js';
import { validateIngress, type TlsRef, type ValidIngress } from '../../src/kube/validate.js';
import { translate } from '../../src/translate/index.js';
import { httpsListener } from '../../src/translate/listener.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { validateResource } from '../../src/envoy/validate.js';
import { TestCa } from '../support/certs.js';

const ca = new TestCa('kube-tls-pure');
after(() => ca.remove());
const pem = (files: { cert: string; key: string }) => ({
  cert: readFileSync(files.cert, 'utf8'),
  key: readFileSync(files.key, 'utf8'),
});
const hello = pem(ca.issue('hello', ['DNS:hello.ns.example.com']));
const other = pem(ca.issue('other', ['DNS:other.example.com']));

const ingress = (spec: unknown): KIngress => ({
  metadata: { name: 'hello', namespace: 'ns', generation: 1 },
  spec: spec as KIngress['spec'],
});
const split = (serviceName: string) => ({ serviceName, serviceNamespace: 'ns', servicePort: 80, percent: 100 });
const rules = [
  {
    hosts: ['hello.ns.example.com'],
    visibility: 'ExternalIP',
    http: { paths: [{ path: '/api', splits: [split('api')] }, { splits: [split('hello')] }] },
  },
  {
    hosts: ['hello.ns.svc.cluster.local'],
    visibility: 'ClusterLocal',
    http: { paths: [{ splits: [split('hello')] }] },
  },
];
const tls = [{ hosts: ['hello.ns.example.com'], secretName: 'hello-cert', secretNamespace: 'ns' }];

function valid(spec: unknown): ValidIngress {
  const r = validateIngress(ingress(spec));
  assert.ok(r.ok, JSON.stringify(r));
  return r.spec;
}

const secret = (data: Record<string, string>, type = 'kubernetes.io/tls'): Secret => ({
  metadata: { name: 'hello-cert', namespace: 'ns' },
  type,
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});

test(
  'validation: spec.tls entries need hosts and a Secret; ' + 'Redirected needs a certificate for every external host',
  () => {
    const r = validateIngress(
      ingress({
        httpOption: 'Redirected',
        rules,
        tls: [
          { hosts: [], secretName: 'a' },
          { hosts: ['bad host'], secretName: '', secretNamespace: 'ns' },
          'nonsense',
        ],
      }),
    );
    assert.ok(!r.ok);
    assert.deepEqual(
      r.problems.map((p) => `${p.path}: ${p.message}`),
      [
        'spec.tls[0].hosts: missing field(s): a certificate serves at least one host',
        'spec.tls[0].secretNamespace: missing field(s)',
        'spec.tls[1].hosts[0]: invalid value: "bad host"',
        'spec.tls[1].secretName: missing field(s)',
        'spec.tls[2]: missing field(s)',
        'spec.rules[0].hosts[0]: httpOption Redirected sends hello.ns.example.com ' +
          'to https, but no spec.tls entry has a certificate for it',
      ],
    );
    assert.deepEqual(validateIngress(ingress({ rules, tls: 'x' })), {
      ok: false,
      problems: [{ path: 'spec.tls', message: 'invalid value: must be a list' }],
    });
    // A wildcard certificate covers one more label; a ClusterLocal rule is never redirected.
    assert.equal(
      valid({
        httpOption: 'Redirected',
        rules,
        tls: [{ hosts: ['*.ns.example.com'], secretName: 'w', secretNamespace: 'ns' }],
      }).httpOption,
      'Redirected',
    );
    assert.equal(valid({ rules }).httpOption, 'Enabled');
  },
);

test(
  'translation: Redirected answers the plain external listener with ' +
    'https_redirect, the HTTPS listener serves, cluster-local serves',
  () => {
    const r = translateIngress('ns', 'hello', valid({ httpOption: 'Redirected', rules, tls }));
    assert.deepEqual(
      r.routeConfigs.map((rc) => rc.name),
      ['gatehouse-external/ns/hello', 'gatehouse-external-tls/ns/hello', 'gatehouse-local/ns/hello'],
    );
    const routesOf = (i: number, vh = 0) =>
      (r.routeConfigs[i]!.virtual_hosts as Array<Record<string, any>>)[vh]!.routes as Array<Record<string, any>>;
    assert.deepEqual(routesOf(0), [
      { match: { prefix: '/api' }, redirect: { https_redirect: true } },
      { match: { prefix: '/' }, redirect: { https_redirect: true } },
    ]);
    assert.deepEqual(
      routesOf(1).map((x) => x.route.weighted_clusters.clusters[0].name),
      ['kube/ns/api:80', 'kube/ns/hello:80'],
    );
    assert.deepEqual(
      routesOf(2).map((x) => x.route.weighted_clusters.clusters[0].name),
      ['kube/ns/api:80', 'kube/ns/hello:80'],
    );
    assert.deepEqual(
      routesOf(2, 1).map((x) => x.route.weighted_clusters.clusters[0].name),
      ['kube/ns/hello:80'],
    );
    assert.deepEqual(
      r.scopes.map((s) => s.name),
      [
        'gatehouse-external/hello.ns.example.com',
        'gatehouse-external-tls/hello.ns.example.com',
        'gatehouse-local/hello.ns.example.com',
        'gatehouse-local/hello.ns.svc.cluster.local',
      ],
    );
    // A 301 proves nothing about the backend: the external host is probed over HTTPS instead.
    assert.deepEqual(
      [r.externalHosts, r.tlsHosts, r.localHosts],
      [[], ['hello.ns.example.com'], ['hello.ns.example.com', 'hello.ns.svc.cluster.local']],
    );
    assert.deepEqual(r.tls, tls);
    for (const rc of r.routeConfigs)
      assert.deepEqual(validateResource(TYPE_URL.route, rc), { valid: true, errors: [] });
    for (const s of r.scopes) assert.deepEqual(validateResource(TYPE_URL.scopedRoute, s), { valid: true, errors: [] });
    // Enabled with TLS: both external listeners serve and both are probed; the hash tells them apart.
    const enabled = translateIngress('ns', 'hello', valid({ rules, tls }));
    assert.deepEqual([enabled.externalHosts, enabled.tlsHosts], [['hello.ns.example.com'], ['hello.ns.example.com']]);
    assert.ok(routesOf(1).every((x) => x.route));
    assert.notEqual(enabled.hash, r.hash);
    assert.notEqual(translateIngress('ns', 'hello', valid({ rules })).hash, enabled.hash);
    // Without spec.tls, no HTTPS listener configuration at all.
    assert.deepEqual(
      translateIngress('ns', 'hello', valid({ rules })).routeConfigs.map((rc) => rc.name),
      ['gatehouse-external/ns/hello', 'gatehouse-local/ns/hello'],
    );
  },
);

test('the KIngress path makes the same virtual host as `gatehouse up` for the same route', () => {
  const up = translate({
    domain: 'example.com',
    listeners: { externalPort: 8080, localPort: 8081, address: '0.0.0.0' },
    routes: [
      {
        namespace: 'ns',
        name: 'hello',
        visibility: 'external',
        traffic: [{ revisionName: 'hello-00001', percent: 100 }],
      },
    ],
    revisions: new Map(),
  });
  // gatehouse up's one RouteConfiguration per route serves both listeners: its external part is the KIngress's.
  const merged = up.routes.find((rc) => rc.name === 'ns/hello')!;
  const upConfig = {
    ...merged,
    name: 'gatehouse-external/ns/hello',
    virtual_hosts: (merged.virtual_hosts as Array<Record<string, unknown>>).map((v) => ({
      ...v,
      domains: (v.domains as string[]).filter((d) => d.endsWith('.example.com')),
    })),
  };
  const kube = translateIngress(
    'ns',
    'hello',
    valid({
      rules: [
        {
          hosts: ['hello.ns.example.com'],
          visibility: 'ExternalIP',
          http: {
            paths: [
              {
                splits: [
                  {
                    ...split('hello-00001'),
                    appendHeaders: { 'knative-serving-namespace': 'ns', 'knative-serving-revision': 'hello-00001' },
                  },
                ],
              },
            ],
          },
        },
      ],
    }),
  );
  const kubeConfig = kube.routeConfigs.find((rc) => rc.name === 'gatehouse-external/ns/hello')!;
  // Only the names differ (a KIngress names its rule; its cluster is the Service port's) and the hash.
  const shape = (rc: Record<string, any>, hash: string) =>
    JSON.parse(
      JSON.stringify(rc)
        .replaceAll(hash, 'HASH')
        .replaceAll('kube/ns/hello-00001:80', 'ns/hello-00001')
        .replace(/"name":"ns\/hello(\/0)?"/, '"name":"VHOST"'),
    );
  assert.deepEqual(shape(kubeConfig, kube.hash), shape(upConfig, up.routeHashes.get('ns/hello')!));
});

test(
  'Secrets: a missing, mistyped, incomplete or malformed one ' +
    'is named with what is wrong; a good one gives its PEM',
  () => {
    const ref: TlsRef = tls[0]!;
    const problem = (s: Secret | undefined) => {
      const c = secretCertificate(ref, s);
      return c.ok ? 'ok' : c.problem;
    };
    assert.equal(
      problem(undefined),
      'Secret ns/hello-cert does not exist (spec.tls needs a ' +
        'Secret of type kubernetes.io/tls with tls.crt and tls.key)',
    );
    assert.equal(
      problem(secret({ 'tls.crt': hello.cert, 'tls.key': hello.key }, 'Opaque')),
      'Secret ns/hello-cert is of type Opaque, not kubernetes.io/tls',
    );
    assert.equal(problem(secret({ 'tls.key': hello.key })), 'Secret ns/hello-cert has no tls.crt');
    assert.equal(problem(secret({ 'tls.crt': hello.cert })), 'Secret ns/hello-cert has no tls.key');
    assert.match(
      problem(secret({ 'tls.crt': 'not a certificate', 'tls.key': hello.key })),
      /^Secret ns\/hello-cert tls\.crt is not a PEM certificate: /,
    );
    assert.match(
      problem(secret({ 'tls.crt': hello.cert, 'tls.key': other.key })),
      /^Secret ns\/hello-cert tls\.key does not go with tls\.crt: .*key values mismatch/,
    );
    assert.deepEqual(secretCertificate(ref, secret({ 'tls.crt': hello.cert, 'tls.key': hello.key })), {
      ok: true,
      certificateChain: hello.cert,
      privateKey: hello.key,
    });
  },
);

test(
  'HTTPS listener: a chain per Secret with the hosts of every entry ' +
    'naming it; a name stays with the first Secret; Envoy accepts it',
  () => {
    const good = (p: { cert: string; key: string }) => ({
      ok: true as const,
      certificateChain: p.cert,
      privateKey: p.key,
    });
    const claims: TlsClaim[] = [
      {
        ingress: 'ns/a',
        ref: { hosts: ['a.example.com'], secretNamespace: 'ns', secretName: 'shared' },
        certificate: good(hello),
      },
      {
        ingress: 'ns/b',
        ref: { hosts: ['b.example.com', 'a.example.com'], secretNamespace: 'ns', secretName: 'shared' },
        certificate: good(hello),
      },
      {
        ingress: 'ns/c',
        ref: { hosts: ['a.example.com', 'c.example.com'], secretNamespace: 'ns', secretName: 'c' },
        certificate: good(other),
      },
      {
        ingress: 'ns/d',
        ref: { hosts: ['d.example.com'], secretNamespace: 'ns', secretName: 'broken' },
        certificate: { ok: false, problem: 'Secret ns/broken has no tls.crt' },
      },
    ];
    const { chains, lost } = tlsChains(claims);
    assert.deepEqual(
      chains.map((c) => [c.serverNames, c.certificateChain === hello.cert]),
      [
        [['a.example.com', 'b.example.com'], true],
        [['c.example.com'], false],
      ],
    );
    assert.deepEqual([...lost], [['ns/c', ['a.example.com (already served with Secret ns/shared)']]]);
    const listener = httpsListener('0.0.0.0', 8443, chains);
    assert.deepEqual(validateResource(TYPE_URL.listener, listener), { valid: true, errors: [] });
    const chain = (listener.filter_chains as Array<Record<string, any>>)[0]!;
    assert.deepEqual(chain.filter_chain_match, { server_names: ['a.example.com', 'b.example.com'] });
    assert.equal(chain.transport_socket.typed_config['@type'], TYPE_URL.downstreamTlsContext);
    assert.deepEqual(chain.transport_socket.typed_config.common_tls_context.alpn_protocols, ['h2', 'http/1.1']);
    assert.equal(
      chain.filters[0].typed_config.use_remote_address.value,
      true,
      'the HTTPS listener is an edge, as the plain external one',
    );
  },
);
