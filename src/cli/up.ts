// `gatehouse up` and `gatehouse status`: the whole data plane on this machine from a file of
// Knative Services, and the view of what it is doing.
import os from 'node:os';
import { Option, type Command } from 'commander';
import { numberArg, portArg, wholeNumberArg } from './args.js';
import {
  addXdsClientFlags,
  addXdsServerFlags,
  checkedFlags,
  upXdsOptions,
  type XdsClientFlags,
  type XdsServerFlags,
} from './xds-options.js';

export function register(program: Command): void {
  const command = program
    .command('up')
    .description(
      'serve Knative Services from a YAML file: xDS server, embedded ' +
        'gateway, prober, activator, autoscaler and local pods',
    )
    .option(
      '-f, --file <services.yaml>',
      'Knative serving.knative.dev/v1 Services and Routes (default: the bundled example)',
    )
    .option('--gateway-port <port>', 'the gateway listener for external routes', portArg, 8080)
    .option('--local-gateway-port <port>', 'the gateway listener for cluster-local routes', portArg, 8081)
    .option('--xds-port <port>', 'the xDS server (Envoy: envoy/bootstrap.yaml)', portArg, 18000)
    .option('--admin-port <port>', 'loopback admin API (/status) that `gatehouse status` reads', portArg, 9000)
    .option('--domain <domain>', 'external hosts are {service}.{namespace}.{domain}', 'example.com')
    .option('--no-gateway', 'do not run the embedded gateway (put Envoy with envoy/bootstrap.yaml in front instead)')
    .option(
      '--drain-quiet-seconds <s>',
      "queue-proxies' quiet period when a pod is scaled down (Knative: 30); " +
        'when up stops, pods only finish what is in flight',
      numberArg(0, 3600),
      30,
    )
    .option('--tick-ms <ms>', 'autoscaler decision period (Knative: 2000)', numberArg(10, 60_000), 2000)
    .option(
      '--scale-to-zero-grace-seconds <s>',
      "config-autoscaler's scale-to-zero-grace-period (Knative: 30)",
      numberArg(0, 3600),
      30,
    )
    .option(
      '--max-booting-pods <n>',
      'local pods booting at once (more while cores sit idle, up to 4× this); the others wait their ' +
        'turn, so a burst never takes the cores from the data plane; defaults to the core count',
      wholeNumberArg(1, 1000),
      os.availableParallelism(),
    )
    .option(
      '--queue-standby <n>',
      'queue-proxies kept booted ahead of cold starts, so a pod that ' +
        'boots pays only for its app; defaults to --max-booting-pods',
      wholeNumberArg(0, 1000),
    )
    .option(
      '--pod-nice <n>',
      'niceness added for every local pod process; the data plane keeps its own',
      wholeNumberArg(0, 19),
      10,
    )
    .option(
      '--allow-zero-initial-scale',
      'config-autoscaler\'s allow-zero-initial-scale: revisions may start at zero pods (initial-scale "0")',
    )
    .addOption(
      new Option(
        '--routing <mode>',
        "scoped: a RouteConfiguration per route over SRDS (one route's change is " +
          'one small resource); single: one per listener, plain RDS (Envoy < 1.25)',
      )
        .choices(['scoped', 'single'])
        .default('scoped'),
    )
    .option(
      '--gateway-node <id>',
      'node.id of a gateway (e.g. Envoy) the prober waits on before a route is ' +
        'Ready; repeatable. Without it only mutual TLS makes other gateways count',
      (id: string, ids: string[]) => [...ids, id],
      [] as string[],
    );
  addXdsServerFlags(command);
  // The embedded gateway's and the activators' side of TLS.
  addXdsClientFlags(command);
  command.action(
    async (
      opts: {
        file?: string;
        gatewayPort: number;
        localGatewayPort: number;
        xdsPort: number;
        adminPort: number;
        domain: string;
        gateway: boolean;
        drainQuietSeconds: number;
        tickMs: number;
        scaleToZeroGraceSeconds: number;
        maxBootingPods: number;
        queueStandby?: number;
        podNice: number;
        allowZeroInitialScale?: boolean;
        gatewayNode: string[];
        routing: 'scoped' | 'single';
      } & XdsServerFlags &
        XdsClientFlags,
    ) => {
      const { createLogger, logFormat, setStatusLine } = await import('../log/logger.js');
      const { ConfigError } = await import('../config/load.js');
      const { startUp } = await import('../up/orchestrator.js');
      const { renderStatus } = await import('../up/status.js');
      const log = createLogger('up');
      const { packagePath } = await import('../package-root.js');
      const file = opts.file ?? packagePath('examples', 'services.yaml');
      const { xds, clientTls } = checkedFlags(command, () => upXdsOptions(opts));
      setStatusLine('starting: xDS server, activators, gateway and pods…');
      let up;
      try {
        up = await startUp({
          file,
          gatewayPort: opts.gatewayPort,
          localGatewayPort: opts.localGatewayPort,
          xdsPort: opts.xdsPort,
          xds,
          ...(clientTls ? { xdsClientTls: clientTls } : {}),
          gatewayNodes: opts.gatewayNode,
          adminPort: opts.adminPort,
          domain: opts.domain,
          embeddedGateway: opts.gateway,
          drainQuietSeconds: opts.drainQuietSeconds,
          tickMs: opts.tickMs,
          routing: opts.routing,
          maxBootingPods: opts.maxBootingPods,
          ...(opts.queueStandby !== undefined ? { queueStandby: opts.queueStandby } : {}),
          podNiceness: opts.podNice,
          autoscaler: {
            scaleToZeroGracePeriodMs: opts.scaleToZeroGraceSeconds * 1000,
            allowZeroInitialScale: opts.allowZeroInitialScale === true,
          },
          log,
        });
      } catch (err) {
        setStatusLine('');
        if (err instanceof ConfigError) {
          process.stderr.write(`${file}: ${err.message}\n`);
          process.exit(2);
        }
        process.stderr.write(`gatehouse up: ${(err as Error).message.split('\n').join('\n  ')}\n`);
        process.exit(1);
      }
      setStatusLine('');
      const say = (line: string) => process.stdout.write(line + '\n');
      say(`gatehouse up: ${file}`);
      say(
        `  xDS server       ` +
          `${opts.xdsHost}:${up.xdsPort}${opts.xdsClientCa ? ' (mutual TLS)' : opts.xdsTlsCert ? ' (TLS)' : ''}`,
      );
      if (up.gatewayPort !== undefined)
        say(
          `  gateway          127.0.0.1:${up.gatewayPort} (external), 127.0.0.1:${up.localGatewayPort} (cluster-local)`,
        );
      else say('  gateway          none embedded: start Envoy with envoy/bootstrap.yaml');
      say(`  activators       ${up.activatorPorts.map((p) => `127.0.0.1:${p}`).join(', ')}`);
      say(
        `  status page      http://127.0.0.1:${up.adminPort}/   (live; gatehouse status --admin-port ${up.adminPort})`,
      );
      // Progress: one live line on a terminal, a log record every 2 s otherwise.
      const live = logFormat() === 'text' && process.stderr.isTTY;
      const progress = setInterval(
        () => {
          const s = up.status();
          const ready = s.routes.filter((r) => r.ready).length;
          const waiting = s.routes.filter((r) => !r.ready).map((r) => `${r.namespace}/${r.name}: ${r.message ?? ''}`);
          if (!live) return log.info('waiting for routes to be Ready', { ready, routes: s.routes.length, waiting });
          const pods = s.revisions.reduce((n, r) => n + r.pods.ready, 0);
          const desired = s.revisions.reduce((n, r) => n + r.pods.desired, 0);
          const first = waiting[0] ? ` · ${waiting[0]}` : '';
          setStatusLine(
            `starting: ${ready}/${s.routes.length} routes Ready, ` +
              `${pods}/${desired} pods · ${process.uptime().toFixed(1)} s${first}`,
          );
        },
        live ? 200 : 2000,
      );
      up.whenReady(10 * 60_000).then(
        () => {
          clearInterval(progress);
          setStatusLine('');
          // Since the process was launched: loading the code counts too.
          say(`\nReady in ${process.uptime().toFixed(1)} s.\n`);
          process.stdout.write(renderStatus(up.status()));
          const first = up.status().services[0];
          if (first && up.gatewayPort !== undefined)
            say(`\nTry: curl -H 'Host: ${new URL(first.url).host}' http://127.0.0.1:${up.gatewayPort}/`);
        },
        (err: Error) => {
          clearInterval(progress);
          setStatusLine('');
          log.error('routes did not become Ready', { error: err.message });
        },
      );
      let stopping = false;
      const stop = () => {
        if (stopping) {
          log.warn('stopping now, without waiting for pods to drain');
          process.exit(130);
        }
        stopping = true;
        log.info(
          'stopping: closing the listeners, then waiting for the requests in flight; Ctrl-C again to stop at once',
        );
        void up.close().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
  );

  program
    .command('status')
    .description(
      'show services, revisions, traffic, pods, serving mode and gateway confirmations of a running `gatehouse up`',
    )
    .option('--admin-port <port>', 'the admin port of `gatehouse up`', portArg, 9000)
    .option('--json', 'print the JSON document the admin API serves')
    .addHelpText(
      'after',
      '\nExit status: 0 every service Ready, 1 no gatehouse up answers on the admin port, 2 bad arguments, ' +
        '3 something is not Ready, 4 the configuration file has an error (the last good one keeps serving).',
    )
    .action(async (opts: { adminPort: number; json?: boolean }) => {
      const { renderStatus, isUpStatus, statusExitCode, STATUS_EXIT } = await import('../up/status.js');
      const where = `127.0.0.1:${opts.adminPort}`;
      const unreachable = (why: string) => {
        process.stderr.write(
          `gatehouse status: ${why}\nIs \`gatehouse up\` running? ` +
            `Pass its --admin-port if it is not ${opts.adminPort}.\n`,
        );
        process.exit(STATUS_EXIT.unreachable);
      };
      let body: string;
      let statusCode: number;
      try {
        const res = await fetch(`http://${where}/status`, { signal: AbortSignal.timeout(5000) });
        statusCode = res.status;
        body = await res.text();
      } catch (err) {
        const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
        return unreachable(`cannot reach gatehouse up's admin API at ${where}: ${cause}`);
      }
      let status: unknown;
      try {
        status = JSON.parse(body);
      } catch {
        // not JSON: checked below
      }
      if (statusCode !== 200 || !isUpStatus(status)) {
        const { portHolder } = await import('../up/ports.js');
        const holder = portHolder(opts.adminPort);
        const who = holder ? ` (${holder})` : '';
        return unreachable(
          `something${who} answers at ${where}, but it is not gatehouse ` +
            `up's admin API: GET /status gave HTTP ${statusCode}`,
        );
      }
      process.stdout.write(opts.json ? body : renderStatus(status));
      process.exit(statusExitCode(status));
    });
}
