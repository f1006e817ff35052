// How a child Node process runs one of gatehouse's entry files: compiled when this code runs
// compiled (from dist/) or the build is current, else the TypeScript through tsx, so a fresh edit
// is what runs. Compiling on the fly costs each child about a second of CPU.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildIsCurrent, packagePath } from '../package-root.js';

/** Node's arguments for src/<folder>/<name>: flags first, the file last. `moduleUrl` is the caller's. */
export function nodeEntryArgs(folder: string, name: string, moduleUrl: string): string[] {
  const here = fileURLToPath(moduleUrl);
  const entry = path.join(path.dirname(here), '..', folder, `${name}${path.extname(here)}`);
  if (here.endsWith('.js')) return [entry];
  if (buildIsCurrent()) return [packagePath('dist', 'src', folder, `${name}.js`)];
  return ['--import', pathToFileURL(createRequire(moduleUrl).resolve('tsx')).href, entry];
}
