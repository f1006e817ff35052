// The controller reports only the routes a change touched, so a sync costs what changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Controller } from '../../src/control/controller.js';
import { parseConfig, type ParseCache } from '../../src/config/load.js';
import { serviceYaml } from '../../src/bench/services.js';

const svc = (name: string, target = 'v1', extraSpec?: string) => serviceYaml(name, { target, appPath: 'app.mjs', ...(extraSpec ? { extraSpec } : {}) });
const names = (c: Controller) => {
  const { changed, removed } = c.routeChanges();
  return { changed: changed.map((r) => `${r.spec.name}:${r.unresolved === undefined ? r.spec.traffic.map((t) => t.revisionName).join('+') : 'unresolved'}`).sort(), removed };
};

test('routeChanges: new, edited and removed resources, and the routes a ready revision resolves; nothing twice', () => {
  const cache: ParseCache = new Map();
  const load = (text: string) => parseConfig(text, 'services.yaml', undefined, cache);
  const c = new Controller();
  c.apply(load(svc('a') + svc('b') + svc('c')));
  assert.deepEqual(names(c), { changed: ['a:unresolved', 'b:unresolved', 'c:unresolved'], removed: [] });
  assert.deepEqual(names(c), { changed: [], removed: [] }, 'reported once');
  assert.deepEqual(c.unreadyRevisions().map((r) => r.name).sort(), ['a-00001', 'b-00001', 'c-00001']);

  c.revisionReady('default', 'a-00001');
  assert.deepEqual(names(c), { changed: ['a:a-00001'], removed: [] }, 'only the route that reads it');
  assert.deepEqual(c.unreadyRevisions().map((r) => r.name).sort(), ['b-00001', 'c-00001']);
  c.revisionReady('default', 'a-00001');
  assert.deepEqual(names(c), { changed: [], removed: [] }, 'ready once');

  // The same text for a and c (the loader hands back the same objects); b edited; c gone.
  c.apply(load(svc('a') + svc('b', 'v2')));
  assert.deepEqual(names(c), { changed: ['b:unresolved'], removed: ['default/c'] });
  assert.deepEqual(c.unreadyRevisions().map((r) => r.name).sort(), ['b-00001', 'b-00002']);
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
