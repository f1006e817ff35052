// The module graph of src/ as the source text spells it: every `import … from`, `export … from`,
// bare `import '…'` and `import('…')` with a literal specifier, type-only ones included (they tie
// folders together just as much). No TypeScript compiler needed: specifiers are plain strings.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const STATIC = String.raw`(?:\bimport|\bexport)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]`;
const DYNAMIC = String.raw`\bimport\(\s*['"]([^'"]+)['"]\s*\)`;
const SPECIFIER = new RegExp(`${STATIC}|${DYNAMIC}`, 'g');

/** The module specifiers one file's text names, in order of appearance. */
export function specifiers(text: string): string[] {
  return moduleReferences(text).map((r) => r.specifier);
}

export interface ModuleReference {
  specifier: string;
  /** import type / export type: erased by the compiler, loads nothing. */
  typeOnly: boolean;
  /** import('…'): loaded when that line runs, not with the module. */
  dynamic: boolean;
}

export function moduleReferences(text: string): ModuleReference[] {
  const found: ModuleReference[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const dynamic = match[2] !== undefined;
    found.push({
      specifier: (match[1] ?? match[2])!,
      dynamic,
      typeOnly: !dynamic && /^(import|export)\s+type\s/.test(match[0]),
    });
  }
  return found;
}

/** The package a bare specifier names (`@scope/name/deep` → `@scope/name`); undefined for relative and node: ones. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * What loading `entries` loads with them, following static imports that are not type-only (the
 * compiler erases those): the files and the packages they import.
 */
export function staticClosure(entries: readonly string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const ref of moduleReferences(readFileSync(file, 'utf8'))) {
      if (ref.typeOnly || ref.dynamic) continue;
      if (ref.specifier.startsWith('.')) pending.push(resolveRelative(file, ref.specifier));
      else {
        const name = packageOf(ref.specifier);
        if (name !== undefined && !packages.has(name)) packages.set(name, file);
      }
    }
  }
  return { files, packages };
}

export function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(full));
    else if (/\.(ts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(full);
  }
  return files.sort();
}

/** A relative specifier as the .ts file it names (ESM imports spell the compiled .js). */
export function resolveRelative(from: string, specifier: string): string {
  const target = path.resolve(path.dirname(from), specifier);
  return target.endsWith('.js') ? target.slice(0, -3) + '.ts' : target;
}

export interface ImportEdge {
  from: string;
  to: string;
}

/** Every relative import between files of `root` (absolute paths). */
export function fileEdges(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(root)) {
    for (const spec of specifiers(readFileSync(file, 'utf8')))
      if (spec.startsWith('.')) edges.push({ from: file, to: resolveRelative(file, spec) });
  }
  return edges;
}

/** The folder of src/ a file belongs to: its first path segment (a file at the top is its own). */
export function folderOf(root: string, file: string): string {
  return path.relative(root, file).split(path.sep)[0]!.replace(/\.ts$/, '');
}

/**
 * Cycles between folders: for each strongly connected set of two or more folders, one cycle
 * through it, each step with a file import that makes it. Empty when the folders form a DAG.
 */
export function folderCycles(root: string, edges: readonly ImportEdge[]): string[] {
  const witness = new Map<string, ImportEdge>();
  const next = new Map<string, Set<string>>();
  for (const edge of edges) {
    const a = folderOf(root, edge.from);
    const b = folderOf(root, edge.to);
    if (a === b || b.startsWith('..')) continue;
    if (!next.has(a)) next.set(a, new Set());
    next.get(a)!.add(b);
    if (!witness.has(`${a}>${b}`)) witness.set(`${a}>${b}`, edge);
  }
  const cycles: string[] = [];
  for (const component of stronglyConnected(next)) {
    if (component.length < 2) continue;
    const members = new Set(component);
    // Breadth-first from the first member back to itself, inside the component: a shortest cycle.
    const start = component.sort()[0]!;
    const parent = new Map<string, string>();
    const queue = [start];
    let closing: string | undefined;
    while (queue.length > 0 && closing === undefined) {
      const at = queue.shift()!;
      for (const to of [...(next.get(at) ?? [])].sort()) {
        if (!members.has(to)) continue;
        if (to === start) {
          closing = at;
          break;
        }
        if (!parent.has(to)) {
          parent.set(to, at);
          queue.push(to);
        }
      }
    }
    const path_: string[] = [start];
    for (let at = closing!; at !== start; at = parent.get(at)!) path_.splice(1, 0, at);
    path_.push(start);
    const steps = path_.slice(0, -1).map((a, i) => {
      const edge = witness.get(`${a}>${path_[i + 1]}`)!;
      return `${a} → ${path_[i + 1]} (${path.relative(root, edge.from)} imports ${path.relative(root, edge.to)})`;
    });
    cycles.push(steps.join(', '));
  }
  return cycles;
}

/** Tarjan's algorithm. */
function stronglyConnected(next: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const nodes = new Set<string>([...next.keys(), ...[...next.values()].flatMap((s) => [...s])]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      components.push(component);
    }
  };
  for (const v of [...nodes].sort()) if (!index.has(v)) visit(v);
  return components;
}
