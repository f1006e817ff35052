// `npx tsx bench/activator-knative.ts <knative activator binary> <knative queue binary>`: the
// activator's throughput beside Knative's, in one run: load through gatehouse's activator →
// gatehouse queue-proxy → app, and through Knative's Go activator → Go queue-proxy → the same app,
// alternating rounds (G K G K …) at c=1 and c=50; medians per target and the ratios.
//
// Knative's activator learns its revision from a real Kubernetes API (a Revision, its private
// Service and Endpoints), and the API server refuses loopback endpoints, so the pod side (the app
// and both queue-proxies) runs in a network namespace of its own at 10.232.0.2 (root and `ip`
// needed). Environment: KUBECONFIG (a kube-apiserver with Knative's Revision CRD; --crd applies
// it from a knative/serving release, config/core/300-resources/revision.yaml) and `kubectl` on
// the PATH. Knative's activator binds :8012, :8013, :8008 and :9092 on the host; its queue-proxy
// binds its fixed ports inside the namespace, where they are free.
//
// Options: --seconds N (each step, default 5), --rounds N (default 3), --cc N (containerConcurrency
// of the revision and both queue-proxies, default 0), --crd PATH. KUBERNETES_MIN_VERSION is passed on to Knative's
// processes (e.g. v0.0.0 for an API server built from source without a version stamp).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuMicros } from './lib/proc.js';
import { runLoad, type LoadResult } from './lib/load.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    cc: { type: 'string', default: '0' },
    crd: { type: 'string' },
  },
});
const [goActivatorBin, goQueueBin] = positionals;
if (!goActivatorBin || !goQueueBin) {
  process.stderr.write(
    'usage: npx tsx bench/activator-knative.ts <knative activator binary> <knative ' +
      'queue binary> [--seconds 5] [--rounds 3] [--cc 0] [--crd revision.yaml]\n',
  );
  process.exit(2);
}
if (!process.env.KUBECONFIG) {
  process.stderr.write(
    "KUBECONFIG is not set: Knative's activator needs a kube-apiserver (see ../shared/kube-apiserver.md)\n",
  );
  process.exit(2);
}
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
const cc = String(Number(values.cc));
const levels = [1, 50];

const NETNS = `ghbench${process.pid % 1000}`;
const HOST_IP = '10.232.0.1';
const POD_IP = '10.232.0.2';
const APP_PORT = 8080;
const GO_QUEUE_PORT = 8012;
const GATEHOUSE_QUEUE_PORT = 18012;
const NAMESPACE = 'default';
const REVISION = 'actbench-00001';
const children: ChildProcess[] = [];
const cleanups: Array<() => void> = [];

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
const kubectl = (args: string[], input?: string) =>
  execFileSync('kubectl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

/** Starts a process (in the pods' namespace when `inPod`); resolves once `ready()` answers true. */
async function start(
  name: string,
  inPod: boolean,
  cmd: string,
  args: string[],
  env: Record<string, string>,
  ready: () => Promise<boolean>,
): Promise<ChildProcess> {
  const [file, argv] = inPod ? ['ip', ['netns', 'exec', NETNS, cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // Knative's binaries refuse an API server whose version they cannot read as ≥ 1.26 (a source build stamps
      // v0.0.0-master+…): this lets them through.
      ...(process.env.KUBERNETES_MIN_VERSION ? { KUBERNETES_MIN_VERSION: process.env.KUBERNETES_MIN_VERSION } : {}),
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const tail: string[] = [];
  child.stderr.on('data', (d: Buffer) => {
    tail.push(d.toString());
    if (tail.length > 20) tail.shift();
  });
  for (const deadline = Date.now() + 30_000; !(await ready()); await new Promise((r) => setTimeout(r, 100))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start:\n${tail.join('')}`);
  }
  return child;
}

async function answers(url: string, headers: Record<string, string> = {}): Promise<boolean> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(1000) });
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}

function setUpNetns(): void {
  try {
    ip('netns', 'del', NETNS);
  } catch {
    // not there
  }
  ip('netns', 'add', NETNS);
  cleanups.push(() => ip('netns', 'del', NETNS));
  ip('link', 'add', `${NETNS}h`, 'type', 'veth', 'peer', 'name', `${NETNS}p`);
  ip('link', 'set', `${NETNS}p`, 'netns', NETNS);
  ip('addr', 'add', `${HOST_IP}/24`, 'dev', `${NETNS}h`);
  ip('link', 'set', `${NETNS}h`, 'up');
  ip('netns', 'exec', NETNS, 'ip', 'addr', 'add', `${POD_IP}/24`, 'dev', `${NETNS}p`);
  ip('netns', 'exec', NETNS, 'ip', 'link', 'set', `${NETNS}p`, 'up');
  ip('netns', 'exec', NETNS, 'ip', 'link', 'set', 'lo', 'up');
}

/** What Knative's activator reads: its config maps, the Revision, and the private Service and Endpoints. */
function createKubeObjects(): void {
  if (values.crd) kubectl(['apply', '-f', values.crd]);
  const haveSystem = (() => {
    try {
      kubectl(['get', 'namespace', 'knative-serving']);
      return true;
    } catch {
      return false;
    }
  })();
  if (!haveSystem) {
    kubectl(['create', 'namespace', 'knative-serving']);
    cleanups.push(() => {
      kubectl(['delete', 'namespace', 'knative-serving', '--wait=false']);
      // No controller-manager empties it: without its finalizer it goes at once instead of staying Terminating.
      const ns = JSON.parse(kubectl(['get', 'namespace', 'knative-serving', '-o', 'json'])) as {
        spec: { finalizers?: string[] };
      };
      ns.spec.finalizers = [];
      kubectl(['replace', '--raw', '/api/v1/namespaces/knative-serving/finalize', '-f', '-'], JSON.stringify(ns));
    });
  }
  const configMaps = ['config-logging', 'config-observability', 'config-network', 'config-tracing'];
  const existing = new Set(
    kubectl(['get', 'configmaps', '-n', 'knative-serving', '-o', 'name'])
      .split('\n')
      .map((l) => l.replace('configmap/', '')),
  );
  for (const name of configMaps.filter((n) => !existing.has(n))) {
    const data = name === 'config-tracing' ? { backend: 'none' } : {};
    kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'knative-serving' }, data }),
    );
    cleanups.push(() => void kubectl(['delete', 'configmap', '-n', 'knative-serving', name]));
  }
  kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Revision',
      metadata: { name: REVISION, namespace: NAMESPACE },
      spec: { containerConcurrency: Number(cc), timeoutSeconds: 300, containers: [{ image: 'example.com/app' }] },
    }),
  );
  cleanups.push(() => void kubectl(['delete', 'revision', '-n', NAMESPACE, REVISION]));
  const uid = kubectl(['get', 'revision', '-n', NAMESPACE, REVISION, '-o', 'jsonpath={.metadata.uid}']).trim();
  const labels = {
    'serving.knative.dev/revision': REVISION,
    'serving.knative.dev/revisionUID': uid,
    'networking.internal.knative.dev/serviceType': 'Private',
  };
  const name = `${REVISION}-private`;
  kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: NAMESPACE, labels },
      spec: { ports: [{ name: 'http', port: 80, targetPort: GO_QUEUE_PORT }] },
    }),
  );
  // Deleting the Service deletes its Endpoints too.
  cleanups.push(() => void kubectl(['delete', 'service', '-n', NAMESPACE, name]));
  kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, namespace: NAMESPACE, labels },
      subsets: [{ addresses: [{ ip: POD_IP }], ports: [{ name: 'http', port: GO_QUEUE_PORT }] }],
    }),
  );
}

const queueEnv = (port: number): Record<string, string> => ({
  SERVING_NAMESPACE: NAMESPACE,
  SERVING_CONFIGURATION: 'actbench',
  SERVING_REVISION: REVISION,
  SERVING_POD: `${REVISION}-pod`,
  SERVING_POD_IP: POD_IP,
  CONTAINER_CONCURRENCY: cc,
  QUEUE_SERVING_PORT: String(port),
  USER_PORT: String(APP_PORT),
  REVISION_TIMEOUT_SECONDS: '300',
  SERVING_READINESS_PROBE: JSON.stringify({ tcpSocket: { port: APP_PORT, host: '127.0.0.1' }, successThreshold: 1 }),
});

interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  /** The processes whose CPU counts for this path (activator and queue-proxy). */
  pids: number[];
}

interface Sample {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  cpuUsPerRequest: number;
}

async function sample(t: Target, c: number): Promise<Sample> {
  const cpu0 = t.pids.reduce((n, pid) => n + cpuMicros(pid), 0);
  const load: LoadResult = await runLoad(t.url, c, seconds, t.headers);
  const cpu1 = t.pids.reduce((n, pid) => n + cpuMicros(pid), 0);
  return {
    rps: load.rps,
    p50Ms: load.p50Ms,
    p99Ms: load.p99Ms,
    errors: load.errors + load.non2xx,
    cpuUsPerRequest: (cpu1 - cpu0) / Math.max(1, load.requests),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  setUpNetns();
  createKubeObjects();
  const node = process.execPath;
  await start(
    'the example app',
    true,
    node,
    [path.join(root, 'examples/app/server.mjs')],
    { PORT: String(APP_PORT), HOST: '0.0.0.0', TARGET: 'bench' },
    () => answers(`http://${POD_IP}:${APP_PORT}/`),
  );
  const probe = { 'user-agent': 'kube-probe/1.27', 'k-network-probe': 'queue' };
  await start(
    'gatehouse queue',
    true,
    node,
    [path.join(root, 'bin/gatehouse.js'), 'queue'],
    {
      ...queueEnv(GATEHOUSE_QUEUE_PORT),
      QUEUE_BIND_ADDRESS: '0.0.0.0',
      QUEUE_ADMIN_PORT: '0',
      QUEUE_METRICS_PORT: '0',
      QUEUE_USER_METRICS_PORT: '0',
      GATEHOUSE_LOG_LEVEL: 'warn',
    },
    () => answers(`http://${POD_IP}:${GATEHOUSE_QUEUE_PORT}/`, probe),
  );
  await start(
    'Knative queue-proxy',
    true,
    goQueueBin!,
    [],
    {
      ...queueEnv(GO_QUEUE_PORT),
      QUEUE_SERVING_TLS_PORT: '8112',
      SERVING_LOGGING_CONFIG: '',
      SERVING_LOGGING_LEVEL: 'error',
      ENABLE_HTTP2_AUTO_DETECTION: 'true',
    },
    () => answers(`http://${POD_IP}:${GO_QUEUE_PORT}/`, probe),
  );
  const routed = { 'knative-serving-namespace': NAMESPACE, 'knative-serving-revision': REVISION };
  const ghActivator = await start(
    'gatehouse activator',
    false,
    node,
    [
      '--import',
      'tsx',
      path.join(root, 'bench/lib/activator-process.ts'),
      `${POD_IP}:${GATEHOUSE_QUEUE_PORT}`,
      NAMESPACE,
      REVISION,
      cc,
    ],
    { GATEHOUSE_LOG_LEVEL: 'warn' },
    async () => true,
  );
  const ghPort = await activatorPort(ghActivator);
  const goActivator = await start(
    'Knative activator',
    false,
    goActivatorBin!,
    [],
    {
      KUBECONFIG: process.env.KUBECONFIG!,
      POD_NAME: 'activator-bench',
      POD_IP: HOST_IP,
      SYSTEM_NAMESPACE: 'knative-serving',
      CONFIG_LOGGING_NAME: 'config-logging',
      CONFIG_OBSERVABILITY_NAME: 'config-observability',
      METRICS_DOMAIN: 'knative.dev/internal/serving',
      METRICS_PROMETHEUS_PORT: '9092',
    },
    () => answers('http://127.0.0.1:8012/', routed),
  );
  const targets: Target[] = [
    {
      name: 'gatehouse activator → gatehouse queue → app',
      url: `http://127.0.0.1:${ghPort}/`,
      headers: routed,
      pids: [ghActivator.pid!],
    },
    {
      name: 'Knative activator → Go queue-proxy → app',
      url: 'http://127.0.0.1:8012/',
      headers: routed,
      pids: [goActivator.pid!],
    },
  ];
  for (const t of targets) await runLoad(t.url, 10, 1, t.headers); // warm-up: connections, JIT
  const samples = new Map<string, Sample[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const c of levels) {
      for (const t of round % 2 ? targets : [...targets].reverse()) {
        const s = await sample(t, c);
        const key = `${t.name}|${c}`;
        samples.set(key, [...(samples.get(key) ?? []), s]);
        process.stderr.write(
          `round ${round} c=${c} ${t.name}: ${s.rps.toFixed(0)} rps, p99 ${s.p99Ms} ms, ${s.errors} errors\n`,
        );
      }
    }
  }
  const header = ['path', 'c', 'median rps', 'p50 ms', 'p99 ms', 'errors', 'activator CPU µs/req', 'rps of each round'];
  const table = [header];
  for (const c of levels) {
    for (const t of targets) {
      const s = samples.get(`${t.name}|${c}`)!;
      table.push([
        t.name,
        String(c),
        median(s.map((x) => x.rps)).toFixed(0),
        median(s.map((x) => x.p50Ms)).toFixed(2),
        median(s.map((x) => x.p99Ms)).toFixed(2),
        String(s.reduce((n, x) => n + x.errors, 0)),
        median(s.map((x) => x.cpuUsPerRequest)).toFixed(0),
        s.map((x) => x.rps.toFixed(0)).join(' '),
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const r of table) process.stdout.write(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ') + '\n');
  for (const c of levels) {
    const [gh, go] = targets.map((t) => samples.get(`${t.name}|${c}`)!);
    const perRound = gh!.map((g, i) => (g.rps / go![i]!.rps).toFixed(2)).join(' ');
    process.stdout.write(
      `c=${c}: gatehouse ÷ Knative, median rps ` +
        `${(median(gh!.map((x) => x.rps)) / median(go!.map((x) => x.rps))).toFixed(2)}× (rounds: ${perRound}); ` +
        `activator CPU per request ` +
        `${(median(gh!.map((x) => x.cpuUsPerRequest)) / median(go!.map((x) => x.cpuUsPerRequest))).toFixed(2)}×\n`,
    );
  }
  process.stdout.write(
    `(${rounds} rounds of ${seconds} s per path and level, ` +
      `alternating; CC=${cc}; the pods in network namespace ${NETNS})\n`,
  );
}

/** The gatehouse activator prints its port as the first line on stderr ({"port": N}). */
async function activatorPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      const m = /"port":(\d+)/.exec(d.toString());
      if (m) {
        child.stderr!.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the gatehouse activator exited (${code})`)));
  });
}

try {
  await main();
} finally {
  for (const child of children.reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch (err) {
      process.stderr.write(`cleanup: ${(err as Error).message}\n`);
    }
  }
}
