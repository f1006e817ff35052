// The benchmark harness: its pure reductions with exact numbers, and one short real run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
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
    { name: 'p50', color: '#111', points: [[0, 1], [1, 2]] },
    { name: 'pods', color: '#222', points: [[0, 0], [1, 3]], rightAxis: true },
  ]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<polyline/g)?.length, 2);
});

test('gatehouse bench steady: a short real run writes results with no failed request', async () => {
  const out = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-test-'));
  const child = spawn(process.execPath, [gatehouseBin, 'bench', 'steady', '--seconds', '2', '--rps', '50', '--out', out], { stdio: ['ignore', 'pipe', 'ignore'] });
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, stdout);
  const result = JSON.parse(readFileSync(path.join(out, 'steady.json'), 'utf8')) as { gatehouse: { requests: number; failed: number }; direct: { requests: number } };
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
