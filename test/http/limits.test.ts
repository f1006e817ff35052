import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionBudget, defaultMaxConnections, httpLimitsFromEnv, RefusalLog } from '../../src/http/limits.js';
import type { Logger } from '../../src/log/logger.js';

test('default connection limit: 80 % of the file limit, at least 256 descriptors kept, never below 64', () => {
  const cases: Array<[number | undefined, number]> = [
    [20_000, 16_000],
    [1024, 768],
    [1_048_576, 838_860],
    [300, 64],
    [undefined, 50_000],
  ];
  for (const [fileLimit, want] of cases)
    assert.equal(defaultMaxConnections(fileLimit), want, `file limit ${fileLimit}`);
});

test(
  'GATEHOUSE_* variables set the limits; seconds may be fractional; ' +
    'the per-listener limit never exceeds the process one',
  () => {
    const l = httpLimitsFromEnv({
      GATEHOUSE_HEADERS_TIMEOUT_SECONDS: '0.25',
      GATEHOUSE_IDLE_TIMEOUT_SECONDS: '30',
      GATEHOUSE_BODY_IDLE_TIMEOUT_SECONDS: '0',
      GATEHOUSE_DRAIN_UPLOAD_SECONDS: '2',
      GATEHOUSE_MAX_CONNECTIONS: '100',
      GATEHOUSE_MAX_CONNECTIONS_PER_LISTENER: '500',
    });
    assert.deepEqual(l, {
      headersTimeoutMs: 250,
      idleTimeoutMs: 30_000,
      bodyIdleTimeoutMs: 0,
      drainMs: 2000,
      maxConnectionsPerListener: 100,
      maxConnections: 100,
    });
    assert.equal(httpLimitsFromEnv({}).headersTimeoutMs, 10_000);
    assert.equal(httpLimitsFromEnv({}).bodyIdleTimeoutMs, 30_000);
  },
);

test('a bad limit names the variable, the value and what is expected', () => {
  assert.throws(
    () => httpLimitsFromEnv({ GATEHOUSE_HEADERS_TIMEOUT_SECONDS: 'soon' }),
    /^Error: GATEHOUSE_HEADERS_TIMEOUT_SECONDS=soon: expected a number of seconds ≥ 0$/,
  );
  assert.throws(
    () => httpLimitsFromEnv({ GATEHOUSE_MAX_CONNECTIONS: '0' }),
    /GATEHOUSE_MAX_CONNECTIONS=0: expected a whole number ≥ 1/,
  );
  assert.throws(
    () => httpLimitsFromEnv({ GATEHOUSE_MAX_CONNECTIONS_PER_LISTENER: '2.5' }),
    /expected a whole number ≥ 1/,
  );
});

test('the budget admits up to its maximum and again after a release', () => {
  const b = new ConnectionBudget(2);
  assert.deepEqual([b.admit(), b.admit(), b.admit()], [true, true, false]);
  b.release();
  assert.equal(b.admit(), true);
  assert.equal(b.open, 2);
});

test('refusals log at most one line per interval, counting the ones in between', () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = { warn: (_msg: string, fields: Record<string, unknown>) => lines.push(fields) } as unknown as Logger;
  const r = new RefusalLog(log, 'l', 10_000);
  assert.equal(r.refuse('listener', 5, 5, 1000), true);
  assert.equal(r.refuse('listener', 5, 5, 2000), false);
  assert.equal(r.refuse('process', 9, 9, 5000), false);
  assert.equal(r.refuse('process', 9, 9, 11_000), true);
  assert.deepEqual(
    lines.map((l) => l.refusedSinceLastLine),
    [1, 3],
  );
});
