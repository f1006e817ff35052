// What a crashed pod's output says about why it stopped, in one line: the error it threw, not
// Node's version banner, a stack frame or the source excerpt Node prints above the error.
import type { PodFailure } from '../runtime/index.js';

const NOISE = [
  /^Node\.js v\d+\.\d+\.\d+$/, // the banner Node prints last
  /^\s+at\s/, // stack frames
  /^\s*\^+$/, // the caret under the source excerpt
  /^(node:|file:\/\/|\/)\S*:\d+$/, // "node:internal/modules/cjs/loader:1228": where the excerpt comes from
  /^\s*[{}[\]]$/, // an error's own properties, printed as an object
  /^\s+\w+: /, // ... one per indented line: code: 'MODULE_NOT_FOUND'
  /^\s+throw\b/, // the excerpt itself, most often `  throw err;`
];
const ERROR_LINE = /^(Uncaught )?([A-Z]\w*)?(Error|Exception)\b.*:/;

/** The line that names the cause: an error's first line if any, else the last line that is not noise. */
export function causeLine(lines: readonly string[]): string {
  const meaningful = lines.filter((l) => l.trim() !== '' && !NOISE.some((n) => n.test(l))).map((l) => l.trim());
  return meaningful.find((l) => ERROR_LINE.test(l)) ?? meaningful.at(-1) ?? '(no output)';
}

/** "app exited (1): Error: Cannot find module '/srv/app.mjs'" */
export function describeFailure(f: PodFailure): string {
  return `${f.process} exited (${f.exitCode ?? f.signal}): ${causeLine(f.lastLines)}`;
}
