// The activator's life as a process: SIGINT and SIGTERM together in the middle of a burst (a Ctrl-C
// reaches the whole process group while `gatehouse up` sends SIGTERM) end it once, cleanly.
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import assert from 'node:assert/strict';
import { activatorOverXds } from '../support/activator-process.js';
import { gatehouseBin } from '../support/queue.js';

/**
 * A GET on a connection of its own. `connected` resolves once the connection is established (the
 * server's kernel holds it, so a server that keeps listening through its quiet period takes it);
 * `answer` with "status body", or why there was none.
 */
function rawGet(port: number, path: string, headers: Record<string, string>) {
  const socket = net.connect({ host: '127.0.0.1', port });
  const connected = once(socket, 'connect');
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.write(`GET ${path} HTTP/1.1\r\nhost: activator\r\n${head.join('')}connection: close\r\n\r\n`);
  const answer = new Promise<string>((resolve) => {
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.on('error', (err) => resolve(`failed: ${err.message}`));
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(data)?.[1];
      const [headPart = '', body = ''] = data.split('\r\n\r\n', 2);
      const chunked = /\r\ntransfer-encoding: chunked/i.test(headPart);
      // A chunked body's sizes are dropped; this app's answers are short and sent in one chunk.
      const text = chunked
        ? body
            .split('\r\n')
            .filter((_, i) => i % 2 === 1)
            .join('')
        : body;
      resolve(status ? `${status} ${text}` : `failed: closed after ${JSON.stringify(data.slice(0, 80))}`);
    });
  });
  return { connected, answer };
}

test('SIGINT and SIGTERM mid-burst: every request answered, the process exits 0 with no stack trace', async (t) => {
  const { child, port, routed, exited, lines, output } = await activatorOverXds(t, 'sig-00001', {
    timeoutSeconds: 30,
  });
  // 20 at CC=1 and 50 ms each: one at the pod, the rest queued when the signals arrive. The
  // signals go once every connection is up, not after a guess at how long that takes.
  const burst = Array.from({ length: 20 }, () => rawGet(port, '/?delay=50', routed));
  await Promise.all(burst.map((r) => r.connected));
  child.kill('SIGINT');
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  const answers = await Promise.all(burst.map((r) => r.answer));
  assert.deepEqual(
    new Set(answers),
    new Set(['200 Hello sig-00001!\n']),
    'requests accepted before the signals are served',
  );
  assert.equal(output(), '', 'nothing but log lines');
  assert.deepEqual(
    lines.filter((l) => /"level":"error"|Error:|at .*\(/.test(l)),
    [],
  );
  assert.deepEqual([code, signal], [0, null]);
});

test('queue limits from a flag or the environment: a bad value is a clear error before anything starts', async () => {
  const run = (args: string[], env: Record<string, string> = {}) => {
    const child = spawn(
      process.execPath,
      [gatehouseBin, 'activator', '--xds', '127.0.0.1:1', '--port', '0', '--metrics-port', '0', ...args],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    return once(child, 'exit').then(([code]) => ({ code, stderr }));
  };
  const flag = await run(['--max-queued', '1.5']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--max-queued <n>' argument '1.5' is invalid. expected a whole number from 0 to 10000000/);
  const env = await run([], { GATEHOUSE_ACTIVATOR_MAX_QUEUED_PER_REVISION: 'lots' });
  assert.equal(env.code, 2);
  assert.match(
    env.stderr,
    /--max-queued-per-revision <n>' value 'lots' from env 'GATEHOUSE_ACTIVATOR_MAX_QUEUED_PER_REVISION' is invalid/,
  );
});
