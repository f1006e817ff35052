// `gatehouse up` with its xDS server on mutual TLS: the embedded gateway and the activator
// processes connect with their client certificate, routes become Ready and serve; a process
// without a certificate cannot read the configuration, and an Envoy-like node the operator named
// with --gateway-node is waited on while an unnamed one is not.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { loopbackUpOptions, serviceYaml } from '../../src/bench/services.js';
import { startUp } from '../../src/up/orchestrator.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { AdsTestStream } from '../support/ads-client.js';
import { exampleAppPath } from '../support/app.js';
import { captureLog } from '../support/capture-log.js';
import { TestCa } from '../support/certs.js';
import { until } from '../support/cli.js';

function servicesFile(): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'gatehouse-up-')), 'services.yaml');
  writeFileSync(file, serviceYaml('hello', { target: 'tls', appPath: exampleAppPath }));
  return file;
}

test('up over mutual TLS: gateway and activators connect with certificates; no certificate, no config', async (t) => {
  const ca = new TestCa();
  t.after(() => ca.remove());
  const server = ca.issue('xds', ['IP:127.0.0.1']);
  const own = ca.issue('up-clients', ['DNS:gatehouse-ingress', 'DNS:gatehouse-activators']);
  const log = captureLog();
  const up = await startUp(
    loopbackUpOptions(servicesFile(), log, {
      xds: { tls: { ...server, clientCa: ca.cert } },
      xdsClientTls: { ca: ca.cert, ...own },
    }),
  );
  t.after(() => up.close());
  await up.whenReady(60_000);
  const res = await request(`http://127.0.0.1:${up.gatewayPort}/`, { headers: { host: 'hello.default.example.com' } });
  assert.equal(await res.body.text(), 'Hello tls!\n');
  // Each activator process knows the revision only if its xDS client got through.
  for (const port of up.activatorPorts) {
    const viaActivator = await request(`http://127.0.0.1:${port}/`, {
      headers: {
        host: 'hello.default.example.com',
        'knative-serving-namespace': 'default',
        'knative-serving-revision': 'hello-00001',
      },
    });
    assert.equal(await viaActivator.body.text(), 'Hello tls!\n', `activator on ${port}`);
  }
  assert.deepEqual(
    log.lines.filter((l) => l.msg.startsWith('xDS stream refused')),
    [],
  );

  const plain = new AdsTestStream(up.xdsPort, false, { 'grpc.use_local_subchannel_pool': 1 });
  t.after(() => plain.close());
  plain.send({ node: { id: 'intruder', cluster: 'gatehouse-ingress' }, type_url: TYPE_URL.endpoint });
  assert.equal((await plain.ended).code, grpc.status.UNAVAILABLE);
});

test(
  'up without TLS: an ingress node named with --gateway-node ' +
    'is waited on, an unnamed one is served but not waited on',
  async (t) => {
    const log = captureLog();
    const up = await startUp(loopbackUpOptions(servicesFile(), log, { gatewayNodes: ['envoy-1'] }));
    t.after(() => up.close());
    await up.whenReady(60_000);
    const ingress = (id: string) => {
      const stream = new AdsTestStream(up.xdsPort, false, { 'grpc.use_local_subchannel_pool': 1 });
      t.after(() => stream.close());
      stream.send({ node: { id, cluster: 'gatehouse-ingress' }, type_url: TYPE_URL.cluster });
      return stream;
    };
    const stray = ingress('stray');
    assert.ok((await stray.next()).resources.size > 0, 'an unnamed node still gets its configuration');
    await until(
      () =>
        log.lines.some(
          (l) =>
            l.msg.startsWith('an ingress node connected that the prober does not wait on') && l.fields.node === 'stray',
        ),
      'the notice',
    );
    assert.deepEqual(
      up.status().gateways.map((g) => g.id),
      ['gatehouse-gateway'],
    );
    assert.equal(up.route('default', 'hello')!.ready, true, 'the stray node holds nothing back');

    // The named node is waited on (here it serves nothing, so the route waits), until it leaves.
    const envoy = ingress('envoy-1');
    await envoy.next();
    await until(() => up.status().gateways.some((g) => g.id === 'envoy-1'), 'envoy-1 to count as a gateway');
    await until(() => !up.route('default', 'hello')!.ready, 'the route to wait for envoy-1');
    assert.match(up.status().routes[0]!.message!, /waiting for envoy-1/);
    envoy.close();
    await until(() => up.route('default', 'hello')!.ready, 'the route to be Ready once envoy-1 left');
  },
);
