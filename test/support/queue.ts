// Starts a real `gatehouse queue` process on ephemeral loopback ports and waits for its listening line.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { LOOPBACK_FREE_PORTS } from '../../src/model/queue-proxy.js';
import { packagePath } from '../../src/package-root.js';

export const gatehouseBin = packagePath('bin', 'gatehouse.js');

export interface RunningQueue {
  servingPort: number;
  /** Set when QUEUE_TLS_CERT_FILE and QUEUE_TLS_KEY_FILE are. */
  tlsPort: number | undefined;
  adminPort: number;
  metricsPort: number;
  userMetricsPort: number;
  process: ChildProcess;
  logs: string[];
  url(path?: string): string;
  exited(): Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * With `standby`, the queue-proxy boots with --standby and gets its environment on stdin, as `gatehouse up` starts it.
 */
export async function startQueue(
  userPort: number,
  env: Record<string, string> = {},
  standby = false,
): Promise<RunningQueue> {
  const knativeEnv: Record<string, string> = {
    USER_PORT: String(userPort),
    ...LOOPBACK_FREE_PORTS,
    SERVING_POD: 'test-pod',
    SERVING_REVISION: 'test-00001',
    SERVING_NAMESPACE: 'default',
    ...env,
  };
  const child = spawn(process.execPath, [gatehouseBin, 'queue', ...(standby ? ['--standby'] : [])], {
    env: standby ? process.env : { ...process.env, ...knativeEnv },
    stdio: [standby ? 'pipe' : 'ignore', 'ignore', 'pipe'],
  });
  if (standby) child.stdin!.end(JSON.stringify(knativeEnv) + '\n');
  const logs: string[] = [];
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  const lines = createInterface({ input: child.stderr! });
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    void exit.then((code) => reject(new Error(`gatehouse queue exited with ${code}: ${logs.join('\n')}`)));
    lines.on('line', (line) => {
      logs.push(line);
      try {
        const record = JSON.parse(line) as Record<string, unknown>;
        if (record.msg === 'queue-proxy listening') resolve(record as Record<string, number>);
      } catch {
        // not JSON
      }
    });
  });
  return {
    servingPort: ports.servingPort!,
    tlsPort: ports.tlsPort,
    adminPort: ports.adminPort!,
    metricsPort: ports.metricsPort!,
    userMetricsPort: ports.userMetricsPort!,
    process: child,
    logs,
    url: (path = '/') => `http://127.0.0.1:${ports.servingPort}${path}`,
    exited: () => exit,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };
}
