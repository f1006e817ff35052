// `npm run example`: the bundled example app behind gatehouse's queue-proxy on :8012 (QUEUE_SERVING_PORT
// to move it). Ctrl-C drains the queue-proxy and stops both.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../src/log/logger.js';

const log = createLogger('example');
const appPath = fileURLToPath(new URL('./app/server.mjs', import.meta.url));
const bin = fileURLToPath(new URL('../bin/gatehouse.js', import.meta.url));

const app = spawn(process.execPath, [appPath], {
  env: { ...process.env, PORT: '0', K_REVISION: 'hello-00001' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const appPort = await new Promise<number>((resolve, reject) => {
  app.once('exit', (code) => reject(new Error(`the example app exited with ${code}`)));
  createInterface({ input: app.stdout! }).on('line', (line) => {
    const port = (JSON.parse(line) as { port?: number }).port;
    if (port !== undefined) resolve(port);
  });
});

const queue = spawn(process.execPath, [bin, 'queue'], {
  env: {
    QUEUE_SERVING_PORT: '8012',
    QUEUE_ADMIN_PORT: '0',
    QUEUE_METRICS_PORT: '0',
    QUEUE_USER_METRICS_PORT: '0',
    CONTAINER_CONCURRENCY: '10',
    QUEUE_DRAIN_QUIET_SECONDS: '1',
    SERVING_NAMESPACE: 'default',
    SERVING_REVISION: 'hello-00001',
    SERVING_POD: 'hello-00001-local',
    ...process.env,
    USER_PORT: String(appPort),
  },
  stdio: ['ignore', 'inherit', 'pipe'],
});
createInterface({ input: queue.stderr! }).on('line', (line) => {
  process.stderr.write(line + '\n');
  const record = JSON.parse(line) as { msg?: string; servingPort?: number; metricsPort?: number };
  if (record.msg === 'queue-proxy listening') {
    process.stdout.write(
      `\nready: curl http://127.0.0.1:${record.servingPort}/        (app on ` +
        `:${appPort}, CONTAINER_CONCURRENCY=${process.env.CONTAINER_CONCURRENCY ?? 10})\n` +
        `       curl http://127.0.0.1:${record.metricsPort}/metrics  (autoscaler stats)\nCtrl-C stops both.\n\n`,
    );
  }
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  log.info('stopping: draining the queue-proxy');
  queue.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
queue.once('exit', (code) => {
  app.kill('SIGTERM');
  process.exitCode = code ?? 0;
});
