// The queue-proxy as a process: its environment (from the process, or for a standby from one JSON
// line on stdin once everything is loaded and warmed up), the server, and SIGTERM/SIGINT as a
// drain. `gatehouse queue` runs it, and so does standby.ts, the lean entry `gatehouse up` spawns.
import { createInterface } from 'node:readline';
import { createLogger } from '../log/logger.js';
import { ConfigError, parseQueueEnv, type QueueConfig } from './config.js';
import { startQueueProxy } from './server.js';

/** `standby`: the environment comes on stdin; `warmUp`: first run the proxy path once (a spare booted ahead). */
export async function runQueueProcess(standby: boolean, warmUp = standby): Promise<void> {
  const log = createLogger('queue');
  let config: QueueConfig;
  try {
    if (warmUp) await (await import('./warm-up.js')).warmUp();
    const env = standby ? { ...process.env, ...(await environmentFromStdin()) } : process.env;
    config = parseQueueEnv(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error(err.message);
    process.stderr.write(`gatehouse queue: ${err.message}\n`);
    process.exit(2);
  }
  // A standby's command line says nothing of the pod it became; `ps` should.
  if (standby && config.revision !== '') process.title = `gatehouse queue ${config.namespace}/${config.revision}`;
  const proxy = await startQueueProxy(config, log);
  // SIGTERM, as Kubernetes stops a pod: Knative's drain, whose quiet period lets routing catch up.
  // SIGINT (Ctrl-C, or `gatehouse up` once its gateway and activators have closed): nothing routes
  // here any more, so only the requests in flight are waited for, even in a drain under way. Both
  // may come more than once (a Ctrl-C reaches the pods, then up signals them): each is one drain.
  const exit = () => process.exit(0);
  process.on('SIGTERM', () => void proxy.drain().then(exit));
  process.on('SIGINT', () => void proxy.drainNow().then(exit));
}

/** One line of stdin: a JSON object of string values. Exits quietly when stdin closes first. */
async function environmentFromStdin(): Promise<Record<string, string>> {
  const lines = createInterface({ input: process.stdin });
  const line = await new Promise<string | undefined>((resolve) => {
    lines.once('line', resolve);
    lines.once('close', () => resolve(undefined));
  });
  lines.close();
  if (line === undefined) process.exit(0);
  let env: unknown;
  try {
    env = JSON.parse(line);
  } catch (err) {
    throw new ConfigError(
      `--standby: stdin must carry one JSON object of environment variables; ${(err as Error).message}`,
    );
  }
  if (typeof env !== 'object' || env === null || Object.values(env).some((v) => typeof v !== 'string')) {
    throw new ConfigError(
      '--standby: stdin must carry one JSON object whose values are strings, e.g. {"USER_PORT":"8080"}',
    );
  }
  return env as Record<string, string>;
}
