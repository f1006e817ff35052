// `gatehouse bench burst` for real, small: its own file, so its minute of bursts and returns to
// zero has a time budget of its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { BurstResult } from '../../src/bench/burst.js';
import { gatehouseBin } from '../support/queue.js';

test(
  'gatehouse bench burst: two small bursts from zero, the ' + 'second after a return to zero, every request answered',
  async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-burst-test-'));
    const child = spawn(
      process.execPath,
      [
        gatehouseBin,
        'bench',
        'burst',
        '--bursts',
        '3,4',
        '--app-boot-ms',
        '100',
        '--request-ms',
        '50',
        '--zero-grace-seconds',
        '1',
        '--out',
        out,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, stdout + stderr);
    const result = JSON.parse(readFileSync(path.join(out, 'burst.json'), 'utf8')) as BurstResult;
    assert.deepEqual(
      result.rows.map((r) => [r.size, r.ok, r.failed]),
      [
        [3, 3, 0],
        [4, 4, 0],
      ],
    );
    assert.ok(result.appBootMs >= 100, `the app's boot includes its delay: ${result.appBootMs}`);
    assert.ok(result.rows[0]!.backToZeroS! > 0, 'the second burst waited for zero');
    assert.ok(
      result.rows.every((r) => r.maxPods >= 1 && r.adminSamples > 0 && r.podChanges[0]![1] === 0),
      'each burst starts at zero pods and brings one up',
    );
    assert.match(readFileSync(path.join(out, 'burst.svg'), 'utf8'), /<svg/);
    assert.match(stdout, /^burst +ok +failed +p50 ms/m);
    assert.match(stdout, /held +no request failed/);
  },
);
