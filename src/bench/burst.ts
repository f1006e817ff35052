// `gatehouse bench burst`: Knative's from-zero load test in its plainest form. A service at zero
// pods, then N requests at once through the gateway, for each N in turn, each burst only after the
// service is back at zero. `gatehouse up` runs as its own process (as a user runs it), so the admin
// API latency measured here is what a user of `gatehouse status` would see while pods boot. The
// app's own boot time is measured first (the same app started alone) and subtracted.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';
import { buildIsCurrent, packagePath } from '../package-root.js';
import { lineChart } from './chart.js';
import { loopbackUpArgs, serviceYaml } from './services.js';
import { percentile } from './stats.js';

export interface BurstOptions {
  /** Requests sent at once, one burst per entry, in order. */
  sizes: number[];
  containerConcurrency: number;
  /** The app's STARTUP_DELAY_MS: a slow boot on top of Node's own start. */
  appBootDelayMs: number;
  /** What each request asks the app to take (?delay=). */
  requestDelayMs: number;
  /** config-autoscaler's scale-to-zero-grace-period for the run (Knative: 30 s). */
  zeroGraceSeconds: number;
  outDir: string;
  /** Progress lines (stderr). */
  say: (line: string) => void;
}

export interface BurstRow {
  size: number;
  ok: number;
  failed: number;
  /** Latencies in ms, and the same minus the app's boot time (floored at 0). */
  p50: number;
  p95: number;
  max: number;
  p50MinusBoot: number;
  p95MinusBoot: number;
  maxMinusBoot: number;
  maxPods: number;
  /** Ready pods over the burst: [seconds since the burst began, pods] at each change. */
  podChanges: Array<[number, number]>;
  /** The admin API's /status latency while the burst's requests were open. */
  adminP99: number;
  adminMax: number;
  adminSamples: number;
  /** Seconds from the burst's last answer until the revision was at zero again (undefined: not waited for). */
  backToZeroS: number | undefined;
  /** What each failed request got (the first MAX_FAILURES_KEPT): a status and body, or the client's error. */
  failures: RequestFailure[];
}

export interface RequestFailure {
  latencyMs: number;
  status?: number;
  /** The body's first BODY_EXCERPT characters. */
  body?: string;
  error?: string;
}

export interface RequestSample {
  latencyMs: number;
  ok: boolean;
  failure?: RequestFailure;
}

const MAX_FAILURES_KEPT = 20;
const BODY_EXCERPT = 300;

export interface BurstResult {
  containerConcurrency: number;
  appBootMs: number;
  rows: BurstRow[];
  /** [seconds since start, value] */
  pods: Array<[number, number]>;
  admin: Array<[number, number]>;
  waiting: Array<[number, number]>;
  files: { json: string; svg: string };
}

/** Only the samples where the value changes (the first always). Pure. */
export function changes(points: ReadonlyArray<[number, number]>): Array<[number, number]> {
  return points.filter((p, i) => i === 0 || p[1] !== points[i - 1]![1]);
}

/**
 * One burst's figures from its request samples and the admin API samples taken meanwhile
 * ([seconds since the burst began, latency ms, ready pods]). Pure.
 */
export function burstRow(
  size: number,
  requests: RequestSample[],
  bootMs: number,
  status: Array<[number, number, number]>,
  backToZeroS: number | undefined,
): BurstRow {
  const latencies = requests.map((r) => r.latencyMs).sort((a, b) => a - b);
  const admin = status.map((s) => s[1]).sort((a, b) => a - b);
  const minusBoot = (v: number) => Math.max(0, v - bootMs);
  const p50 = percentile(latencies, 50);
  const p95 = percentile(latencies, 95);
  const max = latencies.length > 0 ? latencies[latencies.length - 1]! : 0;
  return {
    size,
    ok: requests.filter((r) => r.ok).length,
    failed: requests.filter((r) => !r.ok).length + Math.max(0, size - requests.length),
    p50,
    p95,
    max,
    p50MinusBoot: minusBoot(p50),
    p95MinusBoot: minusBoot(p95),
    maxMinusBoot: minusBoot(max),
    maxPods: Math.max(0, ...status.map((s) => s[2])),
    podChanges: changes(status.filter((s) => s[2] >= 0).map((s) => [s[0], s[2]])),
    adminP99: percentile(admin, 99),
    adminMax: admin.length > 0 ? admin[admin.length - 1]! : 0,
    adminSamples: admin.length,
    backToZeroS,
    failures: requests
      .flatMap((r) => (r.ok ? [] : [r.failure ?? { latencyMs: r.latencyMs }]))
      .slice(0, MAX_FAILURES_KEPT),
  };
}

/** One request of a burst: ok only for 200 and the app's greeting; anything else keeps what came back. */
async function burstRequest(pool: Pool, requestDelayMs: number): Promise<RequestSample> {
  const sent = performance.now();
  try {
    const { statusCode, body } = await pool.request({
      path: `/?delay=${requestDelayMs}`,
      method: 'GET',
      headers: { host: 'burst.default.example.com' },
    });
    const text = await body.text();
    const latencyMs = performance.now() - sent;
    if (statusCode === 200 && text === 'Hello burst!\n') return { latencyMs, ok: true };
    return { latencyMs, ok: false, failure: { latencyMs, status: statusCode, body: text.slice(0, BODY_EXCERPT) } };
  } catch (err) {
    const latencyMs = performance.now() - sent;
    const e = err as Error & { code?: string };
    return { latencyMs, ok: false, failure: { latencyMs, error: e.code ? `${e.code}: ${e.message}` : e.message } };
  }
}

/** The targets, each with whether it held. Pure. */
export function burstTargets(
  r: Pick<BurstResult, 'rows' | 'appBootMs' | 'containerConcurrency'>,
): Array<{ target: string; held: boolean }> {
  const out = [{ target: 'no request failed', held: r.rows.every((row) => row.failed === 0) }];
  const fifty = r.rows.filter((row) => row.size === 50);
  if (r.containerConcurrency === 1 && fifty.length > 0) {
    const worst = Math.max(...fifty.map((row) => row.p95));
    out.push({
      target:
        `p95 of a burst of 50 at CC=1 ≤ app boot + 1 s ` +
        `(${worst.toFixed(0)} ≤ ${(r.appBootMs + 1000).toFixed(0)} ms)`,
      held: worst <= r.appBootMs + 1000,
    });
  }
  const adminP99 = Math.max(0, ...r.rows.map((row) => row.adminP99));
  out.push({ target: `admin API p99 ≤ 100 ms during the bursts (${adminP99.toFixed(1)} ms)`, held: adminP99 <= 100 });
  return out;
}

const appPath = () => packagePath('examples', 'app', 'server.mjs');

/** How long the app takes from spawn to its first answer, alone on this machine: median of 3. */
async function measureAppBoot(bootDelayMs: number): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const child = spawn(process.execPath, [appPath()], {
      env: { ...process.env, PORT: '0', STARTUP_DELAY_MS: String(bootDelayMs) },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`the example app exited with ${code} before listening`)));
        createInterface({ input: child.stdout }).on('line', (line) => {
          const parsed = JSON.parse(line) as { port?: number };
          if (typeof parsed.port === 'number') resolve(parsed.port);
        });
      });
      const res = await fetch(`http://127.0.0.1:${port}/`);
      await res.text();
      runs.push(performance.now() - started);
    } finally {
      child.kill('SIGKILL');
    }
  }
  return runs.sort((a, b) => a - b)[1]!;
}

interface RunningUp {
  gatewayPort: number;
  adminPort: number;
  stop(): Promise<void>;
}

/** `gatehouse up` as a child process on free ports; resolves once its routes are Ready. */
async function startUpProcess(file: string, zeroGraceSeconds: number, logFile: string): Promise<RunningUp> {
  const args = loopbackUpArgs(
    file,
    '--allow-zero-initial-scale',
    '--scale-to-zero-grace-seconds',
    String(zeroGraceSeconds),
  );
  const child: ChildProcess = spawn(process.execPath, [packagePath('bin', 'gatehouse.js'), ...args], {
    // Warnings only unless asked (GATEHOUSE_LOG_LEVEL=info shows every scale decision and pod start).
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: process.env.GATEHOUSE_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const tail: string[] = [];
  const log = createWriteStream(logFile);
  child.once('close', () => log.end());
  createInterface({ input: child.stderr! }).on('line', (line) => {
    log.write(line + '\n');
    tail.push(line);
    if (tail.length > 20) tail.shift();
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  };
  let gatewayPort = 0;
  let adminPort = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      void exited.then(([code]) =>
        reject(new Error(`gatehouse up exited (${String(code)}) before it was Ready:\n${tail.join('\n')}`)),
      );
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const gateway = /^ {2}gateway +127\.0\.0\.1:(\d+)/.exec(line);
        if (gateway) gatewayPort = Number(gateway[1]);
        // The admin port is the status page's: `up` prints "status page  http://127.0.0.1:<port>/".
        const admin = /^ {2}status page +http:\/\/127\.0\.0\.1:(\d+)\//.exec(line);
        if (admin) adminPort = Number(admin[1]);
        if (!line.startsWith('Ready in ')) return;
        if (gatewayPort === 0 || adminPort === 0)
          reject(
            new Error(
              `gatehouse up did not print its gateway and status page ` +
                `addresses in the form this bench reads:\n${tail.join('\n')}`,
            ),
          );
        else resolve();
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { gatewayPort, adminPort, stop };
}

interface StatusSample {
  at: number;
  latencyMs: number;
  readyPods: number;
  /** Ready, starting or wanted: zero only when the revision is fully at zero. */
  anyPods: number;
}

/** Polls the admin API's /status every 100 ms, one request at a time. */
function pollStatus(
  adminPort: number,
  revision: string,
  t0: number,
): { samples: StatusSample[]; stop(): Promise<void> } {
  const pool = new Pool(`http://127.0.0.1:${adminPort}`, { connections: 1 });
  const samples: StatusSample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const { statusCode, body } = await pool.request({
          path: '/status',
          method: 'GET',
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        const status = (await body.json()) as {
          revisions: Array<{ name: string; pods: { ready: number; desired: number; starting: number } }>;
        };
        const latencyMs = performance.now() - started;
        const rev = status.revisions.find((r) => r.name === revision);
        if (statusCode === 200 && rev)
          samples.push({
            at: started - t0,
            latencyMs,
            readyPods: rev.pods.ready,
            anyPods: Math.max(rev.pods.ready, rev.pods.desired, rev.pods.starting),
          });
      } catch {
        samples.push({ at: started - t0, latencyMs: performance.now() - started, readyPods: -1, anyPods: -1 });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (performance.now() - started))));
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await loop;
      await pool.close();
    },
  };
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50)))
    if (check()) return true;
  return check();
}

export async function runBurstBench(o: BurstOptions): Promise<BurstResult> {
  o.say(`measuring the app's own boot (STARTUP_DELAY_MS=${o.appBootDelayMs}) …`);
  const appBootMs = await measureAppBoot(o.appBootDelayMs);
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-burst-'));
  const file = path.join(dir, 'services.yaml');
  const annotations = {
    'autoscaling.knative.dev/target': String(Math.max(1, o.containerConcurrency)),
    'autoscaling.knative.dev/window': '6s',
    'autoscaling.knative.dev/initial-scale': '0',
  };
  writeFileSync(
    file,
    serviceYaml('burst', {
      target: 'burst',
      appPath: appPath(),
      annotations,
      containerConcurrency: o.containerConcurrency,
      env: { STARTUP_DELAY_MS: String(o.appBootDelayMs) },
    }),
  );
  if (!buildIsCurrent())
    o.say(
      `warning: ${packagePath('dist')} is older than src/: every pod's queue-proxy compiles its TypeScript on ` +
        'the fly (about 1 s of CPU each), so these figures are not what a build gives; run `npm run build` first',
    );
  o.say('starting gatehouse up …');
  mkdirSync(o.outDir, { recursive: true });
  const up = await startUpProcess(file, o.zeroGraceSeconds, path.join(o.outDir, 'up.log'));
  // Interrupted: `up` stops its pods before this process goes (a Ctrl-C reaches it too; a kill does not).
  const interrupted = () => void up.stop().then(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  const t0 = performance.now();
  const poller = pollStatus(up.adminPort, 'burst-00001', t0);
  const waiting: Array<[number, number]> = [];
  const rows: BurstRow[] = [];
  const atZero = () => {
    const last = poller.samples.at(-1);
    return last !== undefined && last.anyPods === 0;
  };
  try {
    if (!(await until(atZero, 60_000))) throw new Error('the service did not start at zero pods');
    for (const [i, size] of o.sizes.entries()) {
      o.say(`burst ${i + 1}/${o.sizes.length}: ${size} requests at once …`);
      const pool = new Pool(`http://127.0.0.1:${up.gatewayPort}`, {
        connections: size,
        headersTimeout: 120_000,
        bodyTimeout: 120_000,
      });
      const firstSample = poller.samples.length;
      const started = performance.now();
      let open = size;
      waiting.push([(started - t0) / 1000, open]);
      const requests = await Promise.all(
        Array.from({ length: size }, async () => {
          const sample = await burstRequest(pool, o.requestDelayMs);
          waiting.push([(performance.now() - t0) / 1000, --open]);
          return sample;
        }),
      );
      await pool.close();
      const during = poller.samples.slice(firstSample).filter((s) => s.at <= performance.now() - t0);
      const answered = performance.now();
      let backToZeroS: number | undefined;
      if (i < o.sizes.length - 1) {
        o.say('  waiting for the service to return to zero …');
        if (!(await until(atZero, 180_000)))
          throw new Error(`the service did not return to zero within 180 s after the burst of ${size}`);
        backToZeroS = (performance.now() - answered) / 1000;
      }
      const status = during.map((s): [number, number, number] => [
        Math.max(0, s.at - (started - t0)) / 1000,
        s.latencyMs,
        s.readyPods,
      ]);
      rows.push(burstRow(size, requests, appBootMs, status, backToZeroS));
    }
  } finally {
    await poller.stop();
    await up.stop();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  const pods = poller.samples.filter((s) => s.readyPods >= 0).map((s): [number, number] => [s.at / 1000, s.readyPods]);
  const admin = poller.samples.map((s): [number, number] => [s.at / 1000, s.latencyMs]);
  mkdirSync(o.outDir, { recursive: true });
  const files = { json: path.join(o.outDir, 'burst.json'), svg: path.join(o.outDir, 'burst.svg') };
  const result: BurstResult = {
    containerConcurrency: o.containerConcurrency,
    appBootMs,
    rows,
    pods,
    admin,
    waiting,
    files,
  };
  writeFileSync(files.json, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(
    files.svg,
    lineChart(
      `gatehouse bench burst (CC=${o.containerConcurrency}, bursts ${o.sizes.join('/')} from zero)`,
      'admin API /status latency (ms)',
      'pods, requests open',
      [
        { name: 'admin /status ms', color: '#d62728', points: admin },
        { name: 'ready pods', color: '#2ca02c', points: pods, rightAxis: true, steps: true },
        { name: 'requests open', color: '#1f77b4', points: waiting, rightAxis: true, steps: true },
      ],
    ),
  );
  return result;
}

export function renderBurst(r: BurstResult): string {
  const head = [
    'burst',
    'ok',
    'failed',
    'p50 ms',
    'p95 ms',
    'max ms',
    'p50−boot',
    'p95−boot',
    'max−boot',
    'max pods',
    'admin p99 ms',
    'admin max ms',
    'back to zero s',
  ];
  const rows = [
    head,
    ...r.rows.map((x) => [
      String(x.size),
      String(x.ok),
      String(x.failed),
      x.p50.toFixed(0),
      x.p95.toFixed(0),
      x.max.toFixed(0),
      x.p50MinusBoot.toFixed(0),
      x.p95MinusBoot.toFixed(0),
      x.maxMinusBoot.toFixed(0),
      String(x.maxPods),
      x.adminP99.toFixed(1),
      x.adminMax.toFixed(1),
      x.backToZeroS === undefined ? '-' : x.backToZeroS.toFixed(1),
    ]),
  ];
  const widths = head.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  const lines = [
    `app boot (spawn → first answer, alone): ${r.appBootMs.toFixed(0)} ` +
      `ms; containerConcurrency ${r.containerConcurrency}`,
    '',
  ];
  lines.push(...rows.map((x) => x.map((c, i) => c.padEnd(widths[i]!)).join('  ')));
  lines.push('');
  for (const x of r.rows) {
    const changes = x.podChanges.map(([t, n]) => `${n} at ${t.toFixed(1)} s`);
    lines.push(`ready pods during the burst of ${x.size}: ${changes.join(' → ')}`);
  }
  for (const x of r.rows) {
    for (const f of x.failures) {
      const what =
        f.error ?? (f.status !== undefined ? `${f.status} ${JSON.stringify(f.body ?? '')}` : 'nothing recorded');
      lines.push(`failed in the burst of ${x.size} after ${f.latencyMs.toFixed(0)} ms: ${what}`);
    }
  }
  lines.push('');
  for (const t of burstTargets(r)) lines.push(`${t.held ? 'held  ' : 'MISSED'}  ${t.target}`);
  lines.push('', `results: ${r.files.json}`, `chart:   ${r.files.svg}`);
  return lines.join('\n') + '\n';
}
