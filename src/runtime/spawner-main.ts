// The pod spawner's own process (see spawner.ts): spawns what it is asked to, lowers each child's
// priority, sends back its pid, its pipes and its exit. Signals from a terminal's Ctrl-C reach
// it with the rest of the process group: it ignores them and leaves when told to stop (after the
// runtime has stopped the pods) or when its parent is gone; any child still running then is killed.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { lowerPriority } from './priority.js';
import type { SpawnReply, SpawnRequest } from './spawner.js';

const children = new Set<ChildProcess>();
// A child's pipes are net.Sockets (over pipes), which IPC can hand over.
const reply = (message: SpawnReply, pipe?: unknown) => process.connected && process.send!(message, pipe as Socket);

process.on('message', (r: SpawnRequest | { stop: true }) => {
  if ('stop' in r) return stop();
  const child = spawn(r.file, r.args, {
    cwd: r.cwd,
    env: r.env,
    stdio: [r.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  child.once('error', (err: NodeJS.ErrnoException) => reply({ id: r.id, error: err.message, code: err.code }));
  if (child.pid === undefined) return; // the error follows
  children.add(child);
  reply({ id: r.id, pid: child.pid, priorityError: lowerPriority(child.pid, r.niceness) });
  if (child.stdin) reply({ id: r.id, stream: 'stdin' }, child.stdin);
  reply({ id: r.id, stream: 'stdout' }, child.stdout);
  reply({ id: r.id, stream: 'stderr' }, child.stderr);
  child.once('exit', (exit, signal) => {
    children.delete(child);
    reply({ id: r.id, exit, signal });
  });
});

/** Kills what still runs, reaps it (an init may not), and leaves. */
function stop(): void {
  if (children.size === 0) process.exit(0);
  for (const child of children) child.once('exit', () => children.size === 0 && process.exit(0)).kill('SIGKILL');
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});
// Told to stop; or the parent is gone (its channel closed, or this process was handed to another parent).
process.once('disconnect', stop);
const parent = process.ppid;
setInterval(() => process.ppid !== parent && stop(), 1000).unref();
