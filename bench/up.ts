// `npm run bench:up`: gatehouse up measured in one run.
//   1. file edit → probe-confirmed Ready, p50/p99, with 1, 100 and 1,000 services loaded, each
//      edit made once the previous one has settled
//      (services start at zero pods: Knative's allow-zero-initial-scale, so only the data plane
//      is measured, not 1,000 app processes);
//   2. cold-start overhead: first byte of a request to a revision at zero, minus the app's own
//      boot time (spawn → listening), p50 over COLD_STARTS revisions started one at a time;
//   3. steady rps and latency gateway → queue-proxy → app vs the app direct.
// SERVICE_COUNTS (default "1,100,1000"), EDITS (default 20), COLD_STARTS (default 9),
// BENCH_SECONDS (default 5).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { createLogger, setLogLevel } from '../src/log/logger.js';
import { loopbackUpOptions, serviceYaml } from '../src/bench/services.js';
import { startUp, type Up } from '../src/up/orchestrator.js';
import { exampleAppPath, startExampleApp } from '../test/support/app.js';
import { runLoad } from './lib/load.js';

const counts = (process.env.SERVICE_COUNTS ?? '1,100,1000').split(',').map(Number);
const edits = Number(process.env.EDITS ?? 20);
const coldStarts = Number(process.env.COLD_STARTS ?? 9);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
setLogLevel('warn');
const log = createLogger('bench');

const service = (name: string, target: string, annotations: Record<string, string>) =>
  serviceYaml(name, { target, annotations, appPath: exampleAppPath });

const atZero = { 'autoscaling.knative.dev/initial-scale': '0', 'autoscaling.knative.dev/window': '6s' };

const startBenchUp = (file: string): Promise<Up> => startUp(loopbackUpOptions(file, log));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    // Not setImmediate: the poll must not starve gatehouse, which runs in this process.
    await new Promise((r) => setTimeout(r, 1));
  }
}

const rows: string[][] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-up-'));

// 1. Edit → Ready.
for (const n of counts) {
  const file = path.join(dir, `services-${n}.yaml`);
  const background = Array.from({ length: n - 1 }, (_, i) => service(`svc-${i}`, `svc-${i}`, atZero)).join('');
  writeFileSync(file, service('edited', 'v0', atZero) + background);
  const up = await startBenchUp(file);
  await up.whenReady(120_000);
  const times: number[] = [];
  for (let e = 1; e <= edits; e++) {
    // Each edit on a settled system, as a person edits: the previous revision has been retired.
    await new Promise((r) => setTimeout(r, 300));
    const revision = `edited-${String(e + 1).padStart(5, '0')}`;
    const started = performance.now();
    writeFileSync(file, service('edited', `v${e}`, atZero) + background);
    await until(
      () => {
        const r = up.route('default', 'edited');
        return r !== undefined && r.ready && r.revisions.includes(revision);
      },
      30_000,
      `${revision} to be Ready`,
    );
    times.push(performance.now() - started);
  }
  await up.close();
  times.sort((a, b) => a - b);
  rows.push([
    `edit → Ready, ${n} service(s)`,
    `p50 ${percentile(times, 50).toFixed(1)} ms`,
    `p99 ${percentile(times, 99).toFixed(1)} ms`,
    `target p50 ≤ 100 ms at 1,000`,
  ]);
  process.stderr.write(`edit → Ready with ${n} services done\n`);
}

// 2. Cold start overhead.
{
  const boots: number[] = [];
  for (let i = 0; i < coldStarts; i++) {
    const started = performance.now();
    const app = await startExampleApp();
    boots.push(performance.now() - started);
    await app.stop();
  }
  const file = path.join(dir, 'cold.yaml');
  writeFileSync(file, Array.from({ length: coldStarts }, (_, i) => service(`cold-${i}`, `cold-${i}`, atZero)).join(''));
  const up = await startBenchUp(file);
  await up.whenReady(60_000);
  const colds: number[] = [];
  for (let i = 0; i < coldStarts; i++) {
    // Cold starts one at a time, each on a quiet system (the runtime boots its next standby
    // queue-proxy a second after one is taken), as independent cold starts happen.
    await new Promise((r) => setTimeout(r, 1500));
    const started = performance.now();
    const res = await request(`http://127.0.0.1:${up.gatewayPort}/`, {
      headers: { host: `cold-${i}.default.example.com` },
    });
    colds.push(performance.now() - started); // headers received: the first byte
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`cold request ${i} answered ${res.statusCode}`);
  }
  await up.close();
  boots.sort((a, b) => a - b);
  colds.sort((a, b) => a - b);
  const overhead = percentile(colds, 50) - percentile(boots, 50);
  rows.push([
    'cold start',
    `first byte p50 ${percentile(colds, 50).toFixed(0)} ms`,
    `app boot p50 ${percentile(boots, 50).toFixed(0)} ms`,
    `overhead ${overhead.toFixed(0)} ms (target ≤ 50)`,
  ]);
}

// 3. Steady state: gateway → queue-proxy → app (serve mode) vs the app direct.
{
  const file = path.join(dir, 'steady.yaml');
  writeFileSync(
    file,
    service('steady', 'steady', {
      'autoscaling.knative.dev/target-burst-capacity': '0',
      'autoscaling.knative.dev/min-scale': '1',
      'autoscaling.knative.dev/max-scale': '1',
    }),
  );
  const up = await startBenchUp(file);
  await up.whenReady(60_000);
  const host = { host: 'steady.default.example.com' };
  await runLoad(`http://127.0.0.1:${up.gatewayPort}/`, 4, 1, host);
  await until(() => up.status().revisions[0]!.mode === 'serve', 30_000, 'serve mode');
  const app = await startExampleApp();
  for (const c of [1, 50]) {
    const direct = await runLoad(`http://127.0.0.1:${app.port}/`, c, seconds);
    const through = await runLoad(`http://127.0.0.1:${up.gatewayPort}/`, c, seconds, host);
    rows.push([
      `steady c=${c}: app direct`,
      `${direct.rps.toFixed(0)} rps`,
      `p50 ${direct.p50Ms} ms p99 ${direct.p99Ms} ms`,
      '1.00',
    ]);
    rows.push([
      `steady c=${c}: gateway → queue → app`,
      `${through.rps.toFixed(0)} rps`,
      `p50 ${through.p50Ms} ms p99 ${through.p99Ms} ms`,
      `${(through.rps / direct.rps).toFixed(2)} of direct, ${through.errors + through.non2xx} errors`,
    ]);
  }
  await app.stop();
  await up.close();
}

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
for (const r of rows) process.stdout.write(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ') + '\n');
process.stdout.write('(one 2-core machine runs the generator, gatehouse and the app: compare ratios, not absolutes)\n');
process.exit(0);
