// Pod processes start in a helper process, off the runtime's event loop: the child's pipes, exit,
// signals and priority behave as a directly spawned child's, a bad command is an error event, and
// closing the spawner leaves nothing running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import os from 'node:os';
import { PodSpawner, type PodProcess } from '../../src/runtime/spawner.js';
import { alive, until } from '../support/cli.js';

const node = process.execPath;
const text = async (child: PodProcess) => {
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await once(child, 'close');
  return out;
};

test('spawner: stdin in, stdout out, exit code, close, and the priority lowered', async (t) => {
  const spawner = new PodSpawner();
  t.after(() => spawner.close());
  const child = spawner.spawn(
    node,
    ['-e', 'process.stdin.on("data", (d) => process.stdout.write("got " + d)).on("end", () => process.exit(3))'],
    { env: process.env, stdin: true, niceness: 3 },
  );
  const output = text(child);
  child.stdin!.end('hello\n');
  await once(child, 'spawn');
  if (process.platform === 'linux') assert.equal(os.getPriority(child.pid), Math.min(19, os.getPriority() + 3));
  assert.equal(await output, 'got hello\n');
  assert.deepEqual([child.exitCode, child.signalCode], [3, null]);
  assert.equal(child.kill('SIGTERM'), false, 'an exited child takes no signal');
});

test('spawner: a command that does not exist is an error event, with its code', async (t) => {
  const spawner = new PodSpawner();
  t.after(() => spawner.close());
  const child = spawner.spawn('/nonexistent/gatehouse-app', [], { env: process.env, niceness: 0 });
  const [err] = (await once(child, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ENOENT');
  assert.equal(child.pid, undefined);
});

test('spawner: a signal sent before the pid is known is delivered; closing kills what still runs', async (t) => {
  const spawner = new PodSpawner();
  t.after(() => spawner.close());
  const early = spawner.spawn(node, ['-e', 'setTimeout(() => {}, 60_000)'], { env: process.env, niceness: 0 });
  assert.equal(early.pid, undefined);
  early.kill('SIGTERM');
  assert.deepEqual(await once(early, 'exit'), [null, 'SIGTERM']);

  const left = spawner.spawn(node, ['-e', 'setTimeout(() => {}, 60_000)'], { env: process.env, niceness: 0 });
  await once(left, 'spawn');
  const exited = once(left, 'exit');
  spawner.close();
  await until(() => !alive(left.pid!), 'the child to go with its spawner', 10_000);
  void exited;
  const after = spawner.spawn(node, ['-e', '0'], { env: process.env, niceness: 0 });
  const [err] = (await once(after, 'error')) as [Error];
  assert.match(err.message, /the pod runtime is closed/);
});
