// What an idle keep-alive connection costs a listener (issue 15: 10,000 of them under 100 MiB): the
// V8 heap a connection keeps after its one request, measured after full collections with the clients
// in a child process, so only the server's side is counted. And the first-bytes deadline's sweep,
// which replaced a timer per connection, with exact times.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after, test } from 'node:test';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { closeServer, createAutoCodecServer, FirstBytesDeadline, listen, plain } from '../../src/http/auto-codec.js';
import { ConnectionBudget, defaultHttpLimits } from '../../src/http/limits.js';
import { until } from '../support/cli.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CONNECTIONS = 2000;
/**
 * Measured with Node 20: 3.4 KiB, nearly all Node's own (the socket and its stream states, the parser's JS side, the
 * HTTP server's bound handlers and keep-alive timer); 4.1 KiB while the listener added a closure per event, once-
 * wrappers and a first-bytes timer that its close handler kept alive.
 */
const MAX_HEAP_BYTES_PER_CONNECTION = 3.6 * 1024;

const CLIENT = `
const net = require('node:net');
const [port, n] = process.argv.slice(1).map(Number);
const sockets = [];
(async () => {
  for (let i = 0; i < n; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, n - i) }, () => new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
      s.once('data', resolve);
      s.once('error', reject);
      sockets.push(s);
    })));
  }
  process.stdout.write('open\\n');
})();
process.stdin.resume().on('end', () => process.exit(0));
`;

function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

test('an idle kept-alive HTTP/1.1 connection keeps at most 3.6 KiB of the listener heap', async () => {
  const limits = { ...defaultHttpLimits(), headersTimeoutMs: 60_000, idleTimeoutMs: 60_000 };
  const server = createAutoCodecServer((_req, res) => plain(res, 200, 'ok'), undefined, {
    limits,
    name: 'footprint',
    budget: new ConnectionBudget(100_000),
  });
  const port = await listen(server.front, 0, '127.0.0.1');
  after(async () => {
    for (const s of server.sockets) s.destroy();
    await closeServer(server.front);
  });
  // Warm: code compiled, Node's parser pool and the first-bytes sweep touched.
  const warm = spawn(process.execPath, ['-e', CLIENT, String(port), '200'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await once(createInterface({ input: warm.stdout }), 'line');
  warm.stdin.end();
  await once(warm, 'exit');
  await until(() => server.sockets.size === 0, 'the warm-up connections to close');

  const before = heapUsed();
  const client = spawn(process.execPath, ['-e', CLIENT, String(port), String(CONNECTIONS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  after(() => client.kill());
  assert.equal(String(await once(createInterface({ input: client.stdout }), 'line')), 'open');
  assert.equal(server.sockets.size, CONNECTIONS);
  const perConnection = (heapUsed() - before) / CONNECTIONS;
  assert.ok(
    perConnection <= MAX_HEAP_BYTES_PER_CONNECTION,
    `${(perConnection / 1024).toFixed(2)} KiB of heap per idle connection`,
  );
  client.stdin.end();
  await until(() => server.sockets.size === 0, 'the idle connections to close');
});

test('the first-bytes deadline closes connections in arrival order once their time passed, and no others', () => {
  const deadline = new FirstBytesDeadline(1000, 100);
  const socket = () => {
    const s = new net.Socket();
    let destroyed = false;
    s.destroy = () => ((destroyed = true), s);
    return { s, destroyed: () => destroyed };
  };
  const [a, b, c] = [socket(), socket(), socket()];
  deadline.add(a.s, 0);
  deadline.add(b.s, 300);
  deadline.add(c.s, 600);
  deadline.delete(b.s); // b sent its first bytes
  deadline.sweep(999);
  assert.deepEqual([a.destroyed(), c.destroyed()], [false, false]);
  deadline.sweep(1000);
  assert.deepEqual([a.destroyed(), b.destroyed(), c.destroyed()], [true, false, false]);
  assert.equal(deadline.size, 1);
  deadline.sweep(1600);
  assert.deepEqual([b.destroyed(), c.destroyed()], [false, true]);
  assert.equal(deadline.size, 0);
});
