// `gatehouse activator` as a process in front of one proxy-mode revision it learns over xDS: the
// example app, its queue-proxy and an xDS server serving the revision, all stopped after the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import type { RevisionSpec } from '../../src/model/desired.js';
import { translate } from '../../src/translate/index.js';
import { startXdsServer } from '../../src/xds/index.js';
import { startExampleApp } from './app.js';
import { until } from './cli.js';
import { desired, revision, route, routing } from './desired.js';
import { gatehouseBin, startQueue } from './queue.js';

export interface ActivatorProcess {
  child: ChildProcess;
  port: number;
  /** The headers that route a request to the revision. */
  routed: Record<string, string>;
  /** Resolves with [code, signal] when the process exits. */
  exited: Promise<unknown[]>;
  /** Every line it wrote to stderr (its log). */
  lines: string[];
  /** What it wrote that is not a log line (stdout, and stderr lines that are not JSON): a crash prints here. */
  output(): string;
}

/** Starts everything and waits until the activator serves the revision (it arrives over xDS after start). */
export async function activatorOverXds(
  t: TestContext,
  revisionName: string,
  overrides: Partial<RevisionSpec> = {},
): Promise<ActivatorProcess> {
  const app = await startExampleApp({ K_REVISION: revisionName });
  t.after(() => app.stop());
  const queue = await startQueue(app.port, { CONTAINER_CONCURRENCY: String(overrides.containerConcurrency ?? 1) });
  t.after(() => queue.stop());
  const xds = await startXdsServer({ port: 0 });
  t.after(() => xds.close());
  const rev = revision(revisionName, { containerConcurrency: 1, ...overrides });
  xds.cache.setTranslation(
    translate(
      desired(
        [route(rev.service, [{ revisionName, percent: 100 }])],
        [routing(rev, 'proxy', [{ host: '127.0.0.1', port: queue.servingPort }])],
      ),
    ),
  );
  const args = ['activator', '--xds', `127.0.0.1:${xds.port}`, '--port', '0', '--metrics-port', '0'];
  const child = spawn(process.execPath, [gatehouseBin, ...args, '--drain-quiet-seconds', '0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  const lines: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    void exited.then(([code]) => reject(new Error(`the activator exited (${String(code)}) before listening`)));
    createInterface({ input: child.stderr }).on('line', (line) => {
      lines.push(line);
      try {
        const r = JSON.parse(line) as { msg?: string; port?: number };
        if (r.msg === 'activator listening') resolve(r.port!);
      } catch {
        output += line + '\n';
      }
    });
  });
  const routed = { 'knative-serving-namespace': rev.namespace, 'knative-serving-revision': revisionName };
  let last = 0;
  await until(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers: routed });
      await res.text();
      last = res.status;
      return last === 200;
    },
    `the activator to serve ${revisionName}`,
    30_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last status ${last})`);
  });
  return { child, port, routed, exited, lines, output: () => output };
}
