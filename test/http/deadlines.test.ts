import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlineTicker, type Watched } from '../../src/http/deadlines.js';
import { until } from '../support/cli.js';

/** A watched entry that logs its name when ticked and answers what `then` returns. */
function entry(name: string, log: string[], then: () => boolean = () => true): Watched {
  return {
    tickerPrev: null,
    tickerNext: null,
    onTick() {
      log.push(name);
      return then();
    },
  };
}

/**
 * Resolves after the ticker's next tick has run: the marker goes to the front, so it is ticked first and the rest
 * of that tick runs before the promise's continuation. The ticker's interval is unref'd: a timer keeps the test up.
 */
function nextTick(ticker: DeadlineTicker): Promise<void> {
  const keepAlive = setInterval(() => {}, 1000);
  return new Promise((resolve) => {
    const marker: Watched = {
      tickerPrev: null,
      tickerNext: null,
      onTick: () => {
        clearInterval(keepAlive);
        resolve();
        return false;
      },
    };
    ticker.add(marker);
  });
}

test('add and delete are idempotent, and a removed entry keeps no link to the others', () => {
  const ticker = new DeadlineTicker(1000);
  const log: string[] = [];
  const [a, b, c] = [entry('a', log), entry('b', log), entry('c', log)];
  ticker.add(a);
  ticker.add(b);
  ticker.add(b);
  ticker.add(c);
  assert.equal(ticker.size, 3);
  ticker.delete(b);
  ticker.delete(b);
  assert.equal(ticker.size, 2);
  assert.deepEqual([b.tickerPrev, b.tickerNext], [null, null]);
  assert.equal(ticker.has(b), false);
  assert.equal(ticker.has(a) && ticker.has(c), true);
  // The list still joins the others: c (head) → a.
  assert.equal(c.tickerNext, a);
  assert.equal(a.tickerPrev, c);
  ticker.delete(c);
  ticker.delete(a);
  assert.equal(ticker.size, 0);
  assert.deepEqual([a.tickerPrev, a.tickerNext, c.tickerPrev, c.tickerNext], [null, null, null, null]);
  // Back in after leaving: the same object can be watched again.
  ticker.add(a);
  assert.equal(ticker.has(a), true);
  ticker.delete(a);
});

test('a tick calls every entry once, and drops those that answer false', { timeout: 10_000 }, async () => {
  const ticker = new DeadlineTicker(1);
  const log: string[] = [];
  let rounds = 0;
  const once = entry('once', log, () => false);
  const twice = entry('twice', log, () => ++rounds < 2);
  ticker.add(once);
  ticker.add(twice);
  await nextTick(ticker);
  assert.deepEqual(log.sort(), ['once', 'twice']);
  assert.equal(ticker.has(once), false);
  await nextTick(ticker);
  assert.deepEqual(log.sort(), ['once', 'twice', 'twice']);
  assert.equal(ticker.size, 0);
});

test(
  'an entry removed by another during a tick is not called; one added meanwhile is called next tick',
  { timeout: 10_000 },
  async () => {
    const ticker = new DeadlineTicker(1);
    const log: string[] = [];
    const victim = entry('victim', log);
    const late = entry('late', log);
    // Added first, so ticked after the killer (new entries go to the front).
    ticker.add(victim);
    const killer = entry('killer', log, () => {
      ticker.delete(victim);
      ticker.add(late);
      return false;
    });
    ticker.add(killer);
    await nextTick(ticker);
    assert.deepEqual(log, ['killer']);
    assert.equal(ticker.has(victim), false);
    await nextTick(ticker);
    assert.deepEqual(log, ['killer', 'late']);
    ticker.delete(late);
    assert.equal(ticker.size, 0);
  },
);

test(
  'an entry removed and added again during a tick stays watched; the ticker starts again after going idle',
  { timeout: 10_000 },
  async () => {
    const ticker = new DeadlineTicker(1);
    const log: string[] = [];
    const back = entry('back', log, () => false);
    ticker.add(back);
    ticker.add(
      entry('mover', log, () => {
        ticker.delete(back);
        ticker.add(back);
        return false;
      }),
    );
    await nextTick(ticker);
    // Re-added during the tick, so called in it (it is in the copy and present) and dropped by its own answer.
    assert.deepEqual(log, ['mover', 'back']);
    assert.equal(ticker.size, 0);
    // The next tick finds nothing and stops the timer; an entry added after that starts it again.
    await until(() => !ticker.ticking, 'an idle tick to stop the timer', 5000);
    const later = entry('later', log, () => false);
    ticker.add(later);
    await nextTick(ticker);
    assert.deepEqual(log, ['mover', 'back', 'later']);
    assert.equal(ticker.size, 0);
  },
);
