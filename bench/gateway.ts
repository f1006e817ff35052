// `npm run bench:gateway`: the cost of the embedded gateway's hop. The whole path of a revision in
// proxy mode, gateway → activator → queue-proxy → app, beside the same path without the gateway
// (activator → queue-proxy → app, the reference), and the gateway alone in front of the app beside
// the app direct, in one run: rounds whose order rotates, medians over rounds (bench/lib/compare.ts
// says what each figure is). The gateway runs with its own xDS server in one process, as in
// `gatehouse up`; CPU and memory are those of the processes on the path.
//   ROUNDS (5), BENCH_SECONDS (3) per step, CONNECTIONS (50).
import { startExampleApp } from '../test/support/app.js';
import { compareInRounds, report, type CompareTarget } from './lib/compare.js';
import { adopt, startHostProcess, startQueueProcess, stopAll } from './lib/processes.js';

const rounds = Number(process.env.ROUNDS ?? 5);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const connections = Number(process.env.CONNECTIONS ?? 50);
const HOST = { host: 'bench.default.example.com' };
const ROUTED = { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'bench-00001' };

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void stopAll().then(() => process.exit(130)));

const app = await startExampleApp();
adopt(app.process);
let out = '';
try {
  const queue = await startQueueProcess(app.port);
  const activator = await startHostProcess('activator', queue.port);
  const gatewayToActivator = await startHostProcess('gateway', activator.port, { viaActivator: true });
  const gatewayToApp = await startHostProcess('gateway', app.port);
  const path: CompareTarget[] = [
    { name: 'activator → queue → app', port: activator.port, headers: ROUTED, pids: [activator.pid, queue.pid] },
    {
      name: 'gateway → activator → queue → app',
      port: gatewayToActivator.port,
      headers: HOST,
      pids: [gatewayToActivator.pid, activator.pid, queue.pid],
    },
  ];
  const hop: CompareTarget[] = [
    { name: 'app direct', port: app.port, pids: [app.process.pid!] },
    { name: 'gateway → app', port: gatewayToApp.port, headers: HOST, pids: [gatewayToApp.pid] },
  ];
  for (const targets of [path, hop]) {
    const samples = await compareInRounds(targets, {
      rounds,
      seconds,
      connections,
      onRound: (r) => process.stderr.write(`${targets[1]!.name}: round ${r}/${rounds} done\n`),
    });
    out += report(targets, samples, connections) + '\n';
  }
} finally {
  await stopAll();
}
process.stdout.write(out);
process.stdout.write(
  `${rounds} rounds, order rotated each round, medians; c=1: p50 of requests interleaved one by one over the ` +
    `targets of a table; c=${connections}: autocannon ${seconds} s per target; CPU µs per request and memory: ` +
    `the sum over the path's processes (app direct: the app's)\n`,
);
