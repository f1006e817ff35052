// `gatehouse up` end to end: real pods (app + queue-proxy processes), the real xDS server, the
// embedded gateway, activator, prober and autoscaler, all over loopback sockets.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { loopbackUpArgs, loopbackUpOptions } from '../../src/bench/services.js';
import { startUp } from '../../src/up/orchestrator.js';
import { portToBindLater } from '../support/ports.js';
import { alive, until } from '../support/cli.js';
import { gatehouseBin } from '../support/queue.js';
import { get, loadGenerator, log, service, startTestUp, tempFile } from '../support/up.js';

test(
  'edit → new revision, Ready only after probe confirmation, 80/20 split, tag ' +
    'host, zero failed requests under load; a bad edit keeps the old config',
  async (t) => {
    const file = tempFile(service('hello', 'v1'));
    const up = await startTestUp(file, t);
    await up.whenReady(30_000);
    const port = up.gatewayPort!;
    const host = 'hello.default.example.com';
    assert.equal((await get(port, host)).body, 'Hello v1!\n');

    const load = loadGenerator(port, host);
    const traffic = `  traffic:
    - revisionName: hello-00001
      percent: 80
    - latestRevision: true
      percent: 20
      tag: candidate
`;
    writeFileSync(file, service('hello', 'v2', { traffic }));
    await until(() => up.status().revisions.some((r) => r.name === 'hello-00002'), 'the new revision', 5000);
    // Not Ready until the new revision runs and every gateway serves the new hash.
    const during = up.status().services[0]!;
    assert.notEqual(during.ready, 'True');
    await until(
      () => up.status().services[0]!.ready === 'True' && up.status().services[0]!.traffic.length === 2,
      'the split to be Ready',
      30_000,
    );
    const { ok, failures } = await load.stop();
    assert.deepEqual(failures, [], `failed requests during the rollout (${ok} succeeded)`);
    assert.ok(ok > 20, `the load generator ran (${ok} requests)`);

    const svc = up.status().services[0]!;
    assert.equal(svc.latestReadyRevision, 'hello-00002');
    assert.deepEqual(
      svc.traffic.map((x) => [x.revisionName, x.percent, x.tag]),
      [
        ['hello-00001', 80, undefined],
        ['hello-00002', 20, 'candidate'],
      ],
    );
    const gw = up.status().gateways[0]!;
    assert.equal(gw.connected, true);
    assert.ok(gw.confirmed['default/hello'], 'the gateway confirmed the route hash');

    // 1,000 requests, 20 at a time: 80 ± 6 % is 4.7 standard deviations of a fair 80/20 pick (outside it about
    // once in 470,000 runs; ± 5 % was once in 14,000).
    let v1 = 0;
    for (let batch = 0; batch < 50; batch++) {
      const bodies = await Promise.all(Array.from({ length: 20 }, () => get(port, host)));
      v1 += bodies.filter((r) => r.body === 'Hello v1!\n').length;
    }
    assert.ok(v1 >= 740 && v1 <= 860, `hello-00001 got ${v1 / 10}% (want 80 ± 6)`);
    assert.equal((await get(port, 'candidate-hello.default.example.com')).body, 'Hello v2!\n');

    // A bad edit: reported with file, line and field; the old config keeps serving.
    writeFileSync(file, service('hello', 'v3', { traffic: traffic.replace('percent: 20', 'percent: 30') }));
    await until(() => up.status().config.error !== undefined, 'the config error to be reported', 5000);
    assert.match(
      up.status().config.error!,
      /services\.yaml:\d+: spec\.traffic: the percents add up to 110; they must add up to 100/,
    );
    assert.equal(up.status().revisions.length, 2, 'no revision from a rejected file');
    assert.equal((await get(port, 'candidate-hello.default.example.com')).body, 'Hello v2!\n');

    // Stopping leaves nothing behind: every pod's app and queue-proxy has exited, none restarted.
    const pids = up.status().revisions.flatMap((r) => r.podList.flatMap((p) => [p.pids.app, p.pids.queueProxy]));
    assert.ok(pids.length >= 4 && pids.every((pid) => pid !== undefined), `pids: ${pids.join(', ')}`);
    await up.close();
    await until(() => pids.every((pid) => !alive(pid)), 'every pod process to exit', 5000);
    assert.equal(up.status().revisions.flatMap((r) => r.podList).length, 0, 'no pod started while stopping');
  },
);

test(
  'gatehouse up as a process: prints where it listens, ' + 'serves a cold request, gatehouse status shows it',
  async (t) => {
    const file = tempFile(service('hello', 'process'));
    const child = spawn(process.execPath, [gatehouseBin, ...loopbackUpArgs(file)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      child.kill('SIGKILL');
    });
    child.stderr.resume();
    const lines: string[] = [];
    const ready = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`gatehouse up exited with ${code}: ${lines.join('\n')}`)));
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        if (line.startsWith('Ready in')) resolve();
      });
    });
    await ready;
    const gatewayPort = Number(/gateway\s+127\.0\.0\.1:(\d+)/.exec(lines.join('\n'))![1]);
    const adminPort = Number(/--admin-port (\d+)/.exec(lines.join('\n'))![1]);
    assert.equal((await get(gatewayPort, 'hello.default.example.com')).body, 'Hello process!\n');
    const status = await new Promise<string>((resolve, reject) => {
      const s = spawn(process.execPath, [gatehouseBin, 'status', '--admin-port', String(adminPort), '--json'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      s.stdout.on('data', (d) => (out += d));
      s.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`gatehouse status exited with ${code}`))));
    });
    const parsed = JSON.parse(status) as { services: Array<{ name: string; ready: string }> };
    assert.deepEqual(
      parsed.services.map((s) => [s.name, s.ready]),
      [['hello', 'True']],
    );
    const stopped = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await stopped, 0);
  },
);

test('a bad file at start-up exits 2 naming file, line and field', async () => {
  const file = tempFile(service('Bad_Name', 'x').replace('containerConcurrency: 0', 'containerConcurrency: -1'));
  const child = spawn(process.execPath, [gatehouseBin, 'up', '-f', file, '--xds-port', '0', '--admin-port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 2);
  assert.match(err, /services\.yaml:5: metadata\.name: "Bad_Name" is not a valid name/);
  assert.match(
    err,
    /services\.yaml:\d+: spec\.template\.spec\.containerConcurrency: expected a whole number from 0 to 1000, got -1/,
  );
});

test(
  'with --no-gateway, another xDS gateway named with --gateway-node ' +
    '(here `gatehouse gateway`, as Envoy would) is probed and confirmed',
  async (t) => {
    const [gatewayPort, localPort] = [await portToBindLater(), await portToBindLater()];
    const file = tempFile(service('hello', 'outside'));
    const up = await startUp(
      loopbackUpOptions(file, log, {
        gatewayPort,
        localGatewayPort: localPort,
        embeddedGateway: false,
        gatewayNodes: ['envoy-like'],
      }),
    );
    t.after(() => up.close());
    await until(
      () => up.status().routes[0]!.message === 'no gateway is connected to the xDS server',
      'the route to wait for a gateway',
      20_000,
    );
    const gateway = spawn(
      process.execPath,
      [gatehouseBin, 'gateway', '--xds', `127.0.0.1:${up.xdsPort}`, '--node-id', 'envoy-like', '--admin-port', '0'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    t.after(() => {
      gateway.kill('SIGKILL');
    });
    let gatewayLog = '';
    gateway.stderr.on('data', (d) => (gatewayLog += d));
    await up.whenReady(30_000).catch((err: Error) => {
      throw new Error(
        `${err.message}\nstatus: ${JSON.stringify(up.status().routes)}\ngateway log:\n${gatewayLog.slice(-4000)}`,
      );
    });
    const status = up.status();
    assert.deepEqual(
      status.gateways.map((g) => [g.id, g.connected, Object.keys(g.confirmed)]),
      [['envoy-like', true, ['default/hello']]],
    );
    assert.equal((await get(gatewayPort, 'hello.default.example.com')).body, 'Hello outside!\n');
  },
);
