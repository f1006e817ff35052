// Ctrl-C in the middle of a burst from zero: `gatehouse up` and everything it started (activators,
// pods booting or waiting to, standby queue-proxies) exit, and nothing prints a stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { request } from 'undici';
import { loopbackUpArgs } from '../../src/bench/services.js';
import { exampleAppPath } from '../support/app.js';
import { gatehouseBin } from '../support/queue.js';

/** Processes whose environment carries `marker` (every descendant of the `up` started with it). */
function marked(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return found;
}

async function until<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs: number,
): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test(
  'Ctrl-C during a burst from zero leaves no process behind and no stack trace',
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async (t) => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'gatehouse-interrupt-')), 'services.yaml');
    writeFileSync(
      file,
      `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: burst
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/initial-scale: "0"
        autoscaling.knative.dev/target: "1"
        autoscaling.knative.dev/window: "6s"
    spec:
      containerConcurrency: 1
      containers:
        - command: [node, ${JSON.stringify(exampleAppPath)}]
          env:
            - name: STARTUP_DELAY_MS
              value: "300"
`,
    );
    const marker = `GATEHOUSE_INTERRUPT_TEST=${randomUUID()}`;
    const [markName, markValue] = marker.split('=') as [string, string];
    // Its own process group, as a shell gives a foreground job: Ctrl-C reaches the whole group.
    const up = spawn(
      process.execPath,
      [gatehouseBin, ...loopbackUpArgs(file, '--tick-ms', '500', '--allow-zero-initial-scale')],
      {
        env: { ...process.env, [markName]: markValue },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    t.after(() => {
      for (const pid of marked(marker)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    createInterface({ input: up.stderr }).on('line', (line) => stderr.push(line));
    const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      void exited.then((code) =>
        reject(new Error(`gatehouse up exited with ${code}: ${stderr.slice(-20).join('\n')}`)),
      );
      createInterface({ input: up.stdout }).on('line', (line) => {
        stdout.push(line);
        if (line.startsWith('Ready in')) resolve();
      });
    });
    const gatewayPort = Number(/gateway\s+127\.0\.0\.1:(\d+)/.exec(stdout.join('\n'))![1]);
    const adminPort = Number(/--admin-port (\d+)/.exec(stdout.join('\n'))![1]);

    const requests = Array.from({ length: 20 }, () =>
      request(`http://127.0.0.1:${gatewayPort}/?delay=200`, { headers: { host: 'burst.default.example.com' } }).then(
        (r) => r.body.text().then(() => r.statusCode),
        () => 0,
      ),
    );
    // Mid-burst: pods were asked for, and some still boot or wait for a boot slot.
    const pods = await until(
      async () => {
        const status = (await (await request(`http://127.0.0.1:${adminPort}/status`)).body.json()) as {
          revisions: Array<{ podList: Array<{ phase: string }> }>;
        };
        const list = status.revisions[0]?.podList ?? [];
        return list.length >= 2 && list.some((p) => p.phase === 'starting') ? list.length : undefined;
      },
      'pods starting',
      20_000,
    );
    assert.ok(marked(marker).length > 3, 'up, its activators and pods are running');

    process.kill(-up.pid!, 'SIGINT');
    const code = await Promise.race([
      exited,
      new Promise<string>((r) => setTimeout(() => r('still running after 30 s'), 30_000).unref()),
    ]);
    assert.equal(code, 0, `gatehouse up exits 0 on Ctrl-C (${pods} pods at the time)`);
    await Promise.all(requests);
    await until(() => (marked(marker).length === 0 ? true : undefined), 'every process it started to exit', 5000).catch(
      () => {
        throw new Error(
          `left behind: ${marked(marker)
            .map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' '))
            .join(' | ')}`,
        );
      },
    );
    // Logs are JSON lines; anything else on stderr is a crash or a stack trace.
    const unstructured = stderr.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(unstructured, [], 'nothing but log lines on stderr');
    assert.deepEqual(
      stderr.filter((line) => /"level":"error"/.test(line)),
      [],
      'no error logged while stopping',
    );
  },
);
