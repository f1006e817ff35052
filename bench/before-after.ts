// `npm run bench:before-after`: the proxies of two gatehouse checkouts side by side, measured by
// the same load driver, interleaved, so a change to the request path is judged on a noisy machine
// by medians and ratios, not by one run's absolute numbers.
//   BEFORE=/path/to/other/checkout [AFTER=this checkout] ROUNDS=8 BENCH_SECONDS=3 npm run bench:before-after
// Each checkout runs its queue-proxy (`gatehouse queue`, the app behind it), its activator (in front
// of one shared queue-proxy of AFTER) and its embedded gateway with its own xDS server (the app
// behind it). One example app serves all. Each round (before/after order swapped every round), per
// kind of proxy:
//   c=1: for BENCH_SECONDS, one request at a time to the reference, before and after in turn (one
//        keep-alive connection each), so all three see the same moments; the added latency is a
//        proxy's p50 minus the reference's (the app, or for the activator the shared queue-proxy);
//   c=50: autocannon on before and after, rps, p99 and the proxy process's CPU time per request.
// Prints the medians over rounds and after ÷ before.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startExampleApp } from '../test/support/app.js';
import { interleavedP50, median } from './lib/compare.js';
import { runLoad } from './lib/load.js';
import { cpuMicros } from './lib/proc.js';
import { adopt, startHostProcess, startQueueProcess, stopAll } from './lib/processes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const after = process.env.AFTER ?? path.resolve(here, '..');
const before = process.env.BEFORE;
if (!before) {
  process.stderr.write(
    'BEFORE must name the other checkout (a worktree with npm ci done), e.g. BEFORE=/tmp/gatehouse-before\n',
  );
  process.exit(2);
}
const rounds = Number(process.env.ROUNDS ?? 6);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const ROUTED = { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'bench-00001' };
const GATEWAY_HOST = { host: 'bench.default.example.com' };

interface Target {
  name: string;
  port: number;
  headers: Record<string, string>;
  /** The process whose CPU time is the proxy's (gateway and activator hosts run nothing else busy). */
  pid?: number | undefined;
}
type Sample = { p50Us: number; rps: number; p99Ms: number; cpuUsPerRequest: number };

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void stopAll().then(() => process.exit(130)));
const app = await startExampleApp();
adopt(app.process);
const sharedQueue = await startQueueProcess(app.port, { root: after });
const side = async (root: string) => ({
  queue: await startQueueProcess(app.port, { root }),
  activator: await startHostProcess('activator', sharedQueue.port, { root }),
  gateway: await startHostProcess('gateway', app.port, { root }),
});
const started = { before: await side(before), after: await side(after) };

const KINDS = [
  { kind: 'queue', reference: 'app', headers: {} },
  { kind: 'activator', reference: 'shared queue', headers: ROUTED },
  { kind: 'gateway', reference: 'app', headers: GATEWAY_HOST },
] as const;
const references: Record<string, Target> = {
  app: { name: 'app', port: app.port, headers: {} },
  'shared queue': { name: 'shared queue', port: sharedQueue.port, headers: {} },
};
const proxy = (which: 'before' | 'after', k: (typeof KINDS)[number]): Target => ({
  name: `${which} ${k.kind}`,
  ...started[which][k.kind],
  headers: k.headers,
});
const samples = new Map<string, Sample[]>();
const errorsSeen: string[] = [];

/** c=50 for `seconds` with autocannon, and the proxy process's CPU time per request meanwhile. */
async function loaded(t: Target): Promise<Omit<Sample, 'p50Us'>> {
  const cpu0 = t.pid ? cpuMicros(t.pid) : 0;
  const load = await runLoad(`http://127.0.0.1:${t.port}/`, 50, seconds, t.headers);
  const cpu = t.pid ? cpuMicros(t.pid) - cpu0 : NaN;
  if (load.errors + load.non2xx > 0) errorsSeen.push(`${t.name}: ${load.errors + load.non2xx} errors`);
  return { rps: load.rps, p99Ms: load.p99Ms, cpuUsPerRequest: cpu / Math.max(1, load.requests) };
}

function record(name: string, sample: Sample): void {
  const list = samples.get(name) ?? [];
  list.push(sample);
  samples.set(name, list);
}

try {
  // Warm-up: connections, JIT, pools.
  for (const k of KINDS)
    for (const t of [references[k.reference]!, proxy('before', k), proxy('after', k)])
      await runLoad(`http://127.0.0.1:${t.port}/`, 10, 1, t.headers);
  for (let r = 0; r < rounds; r++) {
    const order: Array<'before' | 'after'> = r % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
    for (const k of KINDS) {
      const reference = references[k.reference]!;
      const targets = [reference, proxy(order[0]!, k), proxy(order[1]!, k)];
      const p50s = await interleavedP50(targets, seconds);
      // The reference's p50 is kept per kind: each kind's added latency is against its own interleaving.
      record(`${k.kind} reference`, { p50Us: p50s[0]!, rps: NaN, p99Ms: NaN, cpuUsPerRequest: NaN });
      for (let i = 1; i < targets.length; i++)
        record(targets[i]!.name, { p50Us: p50s[i]!, ...(await loaded(targets[i]!)) });
    }
    process.stderr.write(`round ${r + 1}/${rounds} done\n`);
  }
} finally {
  await stopAll();
}

// Added latency per round (against the same round's reference), then medians over rounds.
const added = (name: string, reference: string) =>
  median(samples.get(name)!.map((s, i) => s.p50Us - samples.get(reference)![i]!.p50Us));
const med = (name: string, key: keyof Sample) => median(samples.get(name)!.map((s) => s[key]));
const ratio = (a: number, b: number) => (a / b).toFixed(2);
const rows = [
  [
    'path',
    'added p50 µs @c=1: before',
    'after',
    'ratio',
    'rps @c=50: before',
    'after',
    'ratio',
    'p99 ms @c=50: before',
    'after',
    'CPU µs/req: before',
    'after',
    'ratio',
  ],
];
for (const k of KINDS) {
  const [b, a, ref] = [`before ${k.kind}`, `after ${k.kind}`, `${k.kind} reference`];
  rows.push([
    k.kind,
    added(b, ref).toFixed(0),
    added(a, ref).toFixed(0),
    ratio(added(a, ref), added(b, ref)),
    med(b, 'rps').toFixed(0),
    med(a, 'rps').toFixed(0),
    ratio(med(a, 'rps'), med(b, 'rps')),
    med(b, 'p99Ms').toFixed(1),
    med(a, 'p99Ms').toFixed(1),
    med(b, 'cpuUsPerRequest').toFixed(1),
    med(a, 'cpuUsPerRequest').toFixed(1),
    ratio(med(a, 'cpuUsPerRequest'), med(b, 'cpuUsPerRequest')),
  ]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
for (const row of rows) process.stdout.write(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ') + '\n');
const interleaved = `c=1: ${seconds} s of requests interleaved one by one over reference, before, after`;
process.stdout.write(`${rounds} rounds, ABBA order, medians over rounds; ${interleaved}; c=50: ${seconds} s each\n`);
const appP50 = med('queue reference', 'p50Us').toFixed(0);
const queueP50 = med('activator reference', 'p50Us').toFixed(0);
process.stdout.write(
  `references' p50: app ${appP50} µs, shared queue-proxy ${queueP50} µs (the activator's is added to it)\n`,
);
if (errorsSeen.length > 0) process.stdout.write(`errors: ${errorsSeen.join('; ')}\n`);
if (process.env.SAMPLES_JSON) process.stdout.write(JSON.stringify(Object.fromEntries(samples)) + '\n');
process.exit(errorsSeen.length > 0 ? 1 : 0);
