// Targets measured beside each other in one run, in rounds whose order rotates, reduced to medians:
//   c=1: requests one at a time to every target in turn (one keep-alive connection each), so all
//        see the same moments of a noisy machine; the p50 per target;
//   c=50: autocannon on each target in turn: rps, p50/p99, the CPU time per request of the
//        target's processes, and their peak RSS and peak RssAnon (private memory) while loaded.
// The first target is the reference the others are compared to.
import http from 'node:http';
import { cpuMicros, memoryMiB } from './proc.js';
import { runLoad } from './load.js';

export interface CompareTarget {
  name: string;
  port: number;
  headers?: Record<string, string>;
  /** The processes whose CPU time and memory are this target's (none: not measured). */
  pids: number[];
}

/** What a request needs: where it goes and its headers. */
export type Endpoint = Pick<CompareTarget, 'name' | 'port' | 'headers'>;

export interface Sample {
  p50c1Us: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest: number;
  peakRssMiB: number;
  peakAnonMiB: number;
  errors: number;
}

export interface CompareOptions {
  rounds: number;
  seconds: number;
  connections: number;
  /** Called after each round (progress). */
  onRound?: (round: number) => void;
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** One GET on a keep-alive agent; resolves with its time in µs. */
function timedGet(agent: http.Agent, target: Endpoint): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: target.port, path: '/', headers: target.headers, agent }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${target.name} answered ${res.statusCode}`));
      res.resume();
      res.once('end', () => resolve((performance.now() - started) * 1000));
    });
    req.once('error', reject);
  });
}

/** c=1 for `seconds`: one request at a time to each target in turn; the p50 per target, in µs. */
export async function interleavedP50(targets: Endpoint[], seconds: number): Promise<number[]> {
  const agents = targets.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const times: number[][] = targets.map(() => []);
  for (const end = performance.now() + seconds * 1000; performance.now() < end;) {
    for (let i = 0; i < targets.length; i++) times[i]!.push(await timedGet(agents[i]!, targets[i]!));
  }
  for (const agent of agents) agent.destroy();
  return times.map(median);
}

/** Sums RSS and RssAnon of `pids` every 20 ms until stopped; the peaks. */
function sampleMemory(pids: number[]): () => { rss: number; anon: number } {
  let rss = NaN;
  let anon = NaN;
  const sample = () => {
    if (pids.length === 0) return;
    let r = 0;
    let a = 0;
    for (const pid of pids) {
      const m = memoryMiB(pid);
      r += m.rss;
      a += m.anon;
    }
    if (!(r <= rss)) rss = r;
    if (!(a <= anon)) anon = a;
  };
  sample();
  const timer = setInterval(sample, 20);
  return () => {
    clearInterval(timer);
    sample();
    return { rss, anon };
  };
}

async function loaded(t: CompareTarget, o: CompareOptions): Promise<Omit<Sample, 'p50c1Us'>> {
  const cpu = (): number => t.pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
  const cpu0 = cpu();
  const stop = sampleMemory(t.pids);
  const load = await runLoad(`http://127.0.0.1:${t.port}/`, o.connections, o.seconds, t.headers);
  const peak = stop();
  return {
    rps: load.rps,
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    cpuUsPerRequest: t.pids.length > 0 ? (cpu() - cpu0) / Math.max(1, load.requests) : NaN,
    peakRssMiB: peak.rss,
    peakAnonMiB: peak.anon,
    errors: load.errors + load.non2xx,
  };
}

/** Every target's samples, one per round, in the targets' order. */
export async function compareInRounds(targets: CompareTarget[], o: CompareOptions): Promise<Sample[][]> {
  for (const t of targets) await runLoad(`http://127.0.0.1:${t.port}/`, 10, 1, t.headers); // warm-up
  const samples: Sample[][] = targets.map(() => []);
  for (let r = 0; r < o.rounds; r++) {
    // Rotate the order so no target always runs first (or right after the same one).
    const order = targets.map((_, i) => (i + r) % targets.length);
    const p50s = await interleavedP50(
      order.map((i) => targets[i]!),
      Math.min(o.seconds, 2),
    );
    const c1 = new Map(order.map((i, k) => [i, p50s[k]!]));
    for (const i of order) samples[i]!.push({ p50c1Us: c1.get(i)!, ...(await loaded(targets[i]!, o)) });
    o.onRound?.(r + 1);
  }
  return samples;
}

function fmt(n: number, digits: number): string {
  return Number.isNaN(n) ? '-' : n.toFixed(digits);
}

/**
 * A table of medians over rounds, each target beside the reference (the first target), and ratios
 * to `versus` (a target's name) when given.
 */
export function report(targets: CompareTarget[], samples: Sample[][], c: number, versus?: string): string {
  const med = (i: number, key: keyof Sample) => median(samples[i]!.map((s) => s[key]));
  // Added latency per round against the same round's reference, then the median.
  const added = (i: number) => median(samples[i]!.map((s, r) => s.p50c1Us - samples[0]![r]!.p50c1Us));
  const header = [
    'target',
    'p50 µs c=1',
    `added µs`,
    `rps c=${c}`,
    '÷ ref',
    'p50 ms',
    'p99 ms',
    'CPU µs/req',
    'peak RSS MiB',
    'peak RssAnon MiB',
    'errors',
  ];
  const rows = [header];
  targets.forEach((t, i) => {
    rows.push([
      t.name,
      fmt(med(i, 'p50c1Us'), 0),
      i === 0 ? '-' : fmt(added(i), 0),
      fmt(med(i, 'rps'), 0),
      fmt(med(i, 'rps') / med(0, 'rps'), 2),
      fmt(med(i, 'p50Ms'), 1),
      fmt(med(i, 'p99Ms'), 1),
      fmt(med(i, 'cpuUsPerRequest'), 1),
      fmt(med(i, 'peakRssMiB'), 1),
      fmt(med(i, 'peakAnonMiB'), 1),
      String(samples[i]!.reduce((n, s) => n + s.errors, 0)),
    ]);
  });
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  let out = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n') + '\n';
  const v = versus === undefined ? -1 : targets.findIndex((t) => t.name === versus);
  if (v > 0) {
    for (let i = 1; i < targets.length; i++) {
      if (i === v) continue;
      const ratio = (key: keyof Sample) => fmt(med(i, key) / med(v, key), 2);
      out +=
        `${targets[i]!.name} ÷ ${targets[v]!.name}: rps ${ratio('rps')}×, added p50 c=1 ` +
        `${fmt(added(i) / added(v), 2)}×, p99 ${ratio('p99Ms')}×, CPU/req ${ratio('cpuUsPerRequest')}×, ` +
        `peak RSS ${ratio('peakRssMiB')}×, peak RssAnon ${ratio('peakAnonMiB')}×\n`;
    }
  }
  return out;
}
