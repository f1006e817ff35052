// `gatehouse gateway` on SIGTERM, as Kubernetes stops a gateway pod: /ready turns 503, new
// connections are refused, the request in flight is answered, then the process exits 0. The same
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

/** An app that holds each request until released, and tells when one has arrived. */
async function holdingApp(t: TestContext) {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((_req, res) => void held.push(res));
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

async function gatewayProcess(t: TestContext, appPort: number) {
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
    [gatehouseBin, 'gateway', '--xds', `127.0.0.1:${xds.port}`, '--admin-port', '0', '--drain-seconds', '20'],
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
  return { child, exited, ready, port, lines };
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, headers: { host: HOST }, agent: false }, (res) => {
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

test('SIGTERM: /ready turns 503, new connections are refused, the request in flight is answered, exit 0', async (t) => {
  const app = await holdingApp(t);
  const gw = await gatewayProcess(t, app.port);
  const inFlight = get(gw.port);
  await until(() => app.held() === 1, 'the request to reach the app');
  gw.child.kill('SIGTERM');
  await until(async () => (await gw.ready()) === 503, '/ready to report draining');
  await until(() => refused(gw.port), 'the listener to refuse new connections');
  assert.notEqual(gw.child.exitCode, 0, 'still running while a request is in flight');
  app.release();
  assert.deepEqual(await inFlight, { status: 200, body: 'answered after the signal\n' });
  const [code] = await gw.exited;
  assert.equal(code, 0);
  assert.ok(gw.lines.some((l) => l.msg === 'stopping' && l.signal === 'SIGTERM'));
});

test('SIGTERM twice: the gateway exits at once, without waiting for the request in flight', async (t) => {
  const app = await holdingApp(t);
  const gw = await gatewayProcess(t, app.port);
  const inFlight = get(gw.port).catch((err: Error) => err);
  await until(() => app.held() === 1, 'the request to reach the app');
  gw.child.kill('SIGTERM');
  await until(async () => (await gw.ready()) === 503, '/ready to report draining');
  gw.child.kill('SIGTERM');
  const [code] = await gw.exited;
  assert.equal(code, 1);
  assert.ok((await inFlight) instanceof Error, 'the request in flight was cut');
});
