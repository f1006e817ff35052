// `gatehouse bench SCENARIO`: the k6 scenarios' load shapes driven here with autocannon, first at
// the app hit directly (the reference), then through `gatehouse up` on loopback. Prints a table
// with the ratios, and writes the samples as JSON and an SVG chart of latency and pods over time.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type autocannonModule from 'autocannon';
import WebSocket from 'ws';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../log/logger.js';
import { packagePath } from '../package-root.js';
import { startUp, type Up } from '../up/orchestrator.js';
import { lineChart } from './chart.js';
import { loopbackUpOptions, serviceYaml } from './services.js';
import { perSecond, summarize, type Sample, type Summary } from './stats.js';

export const SCENARIOS = ['steady', 'ramp', 'rollout', 'fanout', 'grpc-ws'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenario: ScenarioName;
  seconds: number;
  rps: number;
  services: number;
  outDir: string;
  log: Logger;
}

interface Phase {
  rate: number;
  seconds: number;
}

type Progress = (elapsedS: number, samples: Sample[]) => void;

interface Scenario {
  /** The services file for `up`. */
  services: (appPath: string) => string;
  seconds: number;
  /** Drives the load at a port: the app itself (direct) or the gateway. */
  load: (
    port: number,
    direct: boolean,
    onSecond: Progress,
    midway?: () => void,
  ) => Promise<{ samples: Sample[]; durationMs: number }>;
  /** Something to do halfway (the rollout's edit). */
  midway?: (file: string, appPath: string) => void;
}

/** An HTTP scenario: autocannon phases, one Host per service (the direct app takes any). */
function httpScenario(
  services: Scenario['services'],
  phases: Phase[],
  hosts: string[],
  midway?: Scenario['midway'],
): Scenario {
  return {
    services,
    seconds: phases.reduce((n, p) => n + p.seconds, 0),
    load: (port, direct, onSecond, runMidway) =>
      drive(`http://127.0.0.1:${port}`, direct ? ['localhost'] : hosts, phases, onSecond, runMidway),
    ...(midway ? { midway } : {}),
  };
}

const service = (name: string, target: string, annotations: Record<string, string>, appPath: string) =>
  serviceYaml(name, { target, annotations, appPath });

const host = (name: string) => `${name}.default.example.com`;

/** Knative's ramp: up over a third of the time, hold, down over a tenth, in one-second steps. */
export function rampPhases(rps: number, seconds: number): Phase[] {
  const up = Math.max(1, Math.round(seconds / 3));
  const down = Math.max(1, Math.round(seconds / 10));
  const hold = Math.max(1, seconds - up - down);
  const phases: Phase[] = [];
  for (let i = 1; i <= up; i++) phases.push({ rate: Math.max(1, Math.round((rps * i) / up)), seconds: 1 });
  phases.push({ rate: rps, seconds: hold });
  for (let i = down - 1; i >= 0; i--)
    phases.push({ rate: Math.max(1, Math.round((rps * (i + 0.5)) / down)), seconds: 1 });
  return phases;
}

function scenarioFor(o: BenchOptions): Scenario {
  const window = { 'autoscaling.knative.dev/window': '6s' };
  switch (o.scenario) {
    case 'steady':
      return httpScenario(
        (app) => service('hello', 'steady', window, app),
        [{ rate: o.rps, seconds: o.seconds }],
        [host('hello')],
      );
    case 'ramp':
      return httpScenario(
        (app) => service('sleepy', 'ramp', { ...window, 'autoscaling.knative.dev/initial-scale': '0' }, app),
        rampPhases(o.rps, o.seconds),
        [host('sleepy')],
      );
    case 'rollout':
      return httpScenario(
        (app) => service('hello', 'v1', window, app),
        [{ rate: o.rps, seconds: o.seconds }],
        [host('hello')],
        (file, app) => writeFileSync(file, service('hello', 'v2', window, app)),
      );
    case 'fanout': {
      const names = Array.from({ length: o.services }, (_, i) => `svc-${i}`);
      return httpScenario(
        (app) =>
          names.map((n) => service(n, n, { ...window, 'autoscaling.knative.dev/initial-scale': '0' }, app)).join(''),
        [{ rate: o.rps, seconds: o.seconds }],
        names.map(host),
      );
    }
    case 'grpc-ws':
      return {
        services: (app) =>
          serviceYaml('grpc', { target: 'grpc', annotations: window, appPath: app, h2c: true }) +
          service('hello', 'ws', window, app),
        seconds: o.seconds,
        load: (port, direct, onSecond) =>
          driveStreams(port, direct ? undefined : { grpc: host('grpc'), ws: host('hello') }, o.seconds, 4, onSecond),
      };
  }
}

/** A benchmark that cannot run here, with what to do about it. */
export class BenchSetupError extends Error {}

/**
 * autocannon is a development dependency: benchmarks run from a checkout (`npm ci` installs it),
 * and the runtime (the image, `npm install --omit=dev`) does without it.
 */
async function loadAutocannon(): Promise<typeof autocannonModule> {
  try {
    return (await import('autocannon')).default;
  } catch {
    throw new BenchSetupError(
      'the HTTP scenarios drive load with autocannon, a development dependency that ' +
        'is not installed: run `npm ci` in a gatehouse checkout (without --omit=dev)',
    );
  }
}

/** Drives the phases at one base URL; one sample per request. */
async function drive(
  url: string,
  hosts: string[],
  phases: Phase[],
  onSecond: Progress,
  midway?: () => void,
): Promise<{ samples: Sample[]; durationMs: number }> {
  const autocannon = await loadAutocannon();
  const samples: Sample[] = [];
  const started = Date.now();
  const total = phases.reduce((n, p) => n + p.seconds, 0);
  let midwayDone = midway === undefined;
  const ticker = setInterval(() => {
    const elapsed = (Date.now() - started) / 1000;
    if (!midwayDone && elapsed >= total / 2) {
      midwayDone = true;
      midway!();
    }
    onSecond(elapsed, samples);
  }, 1000);
  try {
    for (const phase of phases) {
      const connections = Math.min(100, Math.max(1, Math.ceil(phase.rate / 50)));
      // One request template per host; autocannon cycles through them. A fixed amount (not a
      // duration) so a busy machine stretches the phase instead of silently sending fewer requests.
      const requests = hosts.map((h) => ({ method: 'GET' as const, path: '/', headers: { host: h } }));
      await new Promise<void>((resolve, reject) => {
        const instance = autocannon(
          { url, connections, overallRate: phase.rate, amount: phase.rate * phase.seconds, requests },
          (err) => (err ? reject(err as Error) : resolve()),
        );
        instance.on('response', (_client, statusCode, _bytes, responseTime) => {
          samples.push({ at: Date.now() - started, latencyMs: responseTime, ok: statusCode === 200 });
        });
        instance.on('reqError', () => samples.push({ at: Date.now() - started, latencyMs: 0, ok: false }));
      });
    }
  } finally {
    clearInterval(ticker);
  }
  return { samples, durationMs: Date.now() - started };
}

const ECHO_PATH = '/gatehouse.example.Echo/Echo';
const passBytes = (b: Buffer) => b;

/**
 * gRPC unary echo loops and WebSocket echo sessions (10 messages each) for `seconds`; one sample per call or message.
 */
async function driveStreams(
  port: number,
  hosts: { grpc: string; ws: string } | undefined,
  seconds: number,
  concurrency: number,
  onSecond: Progress,
): Promise<{ samples: Sample[]; durationMs: number }> {
  const samples: Sample[] = [];
  const started = Date.now();
  const end = started + seconds * 1000;
  const ticker = setInterval(() => onSecond((Date.now() - started) / 1000, samples), 1000);
  const record = (t0: number, ok: boolean) =>
    samples.push({ at: Date.now() - started, latencyMs: performance.now() - t0, ok });
  const client = new grpc.Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
    hosts ? { 'grpc.default_authority': hosts.grpc } : {},
  );
  const payload = Buffer.from('gatehouse bench');
  const grpcLoop = async () => {
    while (Date.now() < end) {
      const t0 = performance.now();
      const ok = await new Promise<boolean>((resolve) =>
        client.makeUnaryRequest(
          ECHO_PATH,
          passBytes,
          passBytes,
          payload,
          { deadline: Date.now() + 5000 },
          (err, value) => resolve(!err && value !== undefined && value.equals(payload)),
        ),
      );
      record(t0, ok);
    }
  };
  const wsLoop = async () => {
    while (Date.now() < end) {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, hosts ? { headers: { host: hosts.ws } } : {});
      const t0 = performance.now();
      const opened = await new Promise<boolean>((resolve) => {
        socket.once('open', () => resolve(true));
        socket.once('error', () => resolve(false));
      });
      if (!opened) {
        record(t0, false);
        continue;
      }
      for (let i = 0; i < 10 && Date.now() < end; i++) {
        const m0 = performance.now();
        const echoed = await new Promise<boolean>((resolve) => {
          socket.once('message', (data) => resolve(String(data) === `message ${i}`));
          socket.once('close', () => resolve(false));
          socket.send(`message ${i}`);
        });
        record(m0, echoed);
        if (!echoed) break;
      }
      socket.close();
    }
  };
  try {
    await Promise.all([
      ...Array.from({ length: concurrency }, grpcLoop),
      ...Array.from({ length: concurrency }, wsLoop),
    ]);
  } finally {
    clearInterval(ticker);
    client.close();
  }
  return { samples, durationMs: Date.now() - started };
}

async function startApp(): Promise<{ port: number; stop(): void }> {
  const child = spawn(process.execPath, [packagePath('examples', 'app', 'server.mjs')], {
    env: { ...process.env, PORT: '0', TARGET: 'direct' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the example app exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { port?: number };
        if (typeof parsed.port === 'number') resolve(parsed.port);
      } catch {
        // not its start-up line
      }
    });
  });
  return { port, stop: () => child.kill('SIGKILL') };
}

function readyPods(up: Up): number {
  return up.status().revisions.reduce((n, r) => n + r.pods.ready, 0);
}

export interface BenchResult {
  scenario: ScenarioName;
  direct: Summary;
  gatehouse: Summary;
  /** Failed requests grouped by second, with the pods ready then. */
  timeline: Array<{ second: number; requests: number; failed: number; p50: number; p99: number; pods: number }>;
  files: { json: string; svg: string };
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const scenario = scenarioFor(o);
  const appPath = packagePath('examples', 'app', 'server.mjs');
  const progress =
    (label: string, total: number): Progress =>
    (elapsed, samples) => {
      const failed = samples.filter((s) => !s.ok).length;
      process.stderr.write(
        `\r${o.scenario} ${label}: ${Math.min(total, Math.round(elapsed))}/${total} ` +
          `s, ${samples.length} requests, ${failed} failed   `,
      );
    };
  const total = scenario.seconds;

  // The reference: the same shape at one example app, no gatehouse.
  const app = await startApp();
  let direct: { samples: Sample[]; durationMs: number };
  try {
    direct = await scenario.load(app.port, true, progress('app direct', total));
  } finally {
    app.stop();
  }
  process.stderr.write('\n');

  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-'));
  const file = path.join(dir, 'services.yaml');
  writeFileSync(file, scenario.services(appPath));
  const up = await startUp(loopbackUpOptions(file, o.log, { drainQuietSeconds: 5, tickMs: 1000 }));
  const pods: Array<[number, number]> = [];
  let through: { samples: Sample[]; durationMs: number };
  try {
    await up.whenReady(120_000);
    const started = Date.now();
    const podTimer = setInterval(() => pods.push([(Date.now() - started) / 1000, readyPods(up)]), 500);
    try {
      through = await scenario.load(
        up.gatewayPort!,
        false,
        progress('through gatehouse', total),
        scenario.midway && (() => scenario.midway!(file, appPath)),
      );
    } finally {
      clearInterval(podTimer);
    }
  } finally {
    await up.close();
  }
  process.stderr.write('\n');

  const seconds = perSecond(through.samples);
  const podsAt = (second: number) => {
    let n = 0;
    for (const [t, count] of pods) if (t <= second + 1) n = count;
    return n;
  };
  const timeline = seconds.map((r) => ({ ...r, pods: podsAt(r.second) }));
  mkdirSync(o.outDir, { recursive: true });
  const json = path.join(o.outDir, `${o.scenario}.json`);
  const svg = path.join(o.outDir, `${o.scenario}.svg`);
  const result: BenchResult = {
    scenario: o.scenario,
    direct: summarize(direct.samples, direct.durationMs),
    gatehouse: summarize(through.samples, through.durationMs),
    timeline,
    files: { json, svg },
  };
  writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(
    svg,
    lineChart(`gatehouse bench ${o.scenario}: latency and pods over time`, 'latency (ms)', 'ready pods', [
      { name: 'p50 ms', color: '#1f77b4', points: timeline.map((r) => [r.second, r.p50]) },
      { name: 'p99 ms', color: '#d62728', points: timeline.map((r) => [r.second, r.p99]) },
      { name: 'app direct p99 ms', color: '#999999', points: perSecond(direct.samples).map((r) => [r.second, r.p99]) },
      { name: 'ready pods', color: '#2ca02c', points: pods, rightAxis: true, steps: true },
    ]),
  );
  return result;
}

export function renderBench(r: BenchResult): string {
  const row = (label: string, s: Summary, ratio: string) => [
    label,
    s.requests.toString(),
    s.rps.toFixed(0),
    s.p50.toFixed(1),
    s.p95.toFixed(1),
    s.p99.toFixed(1),
    s.failed.toString(),
    ratio,
  ];
  const rows = [
    ['path', 'requests', 'rps', 'p50 ms', 'p95 ms', 'p99 ms', 'failed', 'rps ÷ direct'],
    row('app direct', r.direct, '1.00'),
    row('gateway → gatehouse → app', r.gatehouse, (r.gatehouse.rps / Math.max(1e-9, r.direct.rps)).toFixed(2)),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  const lines = rows.map((x) => x.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  lines.push('', 'second  requests  failed  p50 ms  p99 ms  pods');
  for (const t of r.timeline)
    lines.push(
      `${String(t.second).padStart(6)}  ${String(t.requests).padStart(8)}  ${String(t.failed).padStart(6)} ` +
        ` ${t.p50.toFixed(1).padStart(6)}  ${t.p99.toFixed(1).padStart(6)}  ${String(t.pods).padStart(4)}`,
    );
  lines.push('', `results: ${r.files.json}`, `chart:   ${r.files.svg}`);
  return lines.join('\n') + '\n';
}
