// `npm run bench:activator`: in one run, the example app hit directly and through
// activator → queue-proxy → app, at c=1 and c=50 (CONTAINER_CONCURRENCY, default 0, for both
// the revision and its queue-proxy). Prints rps, p50/p99, CPU µs per request of the activator and
// the ratios to the direct run. BENCH_SECONDS (default 5) sets each step.
import { InProcessRevisionSource } from '../src/activator/revision-source.js';
import { startActivator } from '../src/activator/server.js';
import { createLogger, setLogLevel } from '../src/log/logger.js';
import { startExampleApp } from '../test/support/app.js';
import { startQueue } from '../test/support/queue.js';
import { runLoad } from './lib/load.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const cc = Number(process.env.CONTAINER_CONCURRENCY ?? 0);
setLogLevel('warn');
const app = await startExampleApp();
const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: String(cc) });
const source = new InProcessRevisionSource();
source.set({
  namespace: 'default',
  name: 'bench-00001',
  containerConcurrency: cc,
  timeoutSeconds: 300,
  pods: [{ host: '127.0.0.1', port: queue.servingPort }],
});
// In this process, so its CPU is this process's CPU minus the load generator's, which is why the
// CPU figure is measured against a run of the generator alone (the direct run).
const activator = await startActivator({ port: 0, source, log: createLogger('bench') });
const routed = { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'bench-00001' };
await runLoad(`http://127.0.0.1:${activator.port}/`, 10, 1, routed); // warm-up

const rows: string[][] = [['path', 'c', 'rps', 'p50 ms', 'p99 ms', 'errors', 'rps ÷ direct', 'process CPU µs/req']];
for (const c of [1, 50]) {
  const cpu0 = process.cpuUsage();
  const direct = await runLoad(`http://127.0.0.1:${app.port}/`, c, seconds);
  const cpuDirect = process.cpuUsage(cpu0);
  const cpu1 = process.cpuUsage();
  const through = await runLoad(`http://127.0.0.1:${activator.port}/`, c, seconds, routed);
  const cpuThrough = process.cpuUsage(cpu1);
  const perReq = (u: NodeJS.CpuUsage, n: number) => ((u.user + u.system) / Math.max(1, n)).toFixed(1);
  rows.push([
    'app direct',
    String(c),
    direct.rps.toFixed(0),
    String(direct.p50Ms),
    String(direct.p99Ms),
    String(direct.errors + direct.non2xx),
    '1.00',
    perReq(cpuDirect, direct.requests),
  ]);
  rows.push([
    'activator → queue → app',
    String(c),
    through.rps.toFixed(0),
    String(through.p50Ms),
    String(through.p99Ms),
    String(through.errors + through.non2xx),
    (through.rps / direct.rps).toFixed(2),
    perReq(cpuThrough, through.requests),
  ]);
}
await activator.close();
await queue.stop();
await app.stop();
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) process.stdout.write(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ') + '\n');
process.stdout.write(
  '(process CPU = load generator + activator in this process; the difference between the rows is the activator)\n',
);
process.exit(0);
