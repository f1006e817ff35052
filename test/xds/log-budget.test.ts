// The NACK warning budget, stepped through time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogBudget, type BudgetSummary } from '../../src/xds/server/log-budget.js';

test('LogBudget: five full lines per kind and 10 s window, then counts; a summary when the window ends', () => {
  const budget = new LogBudget(5, 10_000);
  const summaries: BudgetSummary[] = [];
  const closed = (s: BudgetSummary) => summaries.push(s);
  const admitted = Array.from({ length: 20_000 }, (_, i) =>
    budget.admit('xDS NACK', `node-${i % 300}`, { i }, 1000 + i / 10, closed),
  ).filter(Boolean).length;
  assert.equal(admitted, 5);
  assert.equal(budget.admit('other kind', 'n', {}, 2000, closed), true, 'each kind has its own budget');
  budget.flush(10_999, closed);
  assert.deepEqual(summaries, [], 'the window is not over yet');
  budget.flush(11_000, closed);
  assert.deepEqual(summaries, [
    { kind: 'xDS NACK', suppressed: 19_995, nodes: 300, windowMs: 10_000, last: { i: 19_999 } },
  ]);
  // A new window starts with a fresh budget; a window that logged everything in full says nothing more.
  assert.equal(budget.admit('xDS NACK', 'n', {}, 11_001, closed), true);
  budget.flush(Infinity, closed);
  assert.equal(summaries.length, 1);
  assert.equal(budget.pending, false);
});
