// Files that ship beside the code (protos/, bin/, examples/) are found from the package root, so
// the same lookup works whether a module runs from src/ through tsx or from the dist/ build.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The folder holding gatehouse's package.json and bin/gatehouse.js. */
export function packageRoot(): string {
  if (root) return root;
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'bin', 'gatehouse.js')))
      return (root = dir);
    if (path.dirname(dir) === dir)
      throw new Error(`cannot find gatehouse's package root above ${fileURLToPath(import.meta.url)}`);
  }
}

export function packagePath(...segments: string[]): string {
  return path.join(packageRoot(), ...segments);
}

let built: boolean | undefined;

/**
 * Whether dist/ holds a build at least as new as every TypeScript file under src/ (the check
 * bin/gatehouse.js makes), so a child process may start from the build when this one runs from
 * source through tsx: compiling on the fly costs every child about a second of CPU.
 */
export function buildIsCurrent(): boolean {
  if (built !== undefined) return built;
  const current = (dir: string): boolean =>
    readdirSync(packagePath(dir), { withFileTypes: true }).every((entry) => {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) return current(rel);
      if (!entry.name.endsWith('.ts')) return true;
      const compiled = packagePath('dist', rel.slice(0, -3) + '.js');
      return existsSync(compiled) && statSync(compiled).mtimeMs >= statSync(packagePath(rel)).mtimeMs;
    });
  return (built = current('src'));
}
