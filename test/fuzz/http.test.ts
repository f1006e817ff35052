// Bounded fuzzing of the HTTP entry points — the gateway, the activator and a queue-proxy — with
// hostile header names and values, invalid Hosts, probe headers with random values, huge headers
// and malformed HTTP/2 frames over raw sockets. Each must answer or close, never crash or hang,
// and serve a normal request afterwards.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { request } from 'undici';
import { InProcessRevisionSource } from '../../src/activator/revision-source.js';
import { startActivator } from '../../src/activator/server.js';
import { startGateway } from '../../src/gateway/index.js';
import { createLogger } from '../../src/log/logger.js';
import { translate } from '../../src/translate/index.js';
import { startXdsServer } from '../../src/xds/index.js';
import { startExampleApp } from '../support/app.js';
import { desired, revision, route, routing } from '../support/desired.js';
import { startQueue } from '../support/queue.js';
import { until } from '../support/cli.js';

const log = createLogger('test');

type Outcome = 'answered' | 'closed' | 'silent';

/**
 * Writes raw bytes and waits until the server answers (a complete status line and headers) or
 * closes the connection. Neither within `patienceMs` is a hang: 'silent'. The patience is long so
 * that a busy machine is not taken for a hang; a server that answers costs only its answer's time.
 */
function exchange(
  port: number,
  bytes: Buffer | string,
  patienceMs = 10_000,
): Promise<{ received: string; outcome: Outcome }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received, outcome });
    };
    const timer = setTimeout(() => done('silent'), patienceMs);
    socket.on('data', (d) => {
      received += d.toString('latin1');
      if (received.includes('\r\n\r\n')) done('answered');
    });
    socket.on('error', () => done('closed'));
    socket.on('close', () => done('closed'));
    socket.write(bytes);
  });
}

const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/);
const anyName = fc.oneof(token, fc.string({ minLength: 1, maxLength: 20 }));
const anyValue = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.constantFrom('probe', 'queue', 'activator', 'override', '', ' ', 'kube-probe/1.27'),
  fc.nat().map((n) => 'x'.repeat(n % 20_000)),
);
const host = fc.oneof(
  fc.constantFrom(
    'hello.default.example.com',
    '',
    '[::1',
    'a b',
    ':80',
    'hello.default.example.com:99999',
    '*.example.com',
    'HELLO.DEFAULT.EXAMPLE.COM.',
  ),
  fc.string({ maxLength: 30 }),
);
const hostileRequest = fc.record({
  method: fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'BREW', 'G ET'),
  path: fc.oneof(fc.constant('/'), fc.constant('/headers?x=1'), fc.string({ maxLength: 30 })),
  host,
  headers: fc.array(fc.tuple(anyName, anyValue), { maxLength: 6 }),
  probe: fc.option(
    fc.tuple(
      fc.constantFrom('k-network-probe', 'k-network-hash', 'k-kubelet-probe', 'user-agent', 'knative-serving-revision'),
      anyValue,
    ),
    { nil: undefined },
  ),
});

interface RawRequest {
  method: string;
  path: string;
  host: string;
  headers: Array<[string, string]>;
  probe: [string, string] | undefined;
}

function raw(r: RawRequest): string {
  const lines = [`${r.method} ${r.path} HTTP/1.1`, `Host: ${r.host}`];
  for (const [n, v] of r.headers) lines.push(`${n}: ${v}`);
  if (r.probe) lines.push(`${r.probe[0]}: ${r.probe[1]}`);
  lines.push('Connection: close');
  return lines.join('\r\n') + '\r\n\r\n';
}

async function fuzzPort(name: string, port: number, healthy: () => Promise<boolean>): Promise<void> {
  await fc.assert(
    fc.asyncProperty(hostileRequest, async (r) => {
      const { received, outcome } = await exchange(port, raw(r));
      // An HTTP answer or a closed connection, and nothing else on the wire; never silence.
      assert.notEqual(
        outcome,
        'silent',
        `${name} neither answered nor closed: ${JSON.stringify(raw(r)).slice(0, 300)}`,
      );
      if (received !== '')
        assert.match(received, /^HTTP\/1\.1 \d{3} /, `${name}: ${JSON.stringify(received.slice(0, 80))}`);
      if (process.env.FUZZ_DEBUG)
        assert.ok(await healthy(), `${name} broken by ${JSON.stringify(raw(r)).slice(0, 300)}`);
    }),
    { numRuns: 120, seed: 11 },
  );
  // Malformed HTTP/2: the preface, then garbage frames. A frame header may announce more bytes
  // than follow, which a server rightly waits for, so silence is no failure here: the check is
  // that nothing crashes and a normal request is served afterwards.
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (garbage) => {
      await exchange(port, Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from(garbage)]), 300);
    }),
    { numRuns: 20, seed: 12 },
  );
  assert.ok(await healthy(), `${name} still serves a normal request`);
}

test('gateway, activator and queue-proxy survive hostile requests and still serve', async (t) => {
  const app = await startExampleApp();
  t.after(() => app.stop());
  const queue = await startQueue(app.port);
  t.after(() => queue.stop());
  const source = new InProcessRevisionSource();
  source.set({
    namespace: 'default',
    name: 'hello-00001',
    containerConcurrency: 0,
    timeoutSeconds: 30,
    pods: [{ host: '127.0.0.1', port: queue.servingPort }],
  });
  const activator = await startActivator({ port: 0, source, log });
  t.after(() => activator.close());
  const xds = await startXdsServer({ port: 0, log });
  t.after(() => xds.close());
  const state = desired(
    [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
    [routing(revision('hello-00001'), 'serve', [{ host: '127.0.0.1', port: queue.servingPort }])],
  );
  state.listeners = { externalPort: 0, localPort: 0, address: '127.0.0.1' };
  xds.cache.setTranslation(translate(state));
  const gateway = await startGateway({ xds: `127.0.0.1:${xds.port}`, nodeId: 'fuzz', log });
  t.after(() => gateway.close());
  await gateway.ready;
  const gatewayPort = gateway.listenerPorts().get('gatehouse-external')!;
  // undici's request, not fetch: fetch does not let a caller set Host.
  const ok = async (port: number, headers: Record<string, string>) => {
    const res = await request(`http://127.0.0.1:${port}/`, { headers });
    await res.body.dump();
    return res.statusCode === 200;
  };
  await until(() => ok(gatewayPort, { host: 'hello.default.example.com' }), 'the gateway route');

  await fuzzPort('gateway', gatewayPort, () => ok(gatewayPort, { host: 'hello.default.example.com' }));
  await fuzzPort('activator', activator.port, () =>
    ok(activator.port, { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'hello-00001' }),
  );
  await fuzzPort('queue-proxy', queue.servingPort, () => ok(queue.servingPort, {}));
});

test('a server that takes a request and says nothing is caught as a hang', async (t) => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const { outcome } = await exchange(
    (silent.address() as net.AddressInfo).port,
    'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    200,
  );
  assert.equal(outcome, 'silent');
});
