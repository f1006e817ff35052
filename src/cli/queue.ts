// `gatehouse queue`: the queue-proxy, configured by Knative's environment variables.
import type { Command } from 'commander';

const ENV_HELP = `
Environment (Knative's names and defaults):
  USER_PORT                                 the app's port on 127.0.0.1 (required)
  CONTAINER_CONCURRENCY                     max requests at the app at once; 0 = no limit (default 0)
  QUEUE_SERVING_PORT                        serving port (default 8012; 0 = any free port)
  QUEUE_SERVING_TLS_PORT                    TLS serving port when QUEUE_TLS_CERT_FILE and QUEUE_TLS_KEY_FILE are set (8112)
  QUEUE_ADMIN_PORT / QUEUE_METRICS_PORT / QUEUE_USER_METRICS_PORT   (8022 / 9090 / 9091)
  QUEUE_BIND_ADDRESS                        address to listen on (default: all interfaces)
  REVISION_TIMEOUT_SECONDS                  whole-request timeout (default 300)
  REVISION_RESPONSE_START_TIMEOUT_SECONDS   time allowed until the app starts its response (0 = none)
  REVISION_IDLE_TIMEOUT_SECONDS             time allowed without bytes either way (0 = none)
  SERVING_READINESS_PROBE                   Kubernetes probe JSON, e.g. {"tcpSocket":{"port":8080}}
  QUEUE_DRAIN_QUIET_SECONDS                 quiet period before shutting down on SIGTERM (default 30)
  SERVING_NAMESPACE, SERVING_CONFIGURATION, SERVING_REVISION, SERVING_POD, SERVING_POD_IP   labels`;

export function register(program: Command): void {
  program
    .command('queue')
    .description("run the queue-proxy in front of an app (Knative's sidecar): breaker, probes, timeouts, drain, stats")
    .addHelpText('after', ENV_HELP)
    .option('--standby', 'load and warm up everything, then read the environment as one JSON object on a line of stdin before starting (how `gatehouse up` keeps queue-proxies booted ahead of cold starts); exits if stdin closes first')
    .action(async (opts: { standby?: boolean }) => {
      const { createLogger } = await import('../log/logger.js');
      const { parseQueueEnv, startQueueProxy, ConfigError } = await import('../queue/index.js');
      const log = createLogger('queue');
      let config;
      try {
        if (opts.standby) await (await import('../queue/warm-up.js')).warmUp();
        const env = opts.standby ? { ...process.env, ...(await environmentFromStdin()) } : process.env;
        config = parseQueueEnv(env);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        log.error(err.message);
        process.stderr.write(`gatehouse queue: ${err.message}\n`);
        process.exit(2);
      }
      // A standby's command line says nothing of the pod it became; `ps` should.
      if (opts.standby && config.revision !== '') process.title = `gatehouse queue ${config.namespace}/${config.revision}`;
      const proxy = await startQueueProxy(config, log);
      const stop = () => {
        void proxy.drain().then(() => process.exit(0));
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}

/** One line of stdin: a JSON object of string values. Exits quietly when stdin closes first. */
async function environmentFromStdin(): Promise<Record<string, string>> {
  const { createInterface } = await import('node:readline');
  const { ConfigError } = await import('../queue/index.js');
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
    throw new ConfigError(`--standby: stdin must carry one JSON object of environment variables; ${(err as Error).message}`);
  }
  if (typeof env !== 'object' || env === null || Object.values(env).some((v) => typeof v !== 'string')) {
    throw new ConfigError('--standby: stdin must carry one JSON object whose values are strings, e.g. {"USER_PORT":"8080"}');
  }
  return env as Record<string, string>;
}
