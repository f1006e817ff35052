// Errors that point at the cause, ports: a taken port is named with its flag and holder, and a
// start that fails stops what it started. Real processes; ports taken by real listeners.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { serviceYaml } from '../../src/bench/services.js';
import { checkPortsFree, parseProcNetTcp, PortInUseError, portHolder } from '../../src/up/ports.js';
import { exampleAppPath } from '../support/app.js';
import { gatehouse, holdPort, tempFile, until } from '../support/cli.js';
import { gatehouseBin } from '../support/queue.js';

const FREE = ['--gateway-port', '0', '--local-gateway-port', '0', '--xds-port', '0', '--admin-port', '0'];
function withPort(flag: string, port: number): string[] {
  const args = [...FREE];
  args[args.indexOf(flag) + 1] = String(port);
  return args;
}

test('a taken port: up exits 1 naming the port, the flag that moves it and the process that holds it', async (t) => {
  const held = await holdPort();
  t.after(() => held.close());
  const file = tempFile(serviceYaml('hello', { target: 'x', appPath: exampleAppPath }));
  for (const flag of ['--gateway-port', '--local-gateway-port', '--xds-port', '--admin-port']) {
    const run = await gatehouse(['up', '-f', file, ...withPort(flag, held.port)]);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '', 'nothing reported as started');
    assert.match(
      run.stderr,
      new RegExp(
        `^gatehouse up: port ${held.port} is already in use on 127\\.0\\.0\\.1 by pid ` +
          `${process.pid} \\(.*node.*\\); stop it, or move gatehouse with ${flag} <port>\\n$`,
      ),
      flag,
    );
  }
});

test(
  'a start that fails after processes started stops every one ' +
    'of them (admin port, then gateway port, taken mid-start)',
  async (t) => {
    const file = tempFile(serviceYaml('hello', { target: 'x', appPath: exampleAppPath }));
    for (const flag of ['--admin-port', '--gateway-port']) {
      // A free port that another listener takes while up starts its activators: the check before
      // start passes, the listen afterwards fails.
      const probe = await holdPort();
      const port = probe.port;
      await probe.close();
      const child = spawn(
        process.execPath,
        [gatehouseBin, 'up', '-f', file, ...withPort(flag, port), '--drain-quiet-seconds', '1'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const started = Date.now();
      t.after(() => child.kill('SIGKILL'));
      const descendants = new Set<number>();
      const collect = setInterval(() => {
        for (const pid of childrenOf(child.pid!)) descendants.add(pid);
      }, 20);
      let taken: { close(): Promise<void> } | undefined;
      let stderr = '';
      createInterface({ input: child.stderr }).on('line', (line) => {
        stderr += line + '\n';
        if (!taken && line.includes('"activator listening"')) {
          const server = net.createServer((s) => s.destroy());
          server.listen(port, '127.0.0.1');
          taken = { close: () => new Promise((r) => server.close(() => r())) };
        }
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      clearInterval(collect);
      await taken?.close();
      assert.equal(code, 1, stderr);
      assert.ok(Date.now() - started < 60_000, `a failed start stops within seconds, not ${Date.now() - started} ms`);
      assert.match(
        stderr,
        new RegExp(
          `gatehouse up: port ${port} is already in use on ` +
            `127\\.0\\.0\\.1.*; stop it, or move gatehouse with ${flag} <port>`,
        ),
      );
      assert.ok(descendants.size >= 2, `the activators had started: ${[...descendants].join(', ')}`);
      await until(
        () => [...descendants].every((pid) => !alive(pid)),
        `every process up started to exit (${[...descendants].filter(alive).join(', ')} alive)`,
        10_000,
      );
    }
  },
);

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

test('something else answering on [::1] at a port up wants is refused: `localhost` would reach it', async (t) => {
  let held: { port: number; close(): Promise<void> } | undefined;
  // The system picks the port on ::1 alone; on a busy machine the same number may be taken on
  // 127.0.0.1 by someone else's connection (then the check rightly says "in use"): pick another.
  for (let attempt = 0; attempt < 20 && !held; attempt++) {
    let candidate: { port: number; close(): Promise<void> };
    try {
      candidate = await holdPort('::1');
    } catch {
      t.skip('no IPv6 loopback on this machine');
      return;
    }
    const v4 = await holdPort('127.0.0.1', candidate.port).catch(() => undefined);
    if (v4) {
      await v4.close();
      held = candidate;
    } else await candidate.close();
  }
  assert.ok(held, 'no port free on both loopbacks in 20 tries');
  const release = held;
  t.after(() => release.close());
  await assert.rejects(checkPortsFree([{ port: held.port, flag: '--gateway-port' }]), (err: Error) => {
    assert.ok(err instanceof PortInUseError);
    assert.match(
      err.message,
      new RegExp(
        `^another process by pid ${process.pid} \\(.*\\) answers on \\[::1\\] port ${held.port}, so clients of ` +
          `localhost:${held.port} would reach it instead; stop it, or move gatehouse with --gateway-port <port>$`,
      ),
    );
    return true;
  });
});

test('/proc/net/tcp: listening sockets with their port and inode', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 ' +
      '00000000     0        0 4242 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 ' +
      '00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1',
    '   2: 00000000000000000000000001000000:4650 00000000000000000000000000000000:0000 0A ' +
      '00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0',
  ].join('\n');
  assert.deepEqual(parseProcNetTcp(text), [
    { port: 8080, inode: '4242' },
    { port: 18000, inode: '777' },
  ]);
});

test(
  'portHolder finds this process by its listening socket',
  { skip: process.platform !== 'linux' && 'needs /proc' },
  async (t) => {
    const held = await holdPort();
    t.after(() => held.close());
    assert.match(portHolder(held.port) ?? '', new RegExp(`^pid ${process.pid} \\(.*node.*\\)$`));
  },
);
