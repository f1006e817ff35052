// xDS over TLS and mutual TLS, with certificates made for the test: the node must be named by its
// client certificate, a mismatch is refused with PERMISSION_DENIED and logged, and the gatehouse
// clients (embedded gateway, activators, ADS client) connect with the matching flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { startXdsServer } from '../../src/xds/index.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { certificateNames, nodeMismatch } from '../../src/xds/server/identity.js';
import { AdsClient } from '../../src/xds/client/ads-client.js';
import { startGateway } from '../../src/gateway/index.js';
import { translate } from '../../src/translate/index.js';
import { createLogger } from '../../src/log/logger.js';
import { desired, revision, route, routing } from '../support/desired.js';
import { AdsTestStream } from '../support/ads-client.js';
import { captureLog } from '../support/capture-log.js';
import { TestCa, type CertFiles } from '../support/certs.js';

const ca = new TestCa();
const stranger = new TestCa('stranger-ca', ca.dir);
process.on('exit', () => ca.remove());
const serverCert = ca.issue('xds-server', ['DNS:localhost', 'IP:127.0.0.1']);

function state() {
  return desired(
    [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
    [routing(revision('hello-00001'), 'serve', [{ host: '127.0.0.1', port: 9001 }])],
  );
}

async function server(t: { after(fn: () => unknown): void }, mutual: boolean) {
  const log = captureLog();
  const xds = await startXdsServer({ port: 0, log, tls: { ...serverCert, ...(mutual ? { clientCa: ca.cert } : {}) } });
  t.after(() => xds.close());
  xds.cache.setTranslation(translate(state()));
  return { xds, log };
}

function credentials(client?: CertFiles, authority = ca) {
  return grpc.credentials.createSsl(
    readFileSync(authority.cert),
    client ? readFileSync(client.key) : null,
    client ? readFileSync(client.cert) : null,
  );
}

/** Opens a SotW stream as `node` and returns its first response or how the stream ended. */
async function attempt(port: number, node: { id: string; cluster: string }, creds: grpc.ChannelCredentials) {
  const stream = new AdsTestStream(port, false, { 'grpc.use_local_subchannel_pool': 1 }, '127.0.0.1', creds);
  try {
    stream.send({ node, type_url: TYPE_URL.cluster });
    return await Promise.race([
      stream.next(5000).then((r) => ({ served: r.resources.size })),
      stream.ended.then((s) => ({ code: s.code, details: s.details })),
    ]);
  } finally {
    stream.close();
  }
}

test('SAN rule: node.id or node.cluster must equal a DNS or URI name of the certificate', () => {
  assert.deepEqual(
    certificateNames('DNS:envoy-1, URI:spiffe://gatehouse/ns/edge/sa/envoy, IP Address:127.0.0.1, email:a@b'),
    ['envoy-1', 'spiffe://gatehouse/ns/edge/sa/envoy'],
  );
  assert.deepEqual(certificateNames('DNS:"a,b", DNS:c'), ['a,b', 'c']);
  assert.deepEqual(certificateNames(undefined), []);
  const names = ['envoy-1', 'spiffe://gatehouse/ns/edge/sa/envoy'];
  assert.equal(nodeMismatch({ id: 'envoy-1', cluster: 'gatehouse-ingress' }, names), undefined);
  assert.equal(nodeMismatch({ id: 'spiffe://gatehouse/ns/edge/sa/envoy', cluster: '' }, names), undefined);
  assert.equal(
    nodeMismatch({ id: 'envoy-2', cluster: 'envoy-1' }, names),
    undefined,
    'a fleet certificate names the cluster',
  );
  assert.match(
    nodeMismatch({ id: 'envoy-2', cluster: 'gatehouse-ingress' }, names)!,
    /node\.id "envoy-2" and node\.cluster "gatehouse-ingress" do not match .*\(envoy-1, spiffe:/,
  );
  assert.equal(nodeMismatch({ id: 'Envoy-1', cluster: '' }, names) !== undefined, true, 'compared exactly');
  assert.match(nodeMismatch({ id: 'x', cluster: '' }, [])!, /no DNS or URI names/);
  assert.equal(nodeMismatch({ id: 'x', cluster: '' }, ['']) !== undefined, true, 'an empty cluster matches nothing');
});

test('TLS: a client that trusts the CA is served; plaintext and a client trusting another CA are not', async (t) => {
  const { xds } = await server(t, false);
  assert.equal(xds.security, 'tls');
  assert.deepEqual(await attempt(xds.port, { id: 'anyone', cluster: 'x' }, credentials()), { served: 2 });
  const plain = await attempt(xds.port, { id: 'anyone', cluster: 'x' }, grpc.credentials.createInsecure());
  assert.equal((plain as { code: number }).code, grpc.status.UNAVAILABLE);
  const wrongCa = await attempt(xds.port, { id: 'anyone', cluster: 'x' }, credentials(undefined, stranger));
  assert.equal((wrongCa as { code: number }).code, grpc.status.UNAVAILABLE);
});

test(
  'mutual TLS: the node named by the certificate is served; another node id is ' +
    'PERMISSION_DENIED and logged; no or a foreign certificate cannot connect',
  async (t) => {
    const { xds, log } = await server(t, true);
    assert.equal(xds.security, 'mtls');
    const envoy1 = ca.issue('envoy-1', ['DNS:envoy-1']);
    const fleet = ca.issue('fleet', ['URI:spiffe://gatehouse/ingress', 'DNS:gatehouse-ingress']);
    assert.deepEqual(await attempt(xds.port, { id: 'envoy-1', cluster: 'gatehouse-ingress' }, credentials(envoy1)), {
      served: 2,
    });
    const forged = await attempt(
      xds.port,
      { id: 'gatehouse-gateway', cluster: 'gatehouse-ingress' },
      credentials(envoy1),
    );
    assert.equal((forged as { code: number }).code, grpc.status.PERMISSION_DENIED);
    const details = (forged as { details: string }).details;
    assert.match(details, /node\.id "gatehouse-gateway" and node\.cluster "gatehouse-ingress" do not match/);
    assert.match(details, /the client certificate's subject alternative names \(envoy-1\)/);
    const line = log.lines.find((l) => l.msg === 'xDS stream refused: node does not match the client certificate');
    assert.equal(line?.fields.node, 'gatehouse-gateway');
    assert.equal(xds.status.get('gatehouse-gateway'), undefined, 'a refused node leaves no record');
    // A fleet certificate names the cluster: any node id in it.
    assert.deepEqual(await attempt(xds.port, { id: 'envoy-7', cluster: 'gatehouse-ingress' }, credentials(fleet)), {
      served: 2,
    });
    assert.equal(
      (
        (await attempt(xds.port, { id: 'envoy-7', cluster: 'gatehouse-activators' }, credentials(fleet))) as {
          code: number;
        }
      ).code,
      grpc.status.PERMISSION_DENIED,
    );
    // No client certificate, or one from another CA: the handshake fails.
    assert.equal(
      ((await attempt(xds.port, { id: 'envoy-1', cluster: '' }, credentials())) as { code: number }).code,
      grpc.status.UNAVAILABLE,
    );
    const foreign = stranger.issue('envoy-1', ['DNS:envoy-1']);
    assert.equal(
      ((await attempt(xds.port, { id: 'envoy-1', cluster: '' }, credentials(foreign))) as { code: number }).code,
      grpc.status.UNAVAILABLE,
    );
  },
);

test(
  'mutual TLS: the embedded gateway and the ADS client connect ' +
    'with --xds-ca/--xds-cert/--xds-key; a missing file is named',
  async (t) => {
    const { xds } = await server(t, true);
    const gatewayCert = ca.issue('gateway', ['DNS:gatehouse-gateway']);
    const log = createLogger('test');
    const gateway = await startGateway({
      xds: `127.0.0.1:${xds.port}`,
      nodeId: 'gatehouse-gateway',
      xdsTls: { ca: ca.cert, ...gatewayCert },
      log,
    });
    t.after(() => gateway.close());
    await gateway.ready;
    assert.equal(gateway.status().xds.connected, true);
    const activatorCert = ca.issue('activators', ['DNS:gatehouse-activators']);
    const ads = new AdsClient({
      target: `127.0.0.1:${xds.port}`,
      node: { id: 'activator-0', cluster: 'gatehouse-activators' },
      tls: { ca: ca.cert, ...activatorCert },
      log,
    });
    t.after(() => ads.close());
    const clusters = await new Promise<number>((resolve) =>
      ads.subscribe(TYPE_URL.cluster, [], (u) => (resolve(u.changed.size), undefined)),
    );
    assert.equal(clusters, 2);
    assert.throws(
      () =>
        new AdsClient({
          target: `127.0.0.1:${xds.port}`,
          node: { id: 'a', cluster: 'b' },
          tls: { ca: '/nonexistent/ca.pem' },
          log,
        }),
      /xDS CA \(--xds-ca\) \/nonexistent\/ca\.pem: no such file/,
    );
    await assert.rejects(
      startXdsServer({ port: 0, log, tls: { cert: serverCert.cert, key: '/nonexistent/key.pem' } }),
      /--xds-tls-key \/nonexistent\/key\.pem: no such file/,
    );
  },
);
