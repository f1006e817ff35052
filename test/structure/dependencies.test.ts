// What gatehouse needs at run time, held in place. The queue-proxy runs beside every pod: like
// Knative's nodeps test, its transitive imports stay free of gRPC, protobufjs and the xDS stack.
// And package.json's dependencies are exactly what src/ loads; benchmarks' and tests' tools are
// development dependencies (the image and `npm install --omit=dev` do without them).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { folderOf, moduleReferences, packageOf, sourceFiles, staticClosure } from '../support/import-graph.js';
import { packageRoot } from '../../src/package-root.js';

const root = packageRoot();
const src = path.join(root, 'src');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

test('gatehouse queue loads no gRPC, no protobufjs and nothing of xDS, Envoy or the other components', () => {
  // What `gatehouse queue` loads: the CLI's modules (each command imports its component lazily)
  // and what the queue command's action imports.
  const { files, packages } = staticClosure(
    ['cli/main.ts', 'queue/index.ts', 'queue/warm-up.ts', 'log/logger.ts'].map((f) => path.join(src, f)),
  );
  const allowed = ['commander', 'prom-client', 'undici'];
  const extra = [...packages]
    .filter(([name]) => !allowed.includes(name))
    .map(([name, by]) => `${name} (imported by ${path.relative(src, by)})`);
  assert.deepEqual(extra, [], `the queue-proxy's imports grew: ${extra.join(', ')}`);
  const folders = new Set([...files].map((f) => folderOf(src, f)));
  const foreign = [...folders].filter((f) => !['cli', 'http', 'log', 'model', 'queue', 'stats'].includes(f));
  assert.deepEqual(foreign, [], `the queue-proxy loads src/${foreign.join(', src/')}`);
});

/** Every package src/ names, with whether some file loads it as a module is loaded (not lazily) and where. */
function packagesOfSrc(): Map<string, { files: string[]; onlyLazy: boolean }> {
  const found = new Map<string, { files: string[]; onlyLazy: boolean }>();
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, 'utf8');
    const refs = moduleReferences(text).filter((r) => !r.typeOnly);
    // Packages found by path rather than imported (their protos, undici's internals).
    for (const m of text.matchAll(/require(?:\.resolve)?\(\s*'([^']+)'/g))
      refs.push({ specifier: m[1]!, typeOnly: false, dynamic: false });
    for (const ref of refs) {
      const name = packageOf(ref.specifier);
      if (name === undefined) continue;
      const entry = found.get(name) ?? { files: [], onlyLazy: true };
      entry.files.push(path.relative(src, file));
      entry.onlyLazy &&= ref.dynamic;
      found.set(name, entry);
    }
  }
  return found;
}

test("package.json's dependencies are what src/ loads; benchmarks' tools are development dependencies", () => {
  const used = packagesOfSrc();
  const runtime = Object.keys(pkg.dependencies);
  assert.deepEqual(
    runtime.filter((name) => !used.has(name)),
    [],
    'dependencies nothing in src/ uses',
  );
  const misplaced: string[] = [];
  for (const [name, { files, onlyLazy }] of used) {
    if (runtime.includes(name)) continue;
    // A development dependency may be loaded lazily by the benchmark command, which says what to install.
    const benchOnly = name in pkg.devDependencies && onlyLazy && files.every((f) => f.startsWith(`bench${path.sep}`));
    if (!benchOnly) misplaced.push(`${name} (${files.join(', ')})`);
  }
  assert.deepEqual(misplaced, [], 'src/ loads packages that are not runtime dependencies');
});
