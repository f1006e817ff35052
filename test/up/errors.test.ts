// Errors that point at the cause: every message and exit code of `gatehouse up` and `gatehouse
// status` a user meets, with real processes and ports taken by real listeners.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { loopbackUpOptions, serviceYaml } from '../../src/bench/services.js';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { packagePath } from '../../src/package-root.js';
import { causeLine } from '../../src/up/failure.js';
import { startUp } from '../../src/up/orchestrator.js';
import { checkPortsFree, parseProcNetTcp, PortInUseError, portHolder } from '../../src/up/ports.js';
import { statusExitCode, type UpStatus } from '../../src/up/status.js';
import { exampleAppPath } from '../support/app.js';
import { gatehouseBin } from '../support/queue.js';

const log = createLogger('test');

function tempFile(text: string, name = 'services.yaml'): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'gatehouse-errors-')), name);
  writeFileSync(file, text);
  return file;
}

/** A listener on 127.0.0.1 holding a port, as another program would. */
async function holdPort(host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function gatehouse(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [gatehouseBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gatehouse ${args.join(' ')} still running after ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

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
    assert.match(run.stderr, new RegExp(`^gatehouse up: port ${held.port} is already in use on 127\\.0\\.0\\.1 by pid ${process.pid} \\(.*node.*\\); stop it, or move gatehouse with ${flag} <port>\\n$`), flag);
  }
});

test('a start that fails after processes started stops every one of them (admin port, then gateway port, taken mid-start)', async (t) => {
  const file = tempFile(serviceYaml('hello', { target: 'x', appPath: exampleAppPath }));
  for (const flag of ['--admin-port', '--gateway-port']) {
    // A free port that another listener takes while up starts its activators: the check before
    // start passes, the listen afterwards fails.
    const probe = await holdPort();
    const port = probe.port;
    await probe.close();
    const child = spawn(process.execPath, [gatehouseBin, 'up', '-f', file, ...withPort(flag, port), '--drain-quiet-seconds', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const started = Date.now();
    t.after(() => child.kill('SIGKILL'));
    const descendants = new Set<number>();
    const collect = setInterval(() => {
      for (const pid of childrenOf(child.pid!)) descendants.add(pid);
    }, 20);
    let taken: { close(): Promise<void> } | undefined;
    let stderr = '';
    createInterface({ input: child.stderr! }).on('line', (line) => {
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
    assert.match(stderr, new RegExp(`gatehouse up: port ${port} is already in use on 127\\.0\\.0\\.1.*; stop it, or move gatehouse with ${flag} <port>`));
    assert.ok(descendants.size >= 2, `the activators had started: ${[...descendants].join(', ')}`);
    await until(() => [...descendants].every((pid) => !alive(pid)), `every process up started to exit (${[...descendants].filter(alive).join(', ')} alive)`, 10_000);
  }
});

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
  let held: { port: number; close(): Promise<void> };
  try {
    held = await holdPort('::1');
  } catch {
    t.skip('no IPv6 loopback on this machine');
    return;
  }
  t.after(() => held.close());
  await assert.rejects(checkPortsFree([{ port: held.port, flag: '--gateway-port' }]), (err: Error) => {
    assert.ok(err instanceof PortInUseError);
    assert.match(err.message, new RegExp(`^another process by pid ${process.pid} \\(.*\\) answers on \\[::1\\] port ${held.port}, so clients of localhost:${held.port} would reach it instead; stop it, or move gatehouse with --gateway-port <port>$`));
    return true;
  });
});

test('/proc/net/tcp: listening sockets with their port and inode', () => {
  const text = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0',
    '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1',
    '   2: 00000000000000000000000001000000:4650 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0',
  ].join('\n');
  assert.deepEqual(parseProcNetTcp(text), [
    { port: 8080, inode: '4242' },
    { port: 18000, inode: '777' },
  ]);
});

test('portHolder finds this process by its listening socket', { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
  const held = await holdPort();
  t.after(() => held.close());
  assert.match(portHolder(held.port) ?? '', new RegExp(`^pid ${process.pid} \\(.*node.*\\)$`));
});

test('argument errors: one line and the usage, no stack, exit 2', async () => {
  const run = await gatehouse(['up', '--gateway-port', 'abc']);
  assert.equal(run.code, 2);
  assert.equal(run.stderr, "error: option '--gateway-port <port>' argument 'abc' is invalid. expected a port number from 0 to 65535 (0 picks a free one).\nUsage: gatehouse up [options]\n(`gatehouse up --help` explains every option)\n");
  const status = await gatehouse(['status', '--admin-port', '70000']);
  assert.equal(status.code, 2);
  assert.match(status.stderr, /^error: option '--admin-port <port>' argument '70000' is invalid\..*\nUsage: gatehouse status \[options\]\n/);
  const tick = await gatehouse(['up', '--tick-ms', 'soon']);
  assert.equal(tick.code, 2);
  assert.doesNotMatch(tick.stderr, /\n\s+at /);
});

test('YAML syntax errors name the real line and column in the whole file', () => {
  const text = [
    'apiVersion: serving.knative.dev/v1', // 1
    'kind: Service',
    'metadata:',
    '  name: a',
    'spec:', // 5
    '  template:',
    '    spec:',
    '      containers:',
    '        - command: [node, app.mjs]',
    '---', // 10
    'apiVersion: serving.knative.dev/v1',
    'kind: Service',
    'metadata:',
    '  name: hello',
    'spec:', // 15
    '  template:',
    '    spec:',
    '      containers:',
    '        - command: [node, app.mjs]',
    '         env:', // 20: one space short
    '            - name: TARGET',
  ].join('\n');
  assert.throws(() => parseConfig(text, 'services.yaml'), (err: ConfigError) => {
    assert.deepEqual(err.problems, ['services.yaml:20:10: Sequence item without - indicator (at "env:")']);
    return true;
  });
});

test('a copied services.yaml: relative paths are resolved from its folder and the error names the resolved path', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-copy-'));
  const file = path.join(dir, 'services.yaml');
  cpSync(packagePath('examples', 'services.yaml'), file);
  assert.throws(() => loadConfigFile(file), (err: ConfigError) => {
    assert.equal(err.problems.length, 3);
    assert.equal(err.problems[0], `${file}:4: spec.template.spec.containers[0].command[1]: app/server.mjs resolves to ${path.join(dir, 'app/server.mjs')}, which does not exist; relative paths in command, args and workingDir resolve from the folder of the file (${dir})`);
    return true;
  });
  // A workingDir resolves from the file's folder too, and scripts from the workingDir.
  const moved = readFileSync(file, 'utf8').replaceAll('command: [node, app/server.mjs]', `command: [node, app/server.mjs]\n          workingDir: ${path.relative(dir, packagePath('examples'))}`);
  writeFileSync(file, moved);
  assert.equal(loadConfigFile(file).length, 3);
  writeFileSync(file, moved.replace(/workingDir: .*/, 'workingDir: nowhere'));
  assert.throws(() => loadConfigFile(file), /containers\[0\]\.workingDir: nowhere resolves to .*\/nowhere, which does not exist/);
});

test("the cause of a crash is the error's line, not Node's banner, the excerpt or a stack frame", () => {
  const run = spawnSync(process.execPath, ['/nonexistent/app.mjs'], { encoding: 'utf8' });
  const lines = run.stderr.split('\n');
  assert.match(lines.at(-2)!, /^Node\.js v\d+/, 'Node prints its banner last');
  assert.equal(causeLine(lines), "Error: Cannot find module '/nonexistent/app.mjs'");
  const thrown = spawnSync(process.execPath, ['-e', 'console.log("listening"); null.x'], { encoding: 'utf8' });
  assert.equal(causeLine([...thrown.stdout.split('\n'), ...thrown.stderr.split('\n')]), "TypeError: Cannot read properties of null (reading 'x')");
  assert.equal(causeLine(['starting', 'fatal: DATABASE_URL is not set', '', 'Node.js v20.20.2']), 'fatal: DATABASE_URL is not set');
  assert.equal(causeLine([]), '(no output)');
});

test('gatehouse status: exit 0 when Ready, 4 with a config error, 3 with a crashed pod, 1 when nothing or something else answers', async (t) => {
  const file = tempFile(serviceYaml('hello', { target: 'x', appPath: exampleAppPath }));
  const up = await startUp(loopbackUpOptions(file, log, { tickMs: 200 }));
  t.after(() => up.close());
  await up.whenReady(30_000);
  const status = (...args: string[]) => gatehouse(['status', '--admin-port', String(up.adminPort), ...args]);
  const ready = await status();
  assert.equal(ready.code, 0, ready.stderr);
  assert.match(ready.stdout, /default\/hello {2}Ready/);

  writeFileSync(file, readFileSync(file, 'utf8').replace('containerConcurrency: 0', 'containerConcurrency: -5'));
  await until(() => up.status().config.error !== undefined, 'the config error', 10_000);
  const configError = await status();
  assert.equal(configError.code, 4);
  assert.match(configError.stdout, /^CONFIG ERROR/);

  // A new revision whose app dies at once: the service is not Ready and says why.
  writeFileSync(file, serviceYaml('hello', { target: 'x', appPath: exampleAppPath }).replace(`[node, ${JSON.stringify(exampleAppPath)}]`, `[node, -e, "require('/nonexistent/module')"]`));
  await until(() => up.status().revisions.some((r) => r.failure !== undefined), 'the crash to be reported', 20_000);
  const crashed = await status();
  assert.equal(crashed.code, 3, crashed.stdout);
  assert.match(crashed.stdout, /last failure: app exited \(1\): Error: Cannot find module '\/nonexistent\/module' \(at /);
  assert.match(crashed.stdout, /ConfigurationsReady: \S+ .*app exited \(1\): Error: Cannot find module '\/nonexistent\/module'/);
  assert.doesNotMatch(crashed.stdout, /Node\.js v/);

  const other = http.createServer((_req, res) => res.writeHead(404).end('not here'));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => other.close(() => r())));
  const otherPort = (other.address() as net.AddressInfo).port;
  const wrong = await gatehouse(['status', '--admin-port', String(otherPort)]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, new RegExp(`^gatehouse status: something \\(pid ${process.pid} .*\\) answers at 127\\.0\\.0\\.1:${otherPort}, but it is not gatehouse up's admin API: GET /status gave HTTP 404\\n`));
  const closed = await holdPort();
  await closed.close();
  const nothing = await gatehouse(['status', '--admin-port', String(closed.port)]);
  assert.equal(nothing.code, 1);
  assert.match(nothing.stderr, new RegExp(`^gatehouse status: cannot reach gatehouse up's admin API at 127\\.0\\.0\\.1:${closed.port}: .*ECONNREFUSED`));
});

test('statusExitCode: precedence of the codes', () => {
  const base: UpStatus = { config: { file: 'f' }, services: [], routes: [{ namespace: 'n', name: 'a', ready: true }], revisions: [], gateways: [] };
  assert.equal(statusExitCode(base), 0);
  assert.equal(statusExitCode({ ...base, routes: [{ namespace: 'n', name: 'a', ready: false }] }), 3);
  assert.equal(statusExitCode({ ...base, config: { file: 'f', error: 'x' }, routes: [{ namespace: 'n', name: 'a', ready: false }] }), 4);
  assert.ok(existsSync(gatehouseBin));
});
