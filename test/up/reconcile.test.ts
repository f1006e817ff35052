// gatehouse up's reconcile decisions, table by table, as Knative's reconciler tests are written:
// a named case, what was observed, what must be decided.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteExpectation } from '../../src/prober/prober.js';
import type { PodStatus } from '../../src/runtime/index.js';
import {
  confirmations,
  expectationChanges,
  planRevisions,
  revisionVerdict,
  routeExpectation,
  type RevisionVerdict,
} from '../../src/up/reconcile.js';
import { revision, route } from '../support/desired.js';

const pod = (phase: PodStatus['phase'], failure?: { exitCode: number; lastLines: string[] }): PodStatus => ({
  name: 'p',
  revision: 'hello-00001',
  phase,
  serving: undefined,
  metrics: undefined,
  restarts: 0,
  lastFailure: failure && { process: 'app', signal: null, at: '2026-12-02T00:00:00Z', ...failure },
  reason: undefined,
  pids: { app: undefined, queueProxy: undefined },
});

test('revisionVerdict: Ready, Failed or still waiting', () => {
  const cases: Array<{
    name: string;
    pods: PodStatus[];
    scale?: { initialScale: number; minScale: number };
    want: RevisionVerdict;
  }> = [
    { name: 'no pod yet', pods: [], want: { kind: 'waiting' } },
    { name: 'a pod starting', pods: [pod('starting')], want: { kind: 'waiting' } },
    { name: 'one pod ready among several', pods: [pod('starting'), pod('ready')], want: { kind: 'ready' } },
    {
      name: 'initial and min scale 0: ready with no pod',
      pods: [],
      scale: { initialScale: 0, minScale: 0 },
      want: { kind: 'ready' },
    },
    {
      name: 'initial scale 0 but min scale 1: waits',
      pods: [],
      scale: { initialScale: 0, minScale: 1 },
      want: { kind: 'waiting' },
    },
    {
      name: 'a crashed pod: failed, with the line that names the cause',
      pods: [pod('failed', { exitCode: 3, lastLines: ['missing DATABASE_URL', 'Node.js v20.19.0'] })],
      want: { kind: 'failed', reason: 'app exited (3): missing DATABASE_URL' },
    },
    {
      name: 'a ready pod outweighs a crashed one',
      pods: [pod('failed', { exitCode: 1, lastLines: ['boom'] }), pod('ready')],
      want: { kind: 'ready' },
    },
  ];
  for (const c of cases)
    assert.deepEqual(revisionVerdict(c.pods, c.scale ?? { initialScale: 1, minScale: 0 }), c.want, c.name);
});

test('planRevisions: active revisions run, new ones are watched, the others retire', () => {
  const a1 = revision('a-00001');
  const a2 = revision('a-00002');
  const b1 = revision('b-00001');
  const cases: Array<{ name: string; active: (typeof a1)[]; watched: string[]; watch: string[]; retire: string[] }> = [
    { name: 'first sync: everything new', active: [a1, b1], watched: [], watch: ['a-00001', 'b-00001'], retire: [] },
    {
      name: 'nothing changed',
      active: [a1, b1],
      watched: ['default/a-00001', 'default/b-00001'],
      watch: [],
      retire: [],
    },
    {
      name: 'a rollout: the new revision joins, the old one stays while routed',
      active: [a1, a2],
      watched: ['default/a-00001'],
      watch: ['a-00002'],
      retire: [],
    },
    {
      name: 'the rollout done: the old revision retires',
      active: [a2],
      watched: ['default/a-00001', 'default/a-00002'],
      watch: [],
      retire: ['default/a-00001'],
    },
    {
      name: 'a service deleted: all of its revisions retire',
      active: [],
      watched: ['default/b-00001'],
      watch: [],
      retire: ['default/b-00001'],
    },
  ];
  for (const c of cases) {
    const plan = planRevisions(c.active, new Set(c.watched));
    assert.deepEqual(plan.run, c.active, c.name);
    assert.deepEqual(
      plan.watch.map((r) => r.name),
      c.watch,
      c.name,
    );
    assert.deepEqual(plan.retire, c.retire, c.name);
  }
});

test('routeExpectation: the hash on every external host and one local host per virtual host', () => {
  const r = route('hello', [
    { revisionName: 'hello-00001', percent: 100 },
    { revisionName: 'hello-00002', percent: 0, tag: 'canary' },
  ]);
  assert.deepEqual(routeExpectation(r, 'h1', 'example.com'), {
    hash: 'h1',
    externalHosts: ['hello.default.example.com', 'canary-hello.default.example.com'],
    localHosts: ['hello.default.svc.cluster.local', 'canary-hello.default.svc.cluster.local'],
  });
  assert.deepEqual(
    routeExpectation(
      route('quiet', [{ revisionName: 'quiet-00001', percent: 100 }], 'cluster-local'),
      'h2',
      'example.com',
    ).externalHosts,
    [],
  );
});

test('expectationChanges: new hashes are expected, same hashes kept, routes gone or without a hash dropped', () => {
  const hello = route('hello', [{ revisionName: 'hello-00001', percent: 100 }]);
  const other = route('other', [{ revisionName: 'other-00001', percent: 100 }]);
  const current = new Map<string, RouteExpectation>([
    ['default/hello', routeExpectation(hello, 'old', 'example.com')],
    ['default/other', routeExpectation(other, 'same', 'example.com')],
  ]);
  const programmed: Record<string, { route: typeof hello; hash: string | undefined }> = {
    'default/hello': { route: hello, hash: 'new' },
    'default/other': { route: other, hash: 'same' },
    'default/pending': { route: route('pending', []), hash: undefined },
  };
  const cases: Array<{ name: string; changed: string[]; set: string[]; remove: string[] }> = [
    { name: 'a route whose hash moved', changed: ['default/hello'], set: ['default/hello'], remove: [] },
    { name: 'a route re-translated to the same hash', changed: ['default/other'], set: [], remove: [] },
    { name: 'a route removed', changed: ['default/gone'], set: [], remove: ['default/gone'] },
    { name: 'a route without a hash yet', changed: ['default/pending'], set: [], remove: ['default/pending'] },
    { name: 'nothing changed', changed: [], set: [], remove: [] },
  ];
  for (const c of cases) {
    const change = expectationChanges(c.changed, current, (key) => programmed[key], 'example.com');
    assert.deepEqual([...change.set.keys()], c.set, c.name);
    assert.deepEqual(change.remove, c.remove, c.name);
  }
  assert.equal(
    expectationChanges(['default/hello'], current, (key) => programmed[key], 'example.com').set.get('default/hello')!
      .hash,
    'new',
  );
});

test('confirmations: retiring revisions go only once every route is confirmed on every gateway', () => {
  const cases: Array<{
    name: string;
    unconfirmed: string[];
    /** The routes asked about (default: every unconfirmed one). */
    candidates?: string[];
    confirmed: string[];
    retiring: string[];
    still: string[];
    retire: string[];
  }> = [
    {
      name: 'all confirmed: the retiring revisions go',
      unconfirmed: ['default/a', 'default/b'],
      confirmed: ['default/a', 'default/b'],
      retiring: ['default/a-00001'],
      still: [],
      retire: ['default/a-00001'],
    },
    {
      name: 'one route still unconfirmed: nothing retires',
      unconfirmed: ['default/a', 'default/b'],
      confirmed: ['default/a'],
      retiring: ['default/a-00001'],
      still: ['default/b'],
      retire: [],
    },
    {
      name: 'all confirmed, nothing retiring',
      unconfirmed: ['default/a'],
      confirmed: ['default/a'],
      retiring: [],
      still: [],
      retire: [],
    },
    {
      name: 'only candidates are asked: a confirmed route not among them stays unconfirmed',
      unconfirmed: ['default/a', 'default/b'],
      candidates: ['default/a', 'default/c'],
      confirmed: ['default/a', 'default/b', 'default/c'],
      retiring: ['default/a-00001'],
      still: ['default/b'],
      retire: [],
    },
    {
      name: 'nothing was waiting',
      unconfirmed: [],
      confirmed: [],
      retiring: ['default/x-00001'],
      still: [],
      retire: ['default/x-00001'],
    },
  ];
  for (const c of cases) {
    const unconfirmed = new Set(c.unconfirmed);
    const verdict = confirmations(
      unconfirmed,
      c.candidates ?? c.unconfirmed,
      (key) => c.confirmed.includes(key),
      new Set(c.retiring),
    );
    for (const key of verdict.confirmedNow) unconfirmed.delete(key);
    assert.deepEqual([...unconfirmed], c.still, c.name);
    assert.equal(verdict.allConfirmed, c.still.length === 0, c.name);
    assert.deepEqual(verdict.retire, c.retire, c.name);
  }
});
