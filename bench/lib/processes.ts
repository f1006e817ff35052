// The proxies of this checkout as processes of their own for benchmarks, each started on free
// loopback ports and resolved once it serves; every child is remembered so `stopAll` ends them.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LISTENING_MESSAGE, LOOPBACK_FREE_PORTS, QUEUE_NODE_FLAGS } from '../../src/model/queue-proxy.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

export interface Started {
  port: number;
  pid: number;
}

const children: ChildProcess[] = [];

/** Ends every child started here (SIGKILL) and waits for them. */
export async function stopAll(): Promise<void> {
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const child of running) child.kill('SIGKILL');
  await Promise.all(running.map((c) => once(c, 'exit')));
}

/** Adopts a child started elsewhere, so stopAll ends it too. */
export function adopt(child: ChildProcess): ChildProcess {
  children.push(child);
  return child;
}

function firstPort(
  child: ChildProcess,
  stream: NodeJS.ReadableStream,
  what: string,
  pick: (line: string) => number | undefined,
): Promise<Started> {
  adopt(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code} before serving`)));
    createInterface({ input: stream }).on('line', (line) => {
      let port: number | undefined;
      try {
        port = pick(line);
      } catch {
        // not JSON
      }
      if (port !== undefined) resolve({ port, pid: child.pid! });
    });
  });
}

export interface StartOptions {
  /** The gatehouse checkout whose code runs (default: this one). */
  root?: string;
  /** More environment. */
  env?: Record<string, string>;
  /** Node's own flags (default: the queue-proxy's, QUEUE_NODE_FLAGS). */
  flags?: readonly string[];
}

/** `gatehouse queue` (from dist/ when the build is current) in front of the app. */
export function startQueueProcess(userPort: number, o: StartOptions = {}): Promise<Started> {
  const { root: checkout = root, env = {}, flags = QUEUE_NODE_FLAGS } = o;
  const child = spawn(process.execPath, [...flags, path.join(checkout, 'bin', 'gatehouse.js'), 'queue'], {
    env: {
      ...process.env,
      USER_PORT: String(userPort),
      ...LOOPBACK_FREE_PORTS,
      SERVING_POD: 'bench-pod',
      SERVING_REVISION: 'bench-00001',
      SERVING_NAMESPACE: 'default',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return firstPort(child, child.stderr, 'gatehouse queue', (line) =>
    line.includes(LISTENING_MESSAGE) ? Number((JSON.parse(line) as { servingPort: number }).servingPort) : undefined,
  );
}

/** An activator, or a gateway with its own xDS server, of this checkout (bench/lib/exchange-host.ts). */
export function startHostProcess(
  role: 'activator' | 'gateway',
  upstreamPort: number,
  o: { root?: string; viaActivator?: boolean } = {},
): Promise<Started> {
  const checkout = o.root ?? root;
  const args = ['--import', 'tsx', path.join(here, 'exchange-host.ts'), checkout, role, String(upstreamPort)];
  if (o.viaActivator) args.push('via-activator');
  const child = spawn(process.execPath, args, { cwd: checkout, stdio: ['ignore', 'pipe', 'inherit'] });
  return firstPort(child, child.stdout, `${checkout}'s ${role}`, (line) => {
    const port = (JSON.parse(line) as { port?: unknown }).port;
    return typeof port === 'number' ? port : undefined;
  });
}
