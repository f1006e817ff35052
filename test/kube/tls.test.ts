// `gatehouse controller` with KIngress spec.tls and httpOption Redirected, end to end against the
// API server (the fake here; the real kube-apiserver with KUBE_APISERVER_URL + KUBECONFIG): TLS
// Secrets become per-host certificates on the embedded gateway's HTTPS listener, the KIngress is
// Ready only once probed over HTTPS, a bad Secret is named in the status without harming any other
// host, and a rotated Secret is served without a new KIngress. Certificates come from openssl.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { startController, type KubeController } from '../../src/kube/controller.js';
import { TestCa } from '../support/certs.js';
import { condition, controllerOptions, gatehouseBin, isReady, MODE, TestCluster } from './cluster.js';
import { until } from '../support/cli.js';

describe(`gatehouse controller: TLS and redirects against ${MODE}`, () => {
  let cluster: TestCluster;
  let controller: KubeController;
  let ports: { external: number; local: number; https: number };
  const ca = new TestCa('kube-tls');
  const caPem = readFileSync(ca.cert, 'utf8');
  const agent = new Agent({ connect: { ca: caPem } });
  const pem = (name: string, ...hosts: string[]) => {
    const files = ca.issue(
      name,
      hosts.map((h) => `DNS:${h}`),
    );
    return { 'tls.crt': readFileSync(files.cert, 'utf8'), 'tls.key': readFileSync(files.key, 'utf8') };
  };
  const rule = (host: string) => ({
    hosts: [host],
    visibility: 'ExternalIP' as const,
    http: {
      paths: [
        { splits: [{ serviceName: 'blue', serviceNamespace: cluster.namespace, servicePort: 80, percent: 100 }] },
      ],
    },
  });
  const tlsFor = (host: string, secretName: string) => ({
    hosts: [host],
    secretName,
    secretNamespace: cluster.namespace,
  });

  /** The CN of the certificate the gateway presents for this server name, or the handshake error. */
  const peerName = (servername: string) =>
    new Promise<string>((resolve) => {
      const socket = tls.connect({ host: cluster.podHost, port: ports.https, servername, ca: caPem }, () => {
        resolve(String(socket.getPeerCertificate().subject?.CN));
        socket.end();
      });
      socket.on('error', (err) => resolve(`error: ${err.message}`));
    });
  const https = async (host: string) => {
    const res = await request(`https://${cluster.podHost}:${ports.https}/`, { dispatcher: agent, headers: { host } });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const plain = async (host: string, path = '/') => {
    const res = await request(`http://${cluster.podHost}:${ports.external}${path}`, { headers: { host } });
    await res.body.dump();
    return { status: res.statusCode, location: res.headers.location };
  };

  before(async () => {
    cluster = await TestCluster.start();
    ports = { external: await cluster.freePort(), local: await cluster.freePort(), https: await cluster.freePort() };
    const blue = await cluster.startRevisionPod('blue');
    await cluster.createService('blue', [{ port: blue.port }]);
    controller = await startController(
      controllerOptions(
        cluster,
        { externalPort: ports.external, localPort: ports.local, httpsPort: ports.https },
        'controller-tls-test',
      ),
    );
    await cluster.startPod(
      [
        gatehouseBin,
        'gateway',
        '--xds',
        `${cluster.hostAddress}:${controller.xds.port}`,
        '--node-id',
        'gw-tls',
        '--admin-port',
        '0',
      ],
      {},
      (l) => l.msg === 'connected to the xDS server',
    );
    await cluster.createService('gatehouse', [{ port: ports.external }]);
  });

  after(async () => {
    await controller?.close();
    await cluster?.close();
    await agent.close();
    ca.remove();
  });

  test(
    'Redirected with a certificate: Ready once probed over HTTPS; ' +
      'plain HTTP answers 301 to https; the host gets its certificate',
    async () => {
      await cluster.putSecret('secure-cert', pem('secure', 'secure.example.com'));
      await cluster.createIngress('secure', {
        httpOption: 'Redirected',
        rules: [rule('secure.example.com')],
        tls: [tlsFor('secure.example.com', 'secure-cert')],
      });
      const ready = await cluster.waitIngress('secure', isReady);
      assert.equal(condition(ready, 'NetworkConfigured')?.status, 'True');
      // Ready means served now, over HTTPS, with the Secret's certificate.
      assert.equal(await peerName('secure.example.com'), 'secure');
      const res = await https('secure.example.com');
      assert.equal(res.status, 200);
      assert.match(res.body, /blue/);
      assert.deepEqual(await plain('secure.example.com', '/a?b=c'), {
        status: 301,
        location: 'https://secure.example.com/a?b=c',
      });
    },
  );

  test(
    'a missing, then malformed Secret is named in the status; every ' +
      'other host keeps being served; the fixed Secret makes it Ready',
    async () => {
      await cluster.createIngress('broken', {
        rules: [rule('broken.example.com')],
        tls: [tlsFor('broken.example.com', 'broken-cert')],
      });
      const missing = await cluster.waitIngress('broken', (i) => condition(i, 'NetworkConfigured')?.status === 'False');
      assert.equal(condition(missing, 'NetworkConfigured')?.reason, 'InvalidSecret');
      assert.equal(
        condition(missing, 'NetworkConfigured')?.message,
        `Secret ${cluster.namespace}/broken-cert does not exist (spec.tls ` +
          `needs a Secret of type kubernetes.io/tls with tls.crt and tls.key)`,
      );
      assert.equal(condition(missing, 'Ready')?.status, 'False');
      // Its plain HTTP host is served; the other KIngress's HTTPS host is untouched.
      assert.equal((await plain('broken.example.com')).status, 200);
      assert.equal(await peerName('secure.example.com'), 'secure');
      assert.match(await peerName('broken.example.com'), /^error: /);

      await cluster.putSecret('broken-cert', {
        'tls.crt': 'not a certificate',
        'tls.key': pem('x', 'x.example.com')['tls.key'],
      });
      const malformed = await cluster.waitIngress('broken', (i) =>
        /tls\.crt is not a PEM certificate/.test(condition(i, 'NetworkConfigured')?.message ?? ''),
      );
      assert.match(
        condition(malformed, 'NetworkConfigured')!.message!,
        new RegExp(`^Secret ${cluster.namespace}/broken-cert tls\\.crt is not a PEM certificate: `),
      );
      assert.equal((await https('secure.example.com')).status, 200);

      await cluster.putSecret('broken-cert', pem('broken', 'broken.example.com'));
      await cluster.waitIngress('broken', isReady);
      assert.equal(await peerName('broken.example.com'), 'broken');
      assert.equal((await https('broken.example.com')).status, 200);
    },
  );

  test('a rotated Secret is served to new connections without a change to the KIngress', async () => {
    await cluster.putSecret('secure-cert', pem('secure-rotated', 'secure.example.com'));
    await until(
      async () => (await peerName('secure.example.com')) === 'secure-rotated',
      'the rotated certificate',
      20_000,
    );
    assert.ok(isReady(await cluster.getIngress('secure')));
  });

  test(
    'a server name claimed with another Secret stays with the first KIngress until it lets go; ' +
      'the last one gone takes the HTTPS listener away',
    async () => {
      await cluster.putSecret('thief-cert', pem('thief', 'secure.example.com', 'thief.example.com'));
      await cluster.createIngress('thief', {
        rules: [rule('thief.example.com')],
        tls: [
          {
            hosts: ['secure.example.com', 'thief.example.com'],
            secretName: 'thief-cert',
            secretNamespace: cluster.namespace,
          },
        ],
      });
      const conflict = await cluster.waitIngress(
        'thief',
        (i) => condition(i, 'LoadBalancerReady')?.reason === 'DomainConflict',
      );
      assert.equal(
        condition(conflict, 'LoadBalancerReady')?.message,
        `server name secure.example.com (already served with Secret ${cluster.namespace}/secure-cert)`,
      );
      assert.equal(await peerName('secure.example.com'), 'secure-rotated');
      assert.equal(await peerName('thief.example.com'), 'thief', 'its other name is served');
      await cluster.deleteIngress('secure');
      await cluster.waitIngress('thief', isReady);
      assert.equal(await peerName('secure.example.com'), 'thief');
      for (const name of ['thief', 'broken']) await cluster.deleteIngress(name);
      await until(
        async () => (await peerName('thief.example.com')).startsWith('error: '),
        'the HTTPS listener to go with its last certificate',
        20_000,
      );
      // The plain listener is untouched by it.
      assert.equal((await plain('anything.example.com')).status, 404);
    },
  );
});
