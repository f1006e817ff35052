// `npm run bench:queue`: the example app direct (the reference), behind gatehouse's queue-proxy and,
// when KNATIVE_QUEUE_BIN names Knative's Go queue-proxy binary, behind that, in one run: rounds
// whose order rotates, medians over rounds (bench/lib/compare.ts says what each figure is).
//   ROUNDS (5), BENCH_SECONDS (3) per step, CONNECTIONS (50), CONTAINER_CONCURRENCY (0);
//   QUEUE_NODE_FLAGS="a;b": one gatehouse queue-proxy per entry, each run with those node flags
//   ("" = the queue-proxy's own, QUEUE_NODE_FLAGS of src/model/queue-proxy.ts; "-" = none), to weigh
//   V8 flags in the same run; NODE_FLOOR=1: Node's floors as three more targets, each started with
//   the queue-proxy's flags: an empty HTTP server (one side of a hop), a minimal HTTP proxy (node:http
//   + an undici pool, nothing else) and a TCP relay (no HTTP at all), the least a Node hop costs;
//   BEFORE=<another checkout, built>: its queue-proxy too, with this one's flags.
// gatehouse's queue-proxy runs from dist/ (`npm run build`); a stale build would measure tsx.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { QUEUE_NODE_FLAGS } from '../src/model/queue-proxy.js';
import { packageRoot } from '../src/package-root.js';
import { startExampleApp } from '../test/support/app.js';
import { compareInRounds, report, type CompareTarget } from './lib/compare.js';
import { adopt, startQueueProcess, stopAll } from './lib/processes.js';

const rounds = Number(process.env.ROUNDS ?? 5);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const connections = Number(process.env.CONNECTIONS ?? 50);
const concurrency = process.env.CONTAINER_CONCURRENCY ?? '0';
const flagSets = (process.env.QUEUE_NODE_FLAGS ?? '').split(';');
const GO = 'knative queue-proxy (Go)';

async function startGatehouseQueue(userPort: number, flags: string): Promise<CompareTarget> {
  const { port, pid } = await startQueueProcess(userPort, {
    env: { CONTAINER_CONCURRENCY: concurrency },
    flags: flags === '' ? QUEUE_NODE_FLAGS : flags.split(' ').filter((f) => f !== '' && f !== '-'),
  });
  return { name: flags === '' ? 'gatehouse queue' : `gatehouse queue, node flags: ${flags}`, port, pids: [pid] };
}

async function startKnativeQueue(bin: string, userPort: number): Promise<CompareTarget> {
  // Knative's binary binds admin 8022 and metrics 9090 itself; only the serving port is ours to pick.
  const port = 18012;
  const child = adopt(
    spawn(bin, [], {
      env: {
        SERVING_NAMESPACE: 'default',
        SERVING_CONFIGURATION: 'bench',
        SERVING_REVISION: 'bench-00001',
        SERVING_POD: 'bench-pod',
        SERVING_POD_IP: '127.0.0.1',
        CONTAINER_CONCURRENCY: concurrency,
        QUEUE_SERVING_PORT: String(port),
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
      stdio: ['ignore', 'ignore', 'ignore'],
    }),
  );
  // Ready when a kubelet-style probe answers.
  for (const deadline = Date.now() + 15_000; ;) {
    const status = await fetch(`http://127.0.0.1:${port}/`, {
      headers: { 'user-agent': 'kube-probe/1.27', 'k-network-probe': 'queue' },
    }).then(
      (res) => res.status,
      () => undefined,
    );
    if (status === 200) break;
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`Knative's queue-proxy (${bin}) did not become ready on :${port} (it binds 8022 and 9090 too)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name: GO, port, pids: [child.pid!] };
}

/** A Node process running `script`, which prints the port it listens on; measured with the queue-proxy's flags. */
async function startNodeScript(name: string, script: string, env: Record<string, string> = {}): Promise<CompareTarget> {
  const child = adopt(
    spawn(process.execPath, [...QUEUE_NODE_FLAGS, '-e', script], {
      // `require('undici')` in the script resolves from here.
      cwd: packageRoot(),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  );
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { name, port: Number(line), pids: [child.pid!] };
}

const LISTEN = "s.listen(0, '127.0.0.1', () => console.log(s.address().port));";

/** Floors: what Node itself costs under this load, whatever runs in it (NODE_FLOOR=1). */
function startNodeFloors(appPort: number): Promise<CompareTarget>[] {
  const env = { FLOOR_APP_PORT: String(appPort) };
  return [
    // An empty HTTP server: one side of a hop.
    startNodeScript(
      'floor: empty Node HTTP server',
      "const s = require('node:http').createServer((q, r) => r.end('ok'));" + LISTEN,
    ),
    // The least an HTTP-aware Node proxy does: node:http in front, an undici pool behind, status,
    // headers and body passed through; no limits, metrics, probes or deadlines.
    startNodeScript(
      'floor: minimal Node HTTP proxy',
      "const { Pool } = require('undici'); const http = require('node:http');" +
        "const pool = new Pool('http://127.0.0.1:' + process.env.FLOOR_APP_PORT, { connections: 256 });" +
        'const s = http.createServer((q, r) => {' +
        '  pool.request({ path: q.url, method: q.method, headers: q.headers, body: q.method === "GET" ? null : q })' +
        '    .then((u) => { r.writeHead(u.statusCode, u.headers); u.body.pipe(r); },' +
        '          () => { r.statusCode = 502; r.end(); });' +
        '});' +
        LISTEN,
      env,
    ),
    // Not HTTP at all: each client connection spliced to its own app connection, bytes copied both
    // ways. The least any Node forwarder costs: two loopback hops through one event loop.
    startNodeScript(
      'floor: Node TCP relay',
      "const net = require('node:net');" +
        'const s = net.createServer((c) => { c.setNoDelay(true);' +
        "  const u = net.connect(Number(process.env.FLOOR_APP_PORT), '127.0.0.1'); u.setNoDelay(true);" +
        "  c.pipe(u).pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); });" +
        LISTEN,
      env,
    ),
  ];
}

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void stopAll().then(() => process.exit(130)));

const app = await startExampleApp();
adopt(app.process);
let out: string;
try {
  const targets: CompareTarget[] = [{ name: 'app direct', port: app.port, pids: [app.process.pid!] }];
  for (const flags of flagSets) targets.push(await startGatehouseQueue(app.port, flags));
  if (process.env.BEFORE) {
    const { port, pid } = await startQueueProcess(app.port, {
      root: process.env.BEFORE,
      env: { CONTAINER_CONCURRENCY: concurrency },
    });
    targets.push({ name: `gatehouse queue of ${process.env.BEFORE}`, port, pids: [pid] });
  }
  if (process.env.NODE_FLOOR) targets.push(...(await Promise.all(startNodeFloors(app.port))));
  if (process.env.KNATIVE_QUEUE_BIN) targets.push(await startKnativeQueue(process.env.KNATIVE_QUEUE_BIN, app.port));
  const samples = await compareInRounds(targets, {
    rounds,
    seconds,
    connections,
    onRound: (r) => process.stderr.write(`round ${r}/${rounds} done\n`),
  });
  out = report(targets, samples, connections, process.env.KNATIVE_QUEUE_BIN ? GO : undefined);
} finally {
  await stopAll();
}
process.stdout.write(out);
process.stdout.write(
  `${rounds} rounds, order rotated each round, medians; c=1: p50 of requests interleaved one by one over all ` +
    `targets; c=${connections}: autocannon ${seconds} s per target; CPU and memory: the target's process ` +
    `(app direct: the app's); gatehouse queue runs with ${QUEUE_NODE_FLAGS.join(' ')}\n`,
);
