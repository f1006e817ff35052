// The benchmark harness: its pure reductions with exact numbers, and one short real run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { burstRow, burstTargets, renderBurst, type RequestSample } from '../../src/bench/burst.js';
import { lineChart } from '../../src/bench/chart.js';
import { rampPhases } from '../../src/bench/run.js';
import { percentile, perSecond, summarize } from '../../src/bench/stats.js';
import { gatehouseBin } from '../support/queue.js';

test('percentiles are nearest-rank; per-second rows cover every second', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 95), 95);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([], 50), 0);
  const samples = [
    { at: 100, latencyMs: 10, ok: true },
    { at: 900, latencyMs: 30, ok: false },
    { at: 2500, latencyMs: 20, ok: true },
  ];
  assert.deepEqual(summarize(samples, 3000), { requests: 3, failed: 1, rps: 1, p50: 20, p95: 30, p99: 30 });
  assert.deepEqual(perSecond(samples), [
    { second: 0, requests: 2, failed: 1, p50: 10, p99: 30 },
    { second: 1, requests: 0, failed: 0, p50: 0, p99: 0 },
    { second: 2, requests: 1, failed: 0, p50: 20, p99: 20 },
  ]);
});

test('the ramp: up over a third, hold, down over a tenth', () => {
  assert.deepEqual(rampPhases(300, 30), [
    ...Array.from({ length: 10 }, (_, i) => ({ rate: 30 * (i + 1), seconds: 1 })),
    { rate: 300, seconds: 17 },
    { rate: 250, seconds: 1 },
    { rate: 150, seconds: 1 },
    { rate: 50, seconds: 1 },
  ]);
});

test('the chart is an SVG with one line per series', () => {
  const svg = lineChart('t', 'ms', 'pods', [
    {
      name: 'p50',
      color: '#111',
      points: [
        [0, 1],
        [1, 2],
      ],
    },
    {
      name: 'pods',
      color: '#222',
      points: [
        [0, 0],
        [1, 3],
      ],
      rightAxis: true,
    },
  ]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<polyline/g)?.length, 2);
});

test('gatehouse bench steady: a short real run writes results with no failed request', async () => {
  const out = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-test-'));
  const child = spawn(
    process.execPath,
    [gatehouseBin, 'bench', 'steady', '--seconds', '2', '--rps', '50', '--out', out],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, stdout);
  const result = JSON.parse(readFileSync(path.join(out, 'steady.json'), 'utf8')) as {
    gatehouse: { requests: number; failed: number };
    direct: { requests: number };
  };
  assert.equal(result.gatehouse.requests, 100, 'requests through gatehouse');
  assert.equal(result.gatehouse.failed, 0);
  assert.equal(result.direct.requests, 100, 'requests to the app direct');
  assert.match(readFileSync(path.join(out, 'steady.svg'), 'utf8'), /<svg/);
  assert.match(stdout, /gateway → gatehouse → app/);
});

test('k6 scripts stay within what k6 v0.48 runs: no ?. or ??, no remote imports, thresholds everywhere', () => {
  const dir = path.resolve('bench/k6');
  const scripts = readdirSync(dir).filter((f) => f.endsWith('.js') && f !== 'lib.js');
  assert.ok(scripts.length >= 5, scripts.join(', '));
  for (const f of [...scripts, 'lib.js']) {
    const text = readFileSync(path.join(dir, f), 'utf8').replace(/\/\/.*$/gm, '');
    assert.doesNotMatch(text, /\?\.|\?\?/, `${f} uses ?. or ??`);
    assert.doesNotMatch(text, /from ['"]https?:/, `${f} imports over the network`);
  }
  for (const f of scripts) {
    const text = readFileSync(path.join(dir, f), 'utf8');
    assert.match(text, /handleSummary = summary\(/, `${f} writes a JSON summary`);
    assert.match(text, /rate==0|constantRate\(|rate==1/, `${f} has a zero-failure threshold`);
  }
});

test(
  'a burst row: percentiles, minus the boot time (never ' + 'below 0), admin p99, pods at each change; the targets',
  () => {
    const requests: RequestSample[] = [900, 1000, 1100, 1200, 5000].map((latencyMs, i) => ({ latencyMs, ok: i !== 4 }));
    requests[4]!.failure = { latencyMs: 5000, status: 503, body: 'pending request queue full' };
    const status: Array<[number, number, number]> = [
      [0, 5, 0],
      [0.1, 7, 0],
      [0.2, 120, 1],
      [0.3, 6, 1],
      [0.4, 4, 3],
      [0.5, 9, -1], // the admin API did not answer
    ];
    const row = burstRow(6, requests, 1000, status, 7.5);
    assert.deepEqual(row, {
      size: 6,
      ok: 4,
      failed: 2, // one not 200, one never answered
      p50: 1100,
      p95: 5000,
      max: 5000,
      p50MinusBoot: 100,
      p95MinusBoot: 4000,
      maxMinusBoot: 4000,
      maxPods: 3,
      podChanges: [
        [0, 0],
        [0.2, 1],
        [0.4, 3],
      ],
      adminP99: 120,
      adminMax: 120,
      adminSamples: 6,
      backToZeroS: 7.5,
      failures: [{ latencyMs: 5000, status: 503, body: 'pending request queue full' }],
    });
    const unexplained = burstRow(
      3,
      [
        { latencyMs: 10, ok: false },
        { latencyMs: 20, ok: false, failure: { latencyMs: 20, error: 'UND_ERR_SOCKET: other side closed' } },
      ],
      0,
      [],
      undefined,
    );
    const text = renderBurst({
      containerConcurrency: 1,
      appBootMs: 1000,
      rows: [row, unexplained],
      pods: [],
      admin: [],
      waiting: [],
      files: { json: 'burst.json', svg: 'burst.svg' },
    });
    assert.match(text, /^failed in the burst of 6 after 5000 ms: 503 "pending request queue full"$/m);
    assert.match(text, /^failed in the burst of 3 after 20 ms: UND_ERR_SOCKET: other side closed$/m);
    assert.deepEqual(unexplained.failures, [
      { latencyMs: 10 },
      { latencyMs: 20, error: 'UND_ERR_SOCKET: other side closed' },
    ]);
    assert.equal(burstRow(2, [{ latencyMs: 300, ok: true }], 1000, [], undefined).p50MinusBoot, 0);
    const fifty = { ...row, size: 50, failed: 0, p95: 1400, adminP99: 80 };
    assert.deepEqual(burstTargets({ rows: [fifty], appBootMs: 500, containerConcurrency: 1 }), [
      { target: 'no request failed', held: true },
      { target: 'p95 of a burst of 50 at CC=1 ≤ app boot + 1 s (1400 ≤ 1500 ms)', held: true },
      { target: 'admin API p99 ≤ 100 ms during the bursts (80.0 ms)', held: true },
    ]);
    assert.deepEqual(
      burstTargets({ rows: [row, { ...fifty, p95: 1600 }], appBootMs: 500, containerConcurrency: 1 }).map(
        (t) => t.held,
      ),
      [false, false, false],
    );
    assert.equal(
      burstTargets({ rows: [fifty], appBootMs: 500, containerConcurrency: 10 }).length,
      2,
      'the p95 target is for CC=1',
    );
  },
);
