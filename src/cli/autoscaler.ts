// `gatehouse autoscaler`: the KPA autoscaler on its own, scaling local pods of the listed revisions.
import type { Command } from 'commander';

function endpoint(value: string, previous: Array<{ host: string; port: number }> = []) {
  const m = /^(.+):(\d+)$/.exec(value);
  if (!m) throw new Error(`--activator "${value}" is not host:port`);
  return [...previous, { host: m[1]!, port: Number(m[2]) }];
}

export function register(program: Command): void {
  program
    .command('autoscaler')
    .description("run Knative's KPA autoscaler alone: scale the revisions in a file as local pods")
    .requiredOption(
      '-f, --file <revisions.yaml>',
      'YAML with a "revisions:" list (name, containerConcurrency, annotations, container.command)',
    )
    .option('--stats-port <port>', 'websocket port activators push WireStatMessages to', '8080')
    .option('--metrics-port <port>', 'Prometheus metrics (/metrics) and JSON status (/status)', '9095')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option(
      '--activator <host:port>',
      'an activator whose answer confirms proxy mode before scaling to zero (repeatable)',
      endpoint,
    )
    .option('--tick-ms <ms>', 'decision period', '1000')
    .option('--drain-quiet-seconds <s>', "queue-proxies' quiet period when a pod stops", '30')
    .action(
      async (opts: {
        file: string;
        statsPort: string;
        metricsPort: string;
        host: string;
        activator?: Array<{ host: string; port: number }>;
        tickMs: string;
        drainQuietSeconds: string;
      }) => {
        const { createLogger } = await import('../log/logger.js');
        const { runStandaloneAutoscaler } = await import('../autoscaler/standalone.js');
        const log = createLogger('autoscaler');
        let running;
        try {
          running = await runStandaloneAutoscaler({
            file: opts.file,
            statsPort: Number(opts.statsPort),
            metricsPort: Number(opts.metricsPort),
            host: opts.host,
            activators: opts.activator ?? [],
            tickMs: Number(opts.tickMs),
            drainQuietSeconds: Number(opts.drainQuietSeconds),
            log,
          });
        } catch (err) {
          process.stderr.write(`gatehouse autoscaler: ${(err as Error).message}\n`);
          process.exit(2);
        }
        const stop = () => void running.close().then(() => process.exit(0));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );
}
