// `gatehouse queue`: the queue-proxy, configured by Knative's environment variables.
import type { Command } from 'commander';

const ENV_HELP = `
Environment (Knative's names and defaults):
  USER_PORT                                 the app's port on 127.0.0.1 (required)
  CONTAINER_CONCURRENCY                     max requests at the app at once; 0 = no limit (default 0)
  QUEUE_SERVING_PORT                        serving port (default 8012; 0 = any free port)
  QUEUE_SERVING_TLS_PORT                    TLS serving port with QUEUE_TLS_CERT_FILE and QUEUE_TLS_KEY_FILE (8112)
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
    .option(
      '--standby',
      'load and warm up everything, then read the environment as one JSON object on a line of stdin before starting ' +
        '(how `gatehouse up` keeps queue-proxies booted ahead of cold starts); exits if stdin closes first',
    )
    .action(async (opts: { standby?: boolean }) => {
      const { runQueueProcess } = await import('../queue/process.js');
      await runQueueProcess(opts.standby === true);
    });
}
