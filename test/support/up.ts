// What the `gatehouse up` end-to-end tests share: a service document, a temp file, a request through
// the gateway, an in-process `up` stopped after the test, and a load generator counting answers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { createLogger } from '../../src/log/logger.js';
import { loopbackUpOptions, serviceYaml } from '../../src/bench/services.js';
import { startUp, type Up } from '../../src/up/orchestrator.js';
import { exampleAppPath } from './app.js';

export const log = createLogger('test');

export function service(
  name: string,
  target: string,
  extra: { annotations?: Record<string, string>; traffic?: string; cc?: number } = {},
): string {
  return serviceYaml(name, {
    target,
    appPath: exampleAppPath,
    annotations: { 'autoscaling.knative.dev/window': '6s', ...extra.annotations },
    ...(extra.cc !== undefined ? { containerConcurrency: extra.cc } : {}),
    ...(extra.traffic !== undefined ? { extraSpec: extra.traffic } : {}),
  });
}

export function tempFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'gatehouse-up-')), 'services.yaml');
  writeFileSync(file, text);
  return file;
}

export async function get(port: number, host: string, urlPath = '/') {
  const res = await request(`http://127.0.0.1:${port}${urlPath}`, { headers: { host } });
  return { status: res.statusCode, body: await res.body.text() };
}

export async function startTestUp(file: string, t: { after(fn: () => Promise<void>): void }): Promise<Up> {
  const up = await startUp(
    loopbackUpOptions(file, log, { tickMs: 200, autoscaler: { scaleToZeroGracePeriodMs: 500 } }),
  );
  t.after(() => up.close());
  return up;
}

/** Requests at a fixed concurrency until stopped; counts anything but a 200. */
export function loadGenerator(port: number, host: string, concurrency = 4) {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (running) {
      try {
        const r = await get(port, host);
        if (r.status === 200) ok++;
        else failures.push(`${r.status} ${r.body.trim()}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    served: () => ok,
    async stop() {
      running = false;
      await Promise.all(workers);
      return { ok, failures };
    },
  };
}
