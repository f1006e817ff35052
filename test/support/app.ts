// Starts the bundled example app on an ephemeral loopback port and waits until it listens.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { packagePath } from '../../src/package-root.js';

export const exampleAppPath = packagePath('examples', 'app', 'server.mjs');

export interface RunningApp {
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startExampleApp(env: Record<string, string> = {}): Promise<RunningApp> {
  const child = spawn(process.execPath, [exampleAppPath], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`example app exited with ${code} before listening`)));
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { port?: number };
        if (typeof parsed.port === 'number') resolve(parsed.port);
      } catch {
        // not a log line
      }
    });
  });
  return {
    port,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

/**
 * An app in this process that holds every request until released, so a test can wait for
 * requests to arrive (the event) instead of sleeping and hoping they did.
 */
export interface HeldApp {
  port: number;
  arrived(): number;
  /** Resolves once `n` requests in all have arrived; rejects after `timeoutMs`. */
  waitForArrivals(n: number, timeoutMs?: number): Promise<void>;
  /** Answers every held request (200 "released") and every later one at once. */
  release(): void;
  stop(): Promise<void>;
}

export async function startHeldApp(): Promise<HeldApp> {
  let arrivals = 0;
  let released = false;
  const held: http.ServerResponse[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = http.createServer((req, res) => {
    req.resume();
    arrivals++;
    for (const w of waiters.filter((w) => arrivals >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
    if (released) res.end('released');
    else held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    arrived: () => arrivals,
    waitForArrivals: (n, timeoutMs = 20_000) =>
      arrivals >= n
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`${arrivals} of ${n} requests reached the app within ${timeoutMs} ms`)),
              timeoutMs,
            );
            waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
          }),
    release() {
      released = true;
      for (const res of held.splice(0)) res.end('released');
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
