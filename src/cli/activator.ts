// `gatehouse activator`: buffers and load-balances requests for revisions learnt over xDS.
import { Option, type Command } from 'commander';
import { wholeNumberArg } from './args.js';
import { addXdsClientFlags, checkedFlags, xdsClientTls, type XdsClientFlags } from './xds-options.js';

export function register(program: Command): void {
  const command = program
    .command('activator')
    .description(
      'run the activator: hold requests for revisions at zero, ' +
        'spread them over ready pods, push load to the autoscaler',
    )
    .requiredOption('--xds <host:port>', 'the gatehouse xDS server (revisions come from its private clusters)')
    .option('--port <port>', 'HTTP port (Knative: 8012; 0 = any free port)', '8012')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--node-id <id>', 'xDS node id', 'activator-0')
    .option('--autoscaler <url>', "the autoscaler's stat websocket, e.g. ws://127.0.0.1:8080")
    .option('--index <n>', "this activator's index among the replicas, for pod subsetting", '0')
    .option('--replicas <n>', 'how many activators share the pods', '1')
    .option('--metrics-port <port>', 'Prometheus metrics per revision', '9090')
    .option('--drain-quiet-seconds <s>', 'on SIGTERM, keep serving until this long passes without a request', '30')
    .addOption(
      new Option(
        '--max-queued-per-revision <n>',
        'requests that may wait for a pod per revision; beyond, 503 "pending request queue full" (Knative: 10000)',
      )
        .env('GATEHOUSE_ACTIVATOR_MAX_QUEUED_PER_REVISION')
        .argParser(wholeNumberArg(0, 10_000_000))
        .default(10_000),
    )
    .addOption(
      new Option('--max-queued <n>', 'requests that may wait for a pod in all revisions together; beyond, 503')
        .env('GATEHOUSE_ACTIVATOR_MAX_QUEUED')
        .argParser(wholeNumberArg(0, 10_000_000))
        .default(20_000),
    );
  addXdsClientFlags(command).action(
    async (
      opts: {
        xds: string;
        port: string;
        host: string;
        nodeId: string;
        autoscaler?: string;
        index: string;
        replicas: string;
        metricsPort: string;
        drainQuietSeconds: string;
        maxQueuedPerRevision: number;
        maxQueued: number;
      } & XdsClientFlags,
    ) => {
      const { createLogger } = await import('../log/logger.js');
      const { XdsRevisionSource } = await import('../activator/xds-source.js');
      const { startActivator } = await import('../activator/server.js');
      const { stopOnSignals } = await import('./stop-on-signals.js');
      const { ACTIVATOR_NODE_CLUSTER } = await import('../envoy/node-role.js');
      const tls = checkedFlags(command, () => xdsClientTls(opts));
      const log = createLogger('activator');
      const source = new XdsRevisionSource(opts.xds, { id: opts.nodeId, cluster: ACTIVATOR_NODE_CLUSTER }, log, tls);
      const activator = await startActivator({
        port: Number(opts.port),
        host: opts.host,
        source,
        ...(opts.autoscaler ? { autoscalerUrl: opts.autoscaler } : {}),
        index: Number(opts.index),
        replicas: Number(opts.replicas),
        name: opts.nodeId,
        metricsPort: Number(opts.metricsPort),
        maxQueuedPerRevision: opts.maxQueuedPerRevision,
        maxQueued: opts.maxQueued,
        log,
      });
      stopOnSignals(async () => {
        await activator.drain(Number(opts.drainQuietSeconds) * 1000);
        await activator.close();
        source.close();
      }, log);
    },
  );
}
