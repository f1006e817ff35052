// The embedded gateway serving what `gatehouse controller` sends for a KIngress with spec.tls and
// httpOption Redirected: the plain external listener answers 301 to https, the HTTPS listener picks
// each host's certificate by SNI (HTTP/1.1 and HTTP/2 by ALPN), certificates change without a new
// socket, and the listener shapes it does not serve are refused with their field paths.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { Agent, request } from 'undici';
import { selectCertificate } from '../../src/gateway/compile-tls.js';
import type * as envoy from '../../src/envoy/envoy-types.js';
import { ConfigErrors } from '../../src/gateway/compile-errors.js';
import { compileListener } from '../../src/gateway/compile-listener.js';
import { compileRouteConfiguration } from '../../src/gateway/compile-routes.js';
import { startGateway } from '../../src/gateway/index.js';
import { redirectLocation } from '../../src/gateway/proxy.js';
import { backendResources } from '../../src/kube/backends.js';
import { translateIngress } from '../../src/kube/translate.js';
import { validateIngress } from '../../src/kube/validate.js';
import { createLogger } from '../../src/log/logger.js';
import { httpsListener, ingressListeners, type TlsChain } from '../../src/translate/listener.js';
import { startXdsServer } from '../../src/xds/index.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { startExampleApp } from '../support/app.js';
import { TestCa } from '../support/certs.js';
import { until } from '../support/cli.js';

const log = createLogger('gateway-tls-test');
const ca = new TestCa('gateway-tls');
after(() => ca.remove());
const issue = (name: string, host: string) => {
  const files = ca.issue(name, [`DNS:${host}`]);
  return { certificateChain: readFileSync(files.cert, 'utf8'), privateKey: readFileSync(files.key, 'utf8') };
};
const caPem = readFileSync(ca.cert, 'utf8');

/** The certificate's CN the gateway presents for `servername`, or the handshake error. */
function peerName(port: number, servername: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, ...(servername ? { servername } : {}), ca: caPem, ALPNProtocols: ['http/1.1'] },
      () => {
        resolve(String(socket.getPeerCertificate().subject?.CN));
        socket.end();
      },
    );
    socket.on('error', (err) => resolve(`error: ${err.message}`));
  });
}

test(
  'TLS by SNI and Redirected: 301 on plain HTTP, each host its own ' +
    'certificate over HTTP/1.1 and HTTP/2, rotation on the same socket',
  async (t) => {
    const app = await startExampleApp({ K_REVISION: 'hello-00001' });
    t.after(() => app.stop());
    const xds = await startXdsServer({ port: 0, log });
    t.after(() => xds.close());
    const spec = validateIngress({
      metadata: { name: 'hello', namespace: 'ns' },
      spec: {
        httpOption: 'Redirected',
        rules: [
          {
            hosts: ['hello.example.com', 'other.example.com'],
            visibility: 'ExternalIP',
            http: { paths: [{ splits: [{ serviceName: 'hello', serviceNamespace: 'ns', servicePort: 80 }] }] },
          },
        ],
        tls: [
          { hosts: ['hello.example.com'], secretName: 'hello', secretNamespace: 'ns' },
          { hosts: ['other.example.com'], secretName: 'other', secretNamespace: 'ns' },
        ],
      },
    });
    assert.ok(spec.ok);
    const r = translateIngress('ns', 'hello', spec.spec);
    const backend = backendResources(
      { namespace: 'ns', service: 'hello', port: 80 },
      { metadata: { name: 'hello', namespace: 'ns' }, spec: { ports: [{ name: 'http', port: 80 }] } },
      [
        {
          metadata: { name: 's', namespace: 'ns' },
          addressType: 'IPv4',
          ports: [{ name: 'http', port: app.port }],
          endpoints: [{ addresses: ['127.0.0.1'] }],
        },
      ],
    );
    const chains = (hello: ReturnType<typeof issue>): TlsChain[] => [
      { serverNames: ['hello.example.com'], ...hello },
      { serverNames: ['other.example.com'], ...issue('other', 'other.example.com') },
    ];
    const listeners = ingressListeners({ externalPort: 0, localPort: 0, address: '127.0.0.1' });
    xds.cache.updateResources(TYPE_URL.cluster, [backend.cluster], []);
    xds.cache.updateResources(TYPE_URL.endpoint, [backend.assignment], []);
    xds.cache.updateResources(
      TYPE_URL.listener,
      [...listeners, httpsListener('127.0.0.1', 0, chains(issue('hello', 'hello.example.com')))],
      [],
    );
    xds.cache.updateResources(TYPE_URL.route, r.routeConfigs, []);
    xds.cache.updateResources(TYPE_URL.scopedRoute, r.scopes, []);
    const gateway = await startGateway({ xds: `127.0.0.1:${xds.port}`, nodeId: 'gw-tls', log });
    t.after(() => gateway.close());
    await gateway.ready;
    const plainPort = gateway.listenerPorts().get('gatehouse-external')!;
    const httpsPort = gateway.listenerPorts().get('gatehouse-external-tls')!;
    assert.ok(httpsPort > 0);

    // Plain HTTP: a 301 to the same host and path (query kept) on https, as Envoy's https_redirect.
    await until(
      async () =>
        (await request(`http://127.0.0.1:${plainPort}/`, { headers: { host: 'hello.example.com' } })).statusCode ===
        301,
      'the redirect',
    );
    const redirect = await request(`http://127.0.0.1:${plainPort}/some/path?q=1`, {
      headers: { host: 'Hello.example.com:80' },
    });
    assert.equal(redirect.statusCode, 301);
    assert.equal(redirect.headers.location, 'https://hello.example.com/some/path?q=1');
    assert.equal(await redirect.body.text(), '');
    // The cluster-local listener still serves the rule.
    const localPort = gateway.listenerPorts().get('gatehouse-local')!;
    assert.equal(
      (await request(`http://127.0.0.1:${localPort}/`, { headers: { host: 'hello.example.com' } })).statusCode,
      200,
    );

    // HTTPS: each name gets its own certificate; an unknown name or none gets no handshake.
    assert.equal(await peerName(httpsPort, 'hello.example.com'), 'hello');
    assert.equal(await peerName(httpsPort, 'other.example.com'), 'other');
    assert.match(await peerName(httpsPort, 'unknown.example.com'), /^error: /);
    assert.match(await peerName(httpsPort, undefined), /^error: /);
    const agent = new Agent({ connect: { ca: caPem } });
    t.after(() => agent.close());
    const res = await request(`https://127.0.0.1:${httpsPort}/headers`, {
      dispatcher: agent,
      headers: { host: 'hello.example.com' },
    });
    assert.equal(res.statusCode, 200);
    const seen = (await res.body.json()) as Record<string, string>;
    assert.equal(seen['x-forwarded-proto'], 'https', 'the edge tells the app the request came over TLS');
    // A probe over HTTPS reaches the backend with the KIngress's hash written in (the app echoes it).
    const probe = await request(`https://127.0.0.1:${httpsPort}/headers`, {
      dispatcher: agent,
      headers: { host: 'other.example.com', 'k-network-hash': 'override' },
    });
    assert.equal(((await probe.body.json()) as Record<string, string>)['k-network-hash'], r.hash);

    // HTTP/2 by ALPN.
    const session = http2.connect(`https://127.0.0.1:${httpsPort}`, { servername: 'hello.example.com', ca: caPem });
    t.after(() => session.close());
    const h2status = await new Promise<number>((resolve, reject) => {
      const stream = session.request({ ':path': '/', ':authority': 'hello.example.com' });
      stream.on('response', (h) => resolve(Number(h[':status'])));
      stream.on('error', reject);
      stream.resume();
    });
    assert.equal(h2status, 200);

    // A new certificate for hello: new handshakes get it, on the same port.
    xds.cache.updateResources(
      TYPE_URL.listener,
      [httpsListener('127.0.0.1', 0, chains(issue('hello-rotated', 'hello.example.com')))],
      [],
    );
    await until(
      async () => (await peerName(httpsPort, 'hello.example.com')) === 'hello-rotated',
      'the rotated certificate',
    );
    assert.equal(gateway.listenerPorts().get('gatehouse-external-tls'), httpsPort);
  },
);

test(
  'TLS listener shapes the gateway does not serve are refused ' + 'with the field path; redirects as Envoy writes them',
  () => {
    const cert = issue('shape', 'shape.example.com');
    const wrong = issue('shape-other', 'x.example.com');
    const compile = (l: Record<string, unknown>) => {
      const errors = new ConfigErrors();
      const config = compileListener(structuredClone(l), errors);
      return { config, errors: errors.messages };
    };
    // Through JSON, as from the wire: the chains must not share their filters objects.
    const base = () =>
      JSON.parse(
        JSON.stringify(
          httpsListener('127.0.0.1', 0, [
            { serverNames: ['a.example.com'], ...cert },
            { serverNames: ['*.example.com'], ...cert },
          ]),
        ),
      ) as Record<string, any>;
    const ok = compile(base());
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(
      [...ok.config!.tls!.exact.keys(), ...ok.config!.tls!.wildcard.keys()],
      ['a.example.com', '.example.com'],
    );

    // Envoy's order: exact, then wildcards from the longest suffix (any depth), then the chain without names.
    const ordered = compile(
      JSON.parse(
        JSON.stringify(
          httpsListener('127.0.0.1', 0, [
            { serverNames: ['a.b.example.com'], ...cert },
            { serverNames: ['*.b.example.com'], ...cert },
            { serverNames: ['*.example.com'], ...cert },
            { serverNames: [], ...cert },
          ]),
        ),
      ) as Record<string, unknown>,
    );
    assert.deepEqual(ordered.errors, []);
    const tlsConfig = ordered.config!.tls!;
    const chainOf = (name: string | undefined) => tlsConfig.certificates.indexOf(selectCertificate(tlsConfig, name)!);
    const names = [
      'A.B.example.com',
      'x.b.example.com',
      'x.y.b.example.com',
      'b.example.com',
      'example.com',
      undefined,
    ];
    assert.deepEqual(names.map(chainOf), [0, 1, 1, 2, 3, 3]);

    const cases: Array<[string, (l: Record<string, any>) => void, RegExp]> = [
      [
        'duplicate server name',
        (l) => (l.filter_chains[1].filter_chain_match.server_names = ['a.example.com']),
        new RegExp(
          String.raw`filter_chains\[1\]\.filter_chain_match\.server_names: "a\.example\.com" ` +
            'is matched by an earlier filter chain too',
        ),
      ],
      [
        'mismatched key',
        (l) =>
          (l.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0].private_key = {
            inline_string: wrong.privateKey,
          }),
        new RegExp(
          String.raw`filter_chains\[0\]\.transport_socket\.typed_config\.common_tls_context\.tls_certificates\[0\]: ` +
            'does not load: .*key values mismatch',
        ),
      ],
      [
        'certificate from a file',
        (l) =>
          (l.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates[0].certificate_chain = {
            filename: '/etc/cert.pem',
          }),
        /certificate_chain\.filename: is not supported/,
      ],
      [
        'differing filters',
        (l) => (l.filter_chains[1].filters[0].typed_config.stat_prefix = 'other'),
        /filter_chains\[1\]\.filters: differ from filter_chains\[0\]\.filters/,
      ],
      [
        'TLS and plain chains mixed',
        (l) => delete l.filter_chains[1].transport_socket,
        /mixes chains with and without transport_socket/,
      ],
      [
        'two certificates in a chain',
        (l) => l.filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificates.push({}),
        /tls_certificates: has 2 entries/,
      ],
      [
        'client certificates',
        (l) => (l.filter_chains[0].transport_socket.typed_config.require_client_certificate = true),
        /typed_config\.require_client_certificate: is not supported/,
      ],
      [
        'another listener filter',
        (l) => l.listener_filters.push({ name: 'envoy.filters.listener.proxy_protocol' }),
        /listener_filters\[1\]: envoy\.filters\.listener\.proxy_protocol is not supported/,
      ],
      [
        'match on a port',
        (l) => (l.filter_chains[0].filter_chain_match.destination_port = 443),
        /filter_chain_match\.destination_port: is not supported/,
      ],
      ['no chains', (l) => (l.filter_chains = []), /filter_chains: needs at least one filter chain/],
    ];
    for (const [name, edit, expected] of cases) {
      const l = base();
      edit(l);
      const { errors } = compile(l);
      assert.ok(
        errors.some((e) => expected.test(e)),
        `${name}: ${errors.join(' | ')}`,
      );
    }

    // Redirect routes: Envoy's default 301, other codes by name; route and redirect together refused.
    const table = (routes: envoy.envoy_config_route_v3_Route[]) => {
      const errors = new ConfigErrors();
      const t = compileRouteConfiguration(
        { name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes }] },
        errors,
      );
      return { route: t.catchAll?.routes[0], errors: errors.messages };
    };
    const permanent = table([{ match: { prefix: '/' }, redirect: { https_redirect: true } }]).route!;
    assert.deepEqual(permanent.redirect, { scheme: 'https', status: 301, stripQuery: false });
    assert.equal(
      redirectLocation(permanent, 'http', 'a.example.com:8080', '/x?y'),
      'https://a.example.com:8080/x?y',
      'a non-default port stays, as in Envoy',
    );
    assert.equal(redirectLocation(permanent, 'http', 'a.example.com:80', '/'), 'https://a.example.com/');
    const temporary = table([
      {
        match: { prefix: '/' },
        redirect: { scheme_redirect: 'HTTPS', response_code: 'TEMPORARY_REDIRECT', strip_query: true },
      },
    ]).route!;
    assert.equal(temporary.redirect!.status, 307);
    assert.equal(redirectLocation(temporary, 'http', 'a.example.com', '/x?y=1'), 'https://a.example.com/x');
    assert.match(
      table([{ match: { prefix: '/' }, redirect: { host_redirect: 'b.example.com' } }]).errors.join(),
      /redirect\.host_redirect: is not supported/,
    );
    assert.match(
      table([{ match: { prefix: '/' }, redirect: { https_redirect: true }, route: { cluster: 'c' } }]).errors.join(),
      /sets route and redirect/,
    );
  },
);
