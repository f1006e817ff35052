// Files that ship beside the code (protos/, bin/, examples/) are found from the package root, so
// the same lookup works whether a module runs from src/ through tsx or from the dist/ build.
import { existsSync } from 'node:fs';
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
