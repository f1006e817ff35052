// The folders of src/ form layers: no folder imports, directly or around a circle, one that
// imports it back. A cycle fails the test with the folders and a file import for each step.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { fileEdges, folderCycles, folderOf, sourceFiles, specifiers } from '../support/import-graph.js';
import { packagePath } from '../../src/package-root.js';

const src = packagePath('src');

test('no import cycle between the folders of src/', () => {
  const cycles = folderCycles(src, fileEdges(src));
  assert.deepEqual(cycles, [], `import cycles between folders:\n  ${cycles.join('\n  ')}`);
});

/** What each folder's files import, as folder names (within src/) and package names. */
function importsOf(folder: string): Set<string> {
  const names = new Set<string>();
  for (const file of sourceFiles(path.join(src, folder))) {
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      names.add(spec.startsWith('.') ? folderOf(src, path.resolve(path.dirname(file), spec)) : spec);
    }
  }
  names.delete(folder);
  return names;
}

test("Envoy's model sits below both its producers and the xDS server: xds knows no Knative, translate no gRPC", () => {
  const allowed = (folder: string, names: string[]) => {
    const extra = [...importsOf(folder)].filter((name) => !name.startsWith('node:') && !names.includes(name));
    assert.deepEqual(extra, [], `${folder}/ imports ${extra.join(', ')}`);
  };
  allowed('envoy', ['protobufjs']);
  allowed('xds', ['envoy', 'log', '@grpc/grpc-js', 'protobufjs']);
  allowed('translate', ['envoy', 'model']);
});

test('the specifier reader sees every form of import and export', () => {
  const text = [
    "import a from './a.js';",
    "import type { B } from '../b/b.js';",
    "import { c,\n  d } from './c.js';",
    "export { e } from './e.js';",
    "export * from './f.js';",
    "import './g.js';",
    "const h = await import('../h/h.js');",
    "// a word like important or exported is no import: 'x'",
  ].join('\n');
  assert.deepEqual(specifiers(text), ['./a.js', '../b/b.js', './c.js', './e.js', './f.js', './g.js', '../h/h.js']);
});

test('a cycle is reported with the folders and the file imports that close it', () => {
  const root = '/r';
  const edges = [
    { from: '/r/a/x.ts', to: '/r/b/y.ts' },
    { from: '/r/b/y.ts', to: '/r/c/z.ts' },
    { from: '/r/c/z.ts', to: '/r/a/w.ts' },
    { from: '/r/d/q.ts', to: '/r/a/x.ts' },
  ];
  assert.deepEqual(folderCycles(root, edges), [
    'a → b (a/x.ts imports b/y.ts), b → c (b/y.ts imports c/z.ts), c → a (c/z.ts imports a/w.ts)',
  ]);
  assert.deepEqual(folderCycles(root, edges.slice(0, 2)), []);
});
