#!/usr/bin/env node
// Runs the compiled CLI from dist/ when it is up to date with src/ (`npm ci` builds it), which
// starts faster and uses less memory than compiling on the fly; otherwise runs the TypeScript
// through tsx, so a fresh edit is never shadowed by a stale build (a checkout has tsx among its
// development dependencies; an install without them runs the build).
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function builtIsCurrent(dir) {
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!builtIsCurrent(rel)) return false;
    } else if (entry.name.endsWith('.ts')) {
      let built;
      try {
        built = statSync(path.join(root, 'dist', rel.slice(0, -3) + '.js')).mtimeMs;
      } catch {
        return false;
      }
      if (statSync(path.join(root, rel)).mtimeMs > built) return false;
    }
  }
  return true;
}

if (builtIsCurrent('src')) {
  await import(pathToFileURL(path.join(root, 'dist/src/cli/main.js')).href);
} else {
  // tsx is a development dependency: only a checkout whose src/ is newer than its build needs it.
  const tsx = await import('tsx/esm/api').catch(() => {
    process.stderr.write(
      `gatehouse: dist/ is missing or older than src/ and tsx (a development ` +
        `dependency) is not installed; run \`npm run build\` in ${root}\n`,
    );
    process.exit(1);
  });
  tsx.register();
  await import(pathToFileURL(path.join(root, 'src/cli/main.ts')).href);
}
