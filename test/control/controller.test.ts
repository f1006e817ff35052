// The controller reports only the routes a change touched, so a sync costs what changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/control/controller.js';
import { parseConfig, type ParseCache } from '../../src/config/load.js';
import { serviceYaml } from '../../src/bench/services.js';

const svc = (name: string, target = 'v1', extraSpec?: string) =>
  serviceYaml(name, { target, appPath: 'app.mjs', ...(extraSpec ? { extraSpec } : {}) });
const names = (c: Controller) => {
  const { changed, removed } = c.routeChanges();
  const targets = (r: (typeof changed)[number]) =>
    r.unresolved === undefined ? r.spec.traffic.map((t) => t.revisionName).join('+') : 'unresolved';
  return { changed: changed.map((r) => `${r.spec.name}:${targets(r)}`).sort(), removed };
};

test('routeChanges: new, edited and removed resources, and the routes a ready revision resolves; nothing twice', () => {
  const cache: ParseCache = new Map();
  const load = (text: string) => parseConfig(text, 'services.yaml', undefined, cache);
  const c = new Controller();
  c.apply(load(svc('a') + svc('b') + svc('c')));
  assert.deepEqual(names(c), { changed: ['a:unresolved', 'b:unresolved', 'c:unresolved'], removed: [] });
  assert.deepEqual(names(c), { changed: [], removed: [] }, 'reported once');
  assert.deepEqual(
    c
      .unreadyRevisions()
      .map((r) => r.name)
      .sort(),
    ['a-00001', 'b-00001', 'c-00001'],
  );

  c.revisionReady('default', 'a-00001');
  assert.deepEqual(names(c), { changed: ['a:a-00001'], removed: [] }, 'only the route that reads it');
  assert.deepEqual(
    c
      .unreadyRevisions()
      .map((r) => r.name)
      .sort(),
    ['b-00001', 'c-00001'],
  );
  c.revisionReady('default', 'a-00001');
  assert.deepEqual(names(c), { changed: [], removed: [] }, 'ready once');

  // The same text for a and c (the loader hands back the same objects); b edited; c gone.
  c.apply(load(svc('a') + svc('b', 'v2')));
  assert.deepEqual(names(c), { changed: ['b:unresolved'], removed: ['default/c'] });
  assert.deepEqual(
    c
      .unreadyRevisions()
      .map((r) => r.name)
      .sort(),
    ['b-00001', 'b-00002'],
  );
  assert.equal(c.revision('default/b-00002')?.generation, 2);
  assert.equal(c.revision('default/c-00001'), undefined);

  // A route pinned to a revision by name reads that revision.
  const pinned = `  traffic:\n    - revisionName: pin-00001\n      percent: 100\n`;
  c.apply(load(svc('pin', 'v1', pinned) + svc('a') + svc('b', 'v2')));
  // (a document's cache key is its text and first line: a and b moved down, so they are parsed again, as equal objects)
  assert.deepEqual(names(c), { changed: ['a:a-00001', 'b:unresolved', 'pin:unresolved'], removed: [] });
  c.revisionReady('default', 'b-00002');
  assert.deepEqual(names(c), { changed: ['b:b-00002'], removed: [] });
  c.revisionReady('default', 'pin-00001');
  assert.deepEqual(names(c), { changed: ['pin:pin-00001'], removed: [] });
});

const load = (text: string) => parseConfig(text, 'services.yaml', undefined, new Map());
const split = (...targets: string[]) => `  traffic:\n${targets.map((t) => `    - ${t}\n`).join('')}`;
const unresolvedOf = (c: Controller, name: string) =>
  c.routeChanges().changed.find((r) => r.spec.name === name)?.unresolved;

test('route resolution: each way a target can be missing says which and why', () => {
  const cases: Array<{ name: string; yaml: string; before?: (c: Controller) => void; want: string | undefined }> = [
    {
      name: 'latest revision still starting',
      yaml: svc('a'),
      want: 'configuration "a" has no ready revision yet (waiting for a-00001)',
    },
    {
      name: 'latest revision failed: the failure is in the message',
      yaml: svc('a'),
      before: (c) => c.revisionFailed('default', 'a-00001', 'app exited (3): missing DATABASE_URL'),
      want: 'configuration "a" has no ready revision yet: a-00001 app exited (3): missing DATABASE_URL',
    },
    {
      name: 'a pinned revision not created yet',
      yaml: svc('a', 'v1', split('revisionName: a-00005\n      percent: 100')),
      want: 'revision "a-00005" does not exist',
    },
    {
      name: 'a pinned revision not ready yet',
      yaml: svc('a', 'v1', split('revisionName: a-00001\n      percent: 100')),
      want: 'revision "a-00001" is not ready yet',
    },
    {
      name: 'latest revision ready: resolved',
      yaml: svc('a'),
      before: (c) => c.revisionReady('default', 'a-00001'),
      want: undefined,
    },
  ];
  for (const k of cases) {
    const c = new Controller();
    c.apply(load(k.yaml));
    c.routeChanges();
    k.before?.(c);
    c.apply(load(k.yaml + '# re-read\n'));
    assert.equal(c.routes().find((r) => r.spec.name === 'a')!.unresolved, k.want, k.name);
  }
});

test('a split with a tag resolves latestRevision and the pinned revision side by side', () => {
  const c = new Controller();
  const yaml = svc(
    'a',
    'v1',
    split('revisionName: a-00001\n      percent: 40\n      tag: old', 'latestRevision: true\n      percent: 60'),
  );
  c.apply(load(yaml));
  c.revisionReady('default', 'a-00001');
  assert.equal(unresolvedOf(c, 'a'), undefined);
  assert.deepEqual(c.routes()[0]!.spec.traffic, [
    { revisionName: 'a-00001', percent: 40, tag: 'old' },
    { revisionName: 'a-00001', percent: 60 },
  ]);
});

test('activeRevisions: the revisions routes send to, and each configuration’s latest created', () => {
  const c = new Controller();
  c.apply(load(svc('a') + svc('b')));
  c.revisionReady('default', 'a-00001');
  c.apply(load(svc('a', 'v2') + svc('b')));
  const active = c.activeRevisions(c.routes().filter((r) => r.unresolved === undefined));
  assert.deepEqual(
    active.map((r) => r.name).sort(),
    ['a-00001', 'a-00002', 'b-00001'],
    'a-00001 routed, a-00002 and b-00001 latest',
  );
});

test('serviceStatus: Knative’s conditions for each stage of a service', () => {
  const c = new Controller();
  const resources = load(svc('a'));
  c.apply(resources);
  const service = resources.find((r) => r.kind === 'Service')!;
  const status = (confirmed: { ready: boolean; message?: string }) => {
    if (service.kind !== 'Service') throw new Error('not a service');
    return c.serviceStatus(service, c.routes()[0], confirmed).conditions;
  };
  const cases: Array<{
    name: string;
    step?: () => void;
    confirmed: { ready: boolean; message?: string };
    ready: object;
  }> = [
    {
      name: 'starting',
      confirmed: { ready: false },
      ready: {
        type: 'Ready',
        status: 'Unknown',
        reason: 'RevisionNotReady',
        message: 'Revision "a-00001" is starting',
      },
    },
    {
      name: 'failed',
      step: () => c.revisionFailed('default', 'a-00001', 'app exited (1): boom'),
      confirmed: { ready: false },
      ready: {
        type: 'Ready',
        status: 'False',
        reason: 'RevisionFailed',
        message: 'Revision "a-00001" failed: app exited (1): boom',
      },
    },
    {
      name: 'revision ready, gateways not yet serving it',
      step: () => c.revisionReady('default', 'a-00001'),
      confirmed: { ready: false, message: 'waiting for gw to serve hash abc' },
      ready: {
        type: 'Ready',
        status: 'Unknown',
        reason: 'IngressNotConfigured',
        message: 'waiting for gw to serve hash abc',
      },
    },
    { name: 'confirmed by every gateway', confirmed: { ready: true }, ready: { type: 'Ready', status: 'True' } },
  ];
  for (const k of cases) {
    k.step?.();
    c.routeChanges();
    assert.deepEqual(status(k.confirmed)[0], k.ready, k.name);
  }
});
