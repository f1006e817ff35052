// Bursts at a revision at zero through `gatehouse up`'s orchestrator, on real processes: every
// request answered 200, no more pods than Knative's formula asks for, no scale-down while
// requests wait, and the admin API answering throughout.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { createLogger } from '../../src/log/logger.js';
import { loopbackUpOptions, serviceYaml, type GeneratedService } from '../../src/bench/services.js';
import { startUp } from '../../src/up/orchestrator.js';
import { exampleAppPath } from '../support/app.js';

const log = createLogger('test');

/** A revision that starts at zero, of the example app booting in 300 ms. */
function burstService(name: string, containerConcurrency: number, annotations: Record<string, string>): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'gatehouse-burst-')), 'services.yaml');
  const service: GeneratedService = {
    target: name,
    appPath: exampleAppPath,
    containerConcurrency,
    annotations: {
      'autoscaling.knative.dev/initial-scale': '0',
      'autoscaling.knative.dev/window': '6s',
      ...annotations,
    },
    env: { STARTUP_DELAY_MS: '300' },
  };
  writeFileSync(file, serviceYaml(name, service));
  return file;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

async function burst(
  t: { after(fn: () => Promise<void>): void },
  o: { name: string; cc: number; annotations: Record<string, string>; concurrent: number; maxPods: number },
) {
  const up = await startUp(loopbackUpOptions(burstService(o.name, o.cc, o.annotations), log, { tickMs: 500 }));
  t.after(() => up.close());
  await up.whenReady(30_000);
  const revision = () => up.status().revisions[0]!;
  assert.equal(revision().pods.desired, 0, 'the revision starts at zero');

  let pending = o.concurrent;
  const seen = { maxDesired: 0, maxPods: 0, scaledUp: false, zeroWhileWaiting: 0, drainingWhileWaiting: 0 };
  const timeline: string[] = [];
  const started = Date.now();
  const watch = setInterval(() => {
    const r = revision();
    seen.maxDesired = Math.max(seen.maxDesired, r.pods.desired);
    seen.maxPods = Math.max(seen.maxPods, r.podList.length);
    seen.scaledUp ||= r.pods.desired > 0;
    if (pending > 0 && seen.scaledUp && r.pods.desired === 0) seen.zeroWhileWaiting++;
    if (pending > 0 && r.podList.some((p) => p.phase === 'draining')) seen.drainingWhileWaiting++;
    const line = `desired ${r.pods.desired} ready ${r.pods.ready} pods ${r.podList.length}`;
    if (timeline.at(-1)?.endsWith(line) !== true) timeline.push(`${Date.now() - started} ms ${line}`);
  }, 20);
  // The admin API, polled through the burst: it lives in the process that holds the gateway,
  // the autoscaler and the prober, so its latency is theirs.
  const statusMs: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const at = Date.now();
      const res = await request(`http://127.0.0.1:${up.adminPort}/status`);
      await res.body.json();
      statusMs.push(Date.now() - at);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  const results = await Promise.all(
    Array.from({ length: o.concurrent }, async () => {
      const at = Date.now();
      try {
        const res = await request(`http://127.0.0.1:${up.gatewayPort}/?delay=200`, {
          headers: { host: `${o.name}.default.example.com` },
          headersTimeout: 60_000,
          bodyTimeout: 60_000,
        });
        return { status: res.statusCode, body: await res.body.text(), ms: Date.now() - at };
      } catch (err) {
        return { status: 0, body: (err as Error).message, ms: Date.now() - at };
      } finally {
        pending--;
      }
    }),
  );
  polling = false;
  await poller;
  clearInterval(watch);
  const figures = {
    requests: o.concurrent,
    p50Ms: percentile(
      results.map((r) => r.ms),
      0.5,
    ),
    maxMs: Math.max(...results.map((r) => r.ms)),
    ...seen,
    statusP99Ms: percentile(statusMs, 0.99),
    statusMaxMs: Math.max(...statusMs),
    statusSamples: statusMs.length,
    timeline,
  };
  log.info('burst from zero', figures);
  const failed = results.filter((r) => r.status !== 200);
  assert.deepEqual(failed, [], `every request answered 200 (${JSON.stringify(figures)})`);
  assert.ok(
    seen.maxDesired <= o.maxPods,
    `at most ${o.maxPods} pods wanted (Knative's formula), got ${seen.maxDesired}`,
  );
  assert.ok(seen.maxPods <= seen.maxDesired, `no more pods than wanted: ${seen.maxPods}`);
  assert.equal(seen.zeroWhileWaiting, 0, 'never back to zero while requests waited');
  assert.equal(seen.drainingWhileWaiting, 0, 'no pod scaled down while requests waited');
  // The target is 100 ms p99; the bound leaves room for a 2-core machine that runs other tests.
  assert.ok(statusMs.length >= 5, `the admin API was polled through the burst (${statusMs.length} answers)`);
  assert.ok(
    percentile(statusMs, 0.99) < 500,
    `the admin API answers during the burst: p99 ${percentile(statusMs, 0.99)} ms`,
  );
}

test('a burst of 20 at CC=1, target 1, from zero: all 200, at most ceil(20 / (1 × 0.7)) = 29 pods', async (t) => {
  await burst(t, {
    name: 'cc1',
    cc: 1,
    annotations: { 'autoscaling.knative.dev/target': '1' },
    concurrent: 20,
    maxPods: 29,
  });
});

test('a burst of 100 at CC=10 from zero: all 200, at most ceil(100 / (10 × 0.7)) = 15 pods', async (t) => {
  await burst(t, { name: 'cc10', cc: 10, annotations: {}, concurrent: 100, maxPods: 15 });
});
