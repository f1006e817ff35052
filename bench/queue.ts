// `npm run bench:queue`: the example app hit directly, behind gatehouse's queue-proxy, and — when
// KNATIVE_QUEUE_BIN names Knative's Go queue-proxy binary — behind that, in one run, at c=1 and c=50.
// Prints throughput, latency, CPU per request and peak RSS, and each as a ratio to the reference.
// BENCH_SECONDS (default 5) sets each load step's length; CONTAINER_CONCURRENCY (default 0) the breaker.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createLogger } from '../src/log/logger.js';
import { startExampleApp } from '../test/support/app.js';
import { startQueue } from '../test/support/queue.js';
import { cpuMicros, peakRssMiB } from './lib/proc.js';
import { runLoad, type LoadResult } from './lib/load.js';

const log = createLogger('bench');
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const concurrency = process.env.CONTAINER_CONCURRENCY ?? '0';
const levels = [1, 50];

interface Target {
  name: string;
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

interface Row {
  target: string;
  connections: number;
  load: LoadResult;
  cpuPerRequestUs: number | undefined;
  peakRssMiB: number | undefined;
}

async function startKnativeQueue(bin: string, userPort: number): Promise<Target> {
  // Knative's binary binds admin 8022 and metrics 9090 itself; only the serving port is ours to pick.
  const servingPort = 18012;
  const child: ChildProcess = spawn(bin, [], {
    env: {
      SERVING_NAMESPACE: 'default',
      SERVING_CONFIGURATION: 'hello',
      SERVING_REVISION: 'hello-00001',
      SERVING_POD: 'hello-00001-bench',
      SERVING_POD_IP: '127.0.0.1',
      CONTAINER_CONCURRENCY: concurrency,
      QUEUE_SERVING_PORT: String(servingPort),
      QUEUE_SERVING_TLS_PORT: '18112',
      USER_PORT: String(userPort),
      REVISION_TIMEOUT_SECONDS: '300',
      SERVING_LOGGING_CONFIG: '',
      SERVING_LOGGING_LEVEL: 'error',
      SERVING_READINESS_PROBE: JSON.stringify({
        tcpSocket: { port: userPort, host: '127.0.0.1' },
        successThreshold: 1,
      }),
      ENABLE_HTTP2_AUTO_DETECTION: 'true',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines = createInterface({ input: child.stderr! });
  lines.on('line', () => {});
  // Ready when a kubelet-style probe answers.
  for (const deadline = Date.now() + 15_000; ;) {
    try {
      const res = await fetch(`http://127.0.0.1:${servingPort}/`, {
        headers: { 'user-agent': 'kube-probe/1.27', 'k-network-probe': 'queue' },
      });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`Knative's queue-proxy (${bin}) did not become ready on :${servingPort}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name: 'knative queue-proxy (Go)',
    url: `http://127.0.0.1:${servingPort}/`,
    pid: child.pid,
    async stop() {
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

async function measure(target: Target): Promise<Row[]> {
  const rows: Row[] = [];
  await runLoad(target.url, 10, 1); // warm-up: connections, JIT
  for (const connections of levels) {
    log.info('load', { target: target.name, connections, seconds });
    const cpuBefore = target.pid ? cpuMicros(target.pid) : 0;
    const load = await runLoad(target.url, connections, seconds);
    const cpuAfter = target.pid ? cpuMicros(target.pid) : 0;
    rows.push({
      target: target.name,
      connections,
      load,
      cpuPerRequestUs: target.pid ? (cpuAfter - cpuBefore) / Math.max(1, load.requests) : undefined,
      peakRssMiB: target.pid ? peakRssMiB(target.pid) : undefined,
    });
  }
  return rows;
}

function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);
}

const app = await startExampleApp();
const targets: Target[] = [
  { name: 'app direct', url: `http://127.0.0.1:${app.port}/`, pid: undefined, stop: async () => {} },
];
const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: concurrency });
targets.push({ name: 'gatehouse queue', url: queue.url('/'), pid: queue.process.pid, stop: () => queue.stop() });
if (process.env.KNATIVE_QUEUE_BIN) targets.push(await startKnativeQueue(process.env.KNATIVE_QUEUE_BIN, app.port));

const rows: Row[] = [];
try {
  for (const target of targets) rows.push(...(await measure(target)));
} finally {
  for (const target of targets) await target.stop();
  await app.stop();
}

const header = [
  'target',
  'c',
  'rps',
  'p50 ms',
  'p99 ms',
  'errors',
  'cpu µs/req',
  'peak RSS MiB',
  'rps ÷ direct',
  'added µs/req @c=1',
];
const table = [header];
for (const row of rows) {
  const direct = rows.find((r) => r.target === 'app direct' && r.connections === row.connections)!;
  // At c=1 every request waits for the previous one, so 1/rps is the mean latency; the difference
  // to the direct run is what the proxy adds, with microsecond resolution.
  const added = row.connections === 1 ? (1 / row.load.rps - 1 / direct.load.rps) * 1e6 : undefined;
  table.push([
    row.target,
    String(row.connections),
    fmt(row.load.rps, 0),
    fmt(row.load.p50Ms, 2),
    fmt(row.load.p99Ms, 2),
    String(row.load.errors + row.load.non2xx),
    fmt(row.cpuPerRequestUs),
    fmt(row.peakRssMiB),
    fmt(row.load.rps / direct.load.rps, 2),
    row.target === 'app direct' ? '-' : fmt(added, 0),
  ]);
}
const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
for (const r of table) process.stdout.write(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ') + '\n');

const go = rows.filter((r) => r.target.startsWith('knative'));
if (go.length > 0) {
  for (const g of go) {
    const ours = rows.find((r) => r.target === 'gatehouse queue' && r.connections === g.connections)!;
    process.stdout.write(
      `c=${g.connections}: gatehouse/Go throughput ${fmt(ours.load.rps / g.load.rps, 2)}×, ` +
        `CPU per request ${fmt((ours.cpuPerRequestUs ?? 0) / (g.cpuPerRequestUs ?? 1), 2)}×\n`,
    );
  }
}
