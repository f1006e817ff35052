// Chart axes: whole-number ticks for whole-number data, each tick placed at the value it shows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { axis, lineChart } from '../../src/bench/chart.js';

test('axis: round steps, a max that is a whole number of steps, no fractional tick for counts', () => {
  assert.deepEqual(axis(30, true).ticks, [0, 10, 20, 30]);
  assert.deepEqual(axis(29.5, true).ticks, [0, 10, 20, 30]);
  assert.deepEqual(axis(7, true).ticks, [0, 2, 4, 6, 8]);
  assert.deepEqual(axis(3, true).ticks, [0, 1, 2, 3]);
  assert.deepEqual(axis(1, true).ticks, [0, 1]);
  assert.deepEqual(axis(0, true).ticks, [0, 1]);
  assert.deepEqual(axis(0.8, false).ticks, [0, 0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(axis(34.1, false).ticks, [0, 10, 20, 30, 40]);
  assert.deepEqual(axis(677, false).ticks, [0, 200, 400, 600, 800]);
  assert.equal(axis(34.1, false).max, 40);
});

test('the chart labels each tick where it belongs and draws pods as steps between whole numbers', () => {
  const svg = lineChart('t', 'ms', 'pods', [
    {
      name: 'p99',
      color: '#111',
      points: [
        [0, 3.2],
        [15, 9.7],
        [29.4, 5],
      ],
    },
    {
      name: 'pods',
      color: '#222',
      points: [
        [0, 0],
        [10, 1],
        [29.4, 1],
      ],
      rightAxis: true,
      steps: true,
    },
  ]);
  // Seconds: ticks 0, 10, 20, 30 across the 780 px plot starting at x=60.
  const xLabels = [...svg.matchAll(/<text x="([\d.]+)" y="336" text-anchor="middle">(\d+)<\/text>/g)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
  assert.deepEqual(xLabels, [
    [60, 0],
    [320, 10],
    [580, 20],
    [840, 30],
  ]);
  // Pods: 0 and 1 only, never 0.3 pods.
  const right = [...svg.matchAll(/<text x="846" y="[\d.]+">([^<]+)<\/text>/g)].map((m) => m[1]);
  assert.deepEqual(right, ['0', '1']);
  // The pods line holds 0 until second 10, then steps up.
  const pods = /<polyline fill="none" stroke="#222" stroke-width="2" points="([^"]+)"/.exec(svg)![1]!.split(' ');
  assert.deepEqual(pods, ['60.0,320.0', '320.0,320.0', '320.0,40.0', '824.4,40.0', '824.4,40.0']);
  assert.equal(svg.match(/<polyline/g)?.length, 2);
});
