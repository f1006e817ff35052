// `gatehouse gateway` on SIGTERM, as Kubernetes stops a gateway pod: /ready turns 503 and it keeps
// serving (routing may still send here) until a quiet period passes without a request; then new
// connections are refused, the requests in flight are answered, and the process exits 0. The same
// signal again means "now".
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { translate } from '../../src/translate/index.js';
import { startXdsServer } from '../../src/xds/index.js';
import { until } from '../support/cli.js';
import { desired, revision, route, routing } from '../support/desired.js';
import { gatehouseBin } from '../support/queue.js';

const HOST = 'hello.default.example.com';

/** An app that holds each request to /hold until released (and tells when one has arrived), and answers the rest. */
async function holdingApp(t: TestContext) {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => (req.url === '/hold' ? void held.push(res) : res.end('ok\n')));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    held: () => held.length,
    release: () => held.splice(0).forEach((res) => res.end('answered after the signal\n')),
  };
}

async function gatewayProcess(t: TestContext, appPort: number, quietSeconds: number) {
  const xds = await startXdsServer({ port: 0 });
  t.after(() => xds.close());
  const state = desired(
    [route('hello', [{ revisionName: 'hello-00001', percent: 100 }])],
    [routing(revision('hello-00001'), 'serve', [{ host: '127.0.0.1', port: appPort }])],
  );
  state.listeners = { externalPort: 0, localPort: 0, address: '127.0.0.1' };
  xds.cache.setTranslation(translate(state));
  const child = spawn(
    process.execPath,
    [
      gatehouseBin,
      'gateway',
      '--xds',
      `127.0.0.1:${xds.port}`,
      '--admin-port',
      '0',
      '--drain-quiet-seconds',
      String(quietSeconds),
      // Far beyond the test's own timeout: an exit must come from the requests ending, not from this.
      '--drain-seconds',
      '600',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(() => child.kill('SIGKILL'));
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ msg: line });
    }
  });
  await until(() => lines.some((l) => l.msg === 'gateway admin listening'), 'the admin port', 30_000);
  const admin = Number(lines.find((l) => l.msg === 'gateway admin listening')!.port);
  const ready = async () => (await fetch(`http://127.0.0.1:${admin}/ready`)).status;
  await until(async () => (await ready()) === 200, 'the gateway to be ready', 30_000);
  const status = (await (await fetch(`http://127.0.0.1:${admin}/status`)).json()) as {
    listeners: Array<{ name: string; port: number }>;
  };
  const port = status.listeners.find((l) => l.name === 'gatehouse-external')!.port;
  // Listeners are bound before their routes arrive: wait until one answers through to the app.
  await until(async () => (await get(port, '/').catch(() => undefined))?.status === 200, 'the route', 30_000);
  return { child, exited, ready, port, lines };
}

function get(port: number, path = '/hold'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host: HOST }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });

test(
  'SIGTERM: /ready turns 503, requests are still taken until a quiet period passes, then new connections are ' +
    'refused, the requests in flight are answered, and the process exits 0',
  async (t) => {
    const app = await holdingApp(t);
    // The quiet period only has to outlast the moments between the signal and the second request.
    const gw = await gatewayProcess(t, app.port, 5);
    const first = get(gw.port);
    await until(() => app.held() === 1, 'the first request to reach the app');
    gw.child.kill('SIGTERM');
    await until(async () => (await gw.ready()) === 503, '/ready to report draining');
    const second = get(gw.port);
    await until(() => app.held() === 2, 'a request sent while draining to reach the app');
    assert.equal(gw.child.exitCode, null, 'still running while requests are in flight');
    await until(() => gw.lines.some((l) => l.msg === 'quiet period over: closing the listeners'), 'the quiet period');
    await until(() => refused(gw.port), 'the listener to refuse new connections');
    assert.equal(gw.child.exitCode, null, 'still running while requests are in flight');
    app.release();
    for (const answer of [await first, await second])
      assert.deepEqual(answer, { status: 200, body: 'answered after the signal\n' });
    const [code] = await gw.exited;
    assert.equal(code, 0);
    assert.ok(gw.lines.some((l) => l.msg === 'stopping' && l.signal === 'SIGTERM'));
  },
);

test('SIGTERM twice: the gateway exits at once, without waiting for the request in flight', async (t) => {
  const app = await holdingApp(t);
  const gw = await gatewayProcess(t, app.port, 600);
  const inFlight = get(gw.port).catch((err: Error) => err);
  await until(() => app.held() === 1, 'the request to reach the app');
  gw.child.kill('SIGTERM');
  await until(async () => (await gw.ready()) === 503, '/ready to report draining');
  gw.child.kill('SIGTERM');
  const [code] = await gw.exited;
  assert.equal(code, 1);
  assert.ok((await inFlight) instanceof Error, 'the request in flight was cut');
  assert.ok(gw.lines.some((l) => l.msg === 'stopping now, without finishing the drain'));
});
