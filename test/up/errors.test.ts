// Errors that point at the cause: argument and configuration errors, a crash's cause, and the
// exit codes of `gatehouse status` (ports: errors-ports.test.ts). Real processes and sockets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loopbackUpOptions, serviceYaml } from '../../src/bench/services.js';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log/logger.js';
import { packagePath } from '../../src/package-root.js';
import { causeLine } from '../../src/up/failure.js';
import { startUp } from '../../src/up/orchestrator.js';
import { statusExitCode, type UpStatus } from '../../src/up/status.js';
import { exampleAppPath } from '../support/app.js';
import { gatehouse, holdPort, tempFile, until } from '../support/cli.js';

const log = createLogger('test');

test('argument errors: one line and the usage, no stack, exit 2', async () => {
  const run = await gatehouse(['up', '--gateway-port', 'abc']);
  assert.equal(run.code, 2);
  assert.equal(
    run.stderr,
    "error: option '--gateway-port <port>' argument 'abc' is invalid. expected a port number from 0 to 65535 " +
      '(0 picks a free one).\nUsage: gatehouse up [options]\n(`gatehouse up --help` explains every option)\n',
  );
  const status = await gatehouse(['status', '--admin-port', '70000']);
  assert.equal(status.code, 2);
  assert.match(
    status.stderr,
    /^error: option '--admin-port <port>' argument '70000' is invalid\..*\nUsage: gatehouse status \[options\]\n/,
  );
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
  assert.throws(
    () => parseConfig(text, 'services.yaml'),
    (err: ConfigError) => {
      assert.deepEqual(err.problems, ['services.yaml:20:10: Sequence item without - indicator (at "env:")']);
      return true;
    },
  );
});

test(
  'a copied services.yaml: relative paths are resolved ' + 'from its folder and the error names the resolved path',
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-copy-'));
    const file = path.join(dir, 'services.yaml');
    cpSync(packagePath('examples', 'services.yaml'), file);
    assert.throws(
      () => loadConfigFile(file),
      (err: ConfigError) => {
        assert.equal(err.problems.length, 3);
        assert.equal(
          err.problems[0],
          `${file}:4: spec.template.spec.containers[0].command[1]: app/server.mjs resolves to ` +
            `${path.join(dir, 'app/server.mjs')}, which does not exist; relative paths in ` +
            `command, args and workingDir resolve from the folder of the file (${dir})`,
        );
        return true;
      },
    );
    // A workingDir resolves from the file's folder too, and scripts from the workingDir.
    const moved = readFileSync(file, 'utf8').replaceAll(
      'command: [node, app/server.mjs]',
      `command: [node, app/server.mjs]\n          workingDir: ${path.relative(dir, packagePath('examples'))}`,
    );
    writeFileSync(file, moved);
    assert.equal(loadConfigFile(file).length, 3);
    writeFileSync(file, moved.replace(/workingDir: .*/, 'workingDir: nowhere'));
    assert.throws(
      () => loadConfigFile(file),
      /containers\[0\]\.workingDir: nowhere resolves to .*\/nowhere, which does not exist/,
    );
  },
);

test("the cause of a crash is the error's line, not Node's banner, the excerpt or a stack frame", () => {
  const run = spawnSync(process.execPath, ['/nonexistent/app.mjs'], { encoding: 'utf8' });
  const lines = run.stderr.split('\n');
  assert.match(lines.at(-2)!, /^Node\.js v\d+/, 'Node prints its banner last');
  assert.equal(causeLine(lines), "Error: Cannot find module '/nonexistent/app.mjs'");
  const thrown = spawnSync(process.execPath, ['-e', 'console.log("listening"); null.x'], { encoding: 'utf8' });
  assert.equal(
    causeLine([...thrown.stdout.split('\n'), ...thrown.stderr.split('\n')]),
    "TypeError: Cannot read properties of null (reading 'x')",
  );
  assert.equal(
    causeLine(['starting', 'fatal: DATABASE_URL is not set', '', 'Node.js v20.20.2']),
    'fatal: DATABASE_URL is not set',
  );
  assert.equal(causeLine([]), '(no output)');
});

test(
  'gatehouse status: exit 0 when Ready, 4 with a config error, 3 ' +
    'with a crashed pod, 1 when nothing or something else answers',
  async (t) => {
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
    writeFileSync(
      file,
      serviceYaml('hello', { target: 'x', appPath: exampleAppPath }).replace(
        `[node, ${JSON.stringify(exampleAppPath)}]`,
        `[node, -e, "require('/nonexistent/module')"]`,
      ),
    );
    await until(() => up.status().revisions.some((r) => r.failure !== undefined), 'the crash to be reported', 20_000);
    const crashed = await status();
    assert.equal(crashed.code, 3, crashed.stdout);
    assert.match(
      crashed.stdout,
      /last failure: app exited \(1\): Error: Cannot find module '\/nonexistent\/module' \(at /,
    );
    assert.match(
      crashed.stdout,
      /ConfigurationsReady: \S+ .*app exited \(1\): Error: Cannot find module '\/nonexistent\/module'/,
    );
    assert.doesNotMatch(crashed.stdout, /Node\.js v/);

    const other = http.createServer((_req, res) => res.writeHead(404).end('not here'));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => other.close(() => r())));
    const otherPort = (other.address() as net.AddressInfo).port;
    const wrong = await gatehouse(['status', '--admin-port', String(otherPort)]);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      new RegExp(
        `^gatehouse status: something \\(pid ${process.pid} .*\\) answers at 127\\.0\\.0\\.1:${otherPort}, ` +
          `but it is not gatehouse up's admin API: GET /status gave HTTP 404\\n`,
      ),
    );
    const closed = await holdPort();
    await closed.close();
    const nothing = await gatehouse(['status', '--admin-port', String(closed.port)]);
    assert.equal(nothing.code, 1);
    assert.match(
      nothing.stderr,
      new RegExp(
        `^gatehouse status: cannot reach gatehouse up's admin API at 127\\.0\\.0\\.1:${closed.port}: .*ECONNREFUSED`,
      ),
    );
  },
);

test('statusExitCode: precedence of the codes', () => {
  const base: UpStatus = {
    config: { file: 'f' },
    services: [],
    routes: [{ namespace: 'n', name: 'a', ready: true }],
    revisions: [],
    gateways: [],
  };
  assert.equal(statusExitCode(base), 0);
  assert.equal(statusExitCode({ ...base, routes: [{ namespace: 'n', name: 'a', ready: false }] }), 3);
  assert.equal(
    statusExitCode({
      ...base,
      config: { file: 'f', error: 'x' },
      routes: [{ namespace: 'n', name: 'a', ready: false }],
    }),
    4,
  );
});
