// A queue-proxy of a pod that has just started, as `gatehouse up` starts it (localQueueArgs):
// its first requests must not set V8 compiling undici's HTTP parser (WebAssembly) a second time, with its optimizing
// compiler on a helper thread. That compile took 300–450 ms of CPU per pod, more than booting the queue-proxy, and
// in a burst from zero every new pod paid it while the cores were what the other pods waited for.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createInterface } from 'node:readline';
import test from 'node:test';
import { LISTENING_MESSAGE, LOOPBACK_FREE_PORTS } from '../../src/model/queue-proxy.js';
import { localQueueArgs } from '../../src/runtime/queue-standby.js';
import { startExampleApp } from '../support/app.js';

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU milliseconds of each thread of a process other than its main thread (Linux /proc). */
function helperThreadsCpuMs(pid: number): number {
  let ms = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (Number(tid) === pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ms += ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
    } catch {
      // the thread ended meanwhile
    }
  }
  return ms;
}

function get(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
  });
}

test(
  "a new pod's queue-proxy serves its first slow requests without an optimizing compile on a helper thread",
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async (t) => {
    const app = await startExampleApp();
    t.after(() => app.stop());
    const queue = spawn(process.execPath, localQueueArgs(true), {
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'info' },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    t.after(() => void queue.kill('SIGKILL'));
    queue.stdin.end(
      JSON.stringify({
        ...LOOPBACK_FREE_PORTS,
        USER_PORT: String(app.port),
        CONTAINER_CONCURRENCY: '1',
        SERVING_READINESS_PROBE: JSON.stringify({ tcpSocket: { port: app.port, host: '127.0.0.1' } }),
      }) + '\n',
    );
    const servingPort = await new Promise<number>((resolve, reject) => {
      queue.once('exit', (code) => reject(new Error(`the queue-proxy exited with ${code}`)));
      createInterface({ input: queue.stderr }).on('line', (line) => {
        if (line.includes(LISTENING_MESSAGE)) resolve((JSON.parse(line) as { servingPort: number }).servingPort);
      });
    });
    const probe = { 'user-agent': 'kube-probe/1.27', 'k-network-probe': 'queue' };
    assert.equal(await get(servingPort, '/', probe), 200);
    const before = helperThreadsCpuMs(queue.pid!);
    // What a pod of a burst at containerConcurrency 1 sees in its first seconds: requests of 150 ms, one at a time.
    for (let i = 0; i < 20; i++) assert.equal(await get(servingPort, '/?delay=150', {}), 200);
    const helpers = helperThreadsCpuMs(queue.pid!) - before;
    // With V8's WebAssembly tier-up on, a helper thread spent 300–450 ms here; without it, 0–20 ms.
    assert.ok(helpers < 150, `helper threads of the queue-proxy used ${helpers} ms of CPU over 20 requests`);
  },
);
