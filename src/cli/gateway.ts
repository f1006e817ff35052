// `gatehouse gateway`: the embedded gateway on its own, as an xDS client of a gatehouse control server.
import { Option, type Command } from 'commander';
import { numberArg, portArg } from './args.js';
import { addXdsClientFlags, checkedFlags, xdsClientTls, type XdsClientFlags } from './xds-options.js';

export function register(program: Command): void {
  const command = program
    .command('gateway')
    .description('run the embedded gateway: bind the Listeners the xDS server sends and proxy by their routes')
    .requiredOption('--xds <host:port>', 'the gatehouse xDS server')
    .option('--node-id <id>', 'xDS node id (unique per gateway)', 'gatehouse-gateway')
    .option('--node-cluster <name>', 'xDS node cluster (gateways the prober confirms share one)', 'gatehouse-ingress')
    .addOption(
      new Option(
        '--xds-api <api>',
        "xDS transport, as Envoy's api_type: delta (DELTA_GRPC, only changes are sent) or sotw (GRPC)",
      )
        .choices(['delta', 'sotw'])
        .default('delta'),
    )
    .option('--admin-port <port>', 'loopback admin port: /ready and /status (0 = any free port)', portArg, 9901)
    .option(
      '--drain-quiet-seconds <s>',
      'on SIGTERM or SIGINT: /ready answers 503 and the gateway keeps serving until this long passes ' +
        'without a new request, so that routing can stop sending here (Knative: 30)',
      numberArg(0, 3600),
      30,
    )
    .option(
      '--drain-seconds <s>',
      'then stop accepting and give requests in flight up to this long (the same signal again: exit at once)',
      numberArg(0, 3600),
      30,
    );
  addXdsClientFlags(command).action(
    async (
      opts: {
        xds: string;
        nodeId: string;
        nodeCluster: string;
        xdsApi: 'delta' | 'sotw';
        adminPort: number;
        drainQuietSeconds: number;
        drainSeconds: number;
      } & XdsClientFlags,
    ) => {
      const { createLogger } = await import('../log/logger.js');
      const { startGateway } = await import('../gateway/index.js');
      const { startGatewayAdmin } = await import('../gateway/admin.js');
      const { stopOnSignals } = await import('./stop-on-signals.js');
      const log = createLogger('gateway');
      const tls = checkedFlags(command, () => xdsClientTls(opts));
      const gateway = await startGateway({
        xds: opts.xds,
        nodeId: opts.nodeId,
        nodeCluster: opts.nodeCluster,
        protocol: opts.xdsApi,
        ...(tls ? { xdsTls: tls } : {}),
        log,
      });
      const admin = await startGatewayAdmin(gateway, opts.adminPort);
      log.info('gateway admin listening', { port: admin.port });
      stopOnSignals(async () => {
        await gateway.drain(opts.drainQuietSeconds * 1000);
        log.info('quiet period over: closing the listeners', { drainSeconds: opts.drainSeconds });
        await gateway.close(opts.drainSeconds * 1000);
        await admin.close();
      }, log);
    },
  );
}
