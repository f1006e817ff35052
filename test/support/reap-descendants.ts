// Loaded into every test process by `npm test` (--import). When the runner stops a test file that
// ran past its timeout, it sends SIGTERM, and the file's after-hooks never run: without this, the
// processes it started (a `gatehouse up`'s pods and activators, apps, spawned CLIs) would outlive
// it, holding ports and memory for the rest of the suite. Linux only (it reads /proc).
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Every live descendant of `root`, parents before children. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const found: number[] = [];
  for (let i = -1, pid = root; i < found.length; pid = found[++i]!) found.push(...(children.get(pid) ?? []));
  return found;
}

if (existsSync('/proc/self/stat')) {
  process.once('SIGTERM', () => {
    for (const pid of descendants(process.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.exit(143);
  });
}
