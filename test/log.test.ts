// The two log formats: JSON lines for machines and pipes, one readable line for a terminal.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { textLine } from '../src/log/logger.js';
import { gatehouseBin } from './support/queue.js';

test('text format: time, level, component, message, then the fields as key=value', () => {
  const line = textLine(
    {
      ts: '2026-12-02T09:27:15.523Z',
      level: 'info',
      component: 'up',
      msg: 'pod ready',
      pod: 'hello-1',
      startupMs: 672,
      why: 'two words',
      list: [1, 2],
    },
    false,
  );
  assert.equal(line, '09:27:15.523 INFO  up        pod ready  pod=hello-1 startupMs=672 why="two words" list=[1,2]\n');
  assert.equal(
    textLine({ ts: '2026-12-02T09:27:15.523Z', level: 'error', component: 'xds', msg: 'x' }, false),
    '09:27:15.523 ERROR xds       x\n',
  );
});

test('piped stderr gets JSON lines; --log-format text gets readable ones; a wrong format is a usage error', () => {
  // `gatehouse queue` with a bad USER_PORT logs one error record and exits.
  const queue = (format?: string) =>
    spawnSync(process.execPath, [gatehouseBin, ...(format ? ['--log-format', format] : []), 'queue'], {
      encoding: 'utf8',
      env: { ...process.env, USER_PORT: 'not-a-port' },
      timeout: 30_000,
    });
  const json = queue();
  const first = json.stderr.split('\n').find((l) => l.trim() !== '')!;
  assert.doesNotThrow(() => JSON.parse(first), first);
  const text = queue('text');
  const line = text.stderr.split('\n').find((l) => l.trim() !== '')!;
  assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} (ERROR|WARN |INFO ) queue/, line);
  const wrong = spawnSync(process.execPath, [gatehouseBin, '--log-format', 'xml', 'status'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /--log-format <format>' argument 'xml' is invalid\. Allowed choices are json, text\./);
});
