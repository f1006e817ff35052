// Starts the bundled example app on an ephemeral loopback port and waits until it listens.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const exampleAppPath = fileURLToPath(new URL('../../examples/app/server.mjs', import.meta.url));

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
  const lines = createInterface({ input: child.stdout! });
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
