// `gatehouse controller`: Knative's ingress implementation for a cluster (src/kube).
import type { Command } from 'commander';
import { addXdsServerFlags, xdsServerOptions, type XdsServerFlags } from './xds-options.js';

function serviceRef(value: string, flag: string): { namespace: string; name: string } {
  const parts = value.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new Error(`${flag} "${value}": expected namespace/name`);
  return { namespace: parts[0], name: parts[1] };
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} "${value}": expected a number ≥ 0`);
  return n;
}

interface Options extends XdsServerFlags {
  kubeconfig?: string;
  ingressClass: string;
  xdsPort: string;
  externalPort: string;
  localPort: string;
  httpsPort: string;
  listenAddress: string;
  gatewayService: string;
  localGatewayService: string;
  leaderElect: boolean;
  lease: string;
  identity?: string;
  leaseDuration: string;
  renewDeadline: string;
  retryPeriod: string;
  resync: string;
  clusterDomain: string;
}

export function register(program: Command): void {
  const command = program
    .command('controller')
    .description(
      "run as Knative's ingress in a cluster: watch KIngresses of this class, " +
        'serve the Envoy fleet over xDS, probe every gateway pod, write status',
    )
    .option('--kubeconfig <file>', 'kubeconfig file (default: the in-cluster service account)')
    .option(
      '--ingress-class <class>',
      'the networking.knative.dev/ingress.class this controller serves',
      'gatehouse.ingress.networking.knative.dev',
    )
    .option('--xds-port <port>', 'xDS (ADS) port', '18000')
    .option('--external-port <port>', 'port of the external listener on every gateway pod', '8080')
    .option('--local-port <port>', 'port of the cluster-local listener on every gateway pod', '8081')
    .option('--https-port <port>', 'port of the HTTPS listener (KIngress spec.tls) on every gateway pod', '8443')
    .option('--listen-address <address>', 'address the gateway listeners bind', '0.0.0.0')
    .option(
      '--gateway-service <ns/name>',
      'external gateway Service (its EndpointSlices are the fleet; named in publicLoadBalancer)',
      'gatehouse-system/gatehouse',
    )
    .option(
      '--local-gateway-service <ns/name>',
      'cluster-local gateway Service (named in privateLoadBalancer)',
      'gatehouse-system/gatehouse-internal',
    )
    .option(
      '--leader-elect',
      'elect one status writer among replicas through a Lease (every replica serves xDS)',
      false,
    )
    .option('--lease <ns/name>', 'the Lease used for leader election', 'gatehouse-system/gatehouse-controller')
    .option('--identity <id>', 'this replica in the Lease (default: $POD_NAME, else hostname-pid)')
    .option('--lease-duration <ms>', 'lease duration', '15000')
    .option('--renew-deadline <ms>', 'a leader that cannot renew this long steps down', '10000')
    .option('--retry-period <ms>', 'how often to renew or try to acquire', '2000')
    .option('--resync <ms>', 'reconcile every KIngress again this often (0 = never)', '600000')
    .option('--cluster-domain <domain>', 'cluster domain for load balancer names', 'cluster.local');
  // --xds-host (0.0.0.0 in a cluster), TLS and stream limits, as `gatehouse up` has them.
  addXdsServerFlags(command);
  command.action(async (opts: Options) => {
    const { createLogger } = await import('../log/logger.js');
    const { hostname } = await import('node:os');
    const { KubeApi, loadKubeConfig } = await import('../kube/client.js');
    const { startController } = await import('../kube/controller.js');
    const log = createLogger('controller');
    const lease = serviceRef(opts.lease, '--lease');
    const controller = await startController({
      api: new KubeApi(loadKubeConfig(opts.kubeconfig)),
      log,
      ingressClass: opts.ingressClass,
      listeners: {
        externalPort: positive(opts.externalPort, '--external-port'),
        localPort: positive(opts.localPort, '--local-port'),
        address: opts.listenAddress,
      },
      httpsPort: positive(opts.httpsPort, '--https-port'),
      externalGateway: serviceRef(opts.gatewayService, '--gateway-service'),
      localGateway: serviceRef(opts.localGatewayService, '--local-gateway-service'),
      xdsPort: positive(opts.xdsPort, '--xds-port'),
      xds: xdsServerOptions(opts),
      leaderElection: opts.leaderElect
        ? {
            ...lease,
            identity: opts.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
            leaseDurationMs: positive(opts.leaseDuration, '--lease-duration'),
            renewDeadlineMs: positive(opts.renewDeadline, '--renew-deadline'),
            retryPeriodMs: positive(opts.retryPeriod, '--retry-period'),
          }
        : undefined,
      resyncMs: positive(opts.resync, '--resync'),
      clusterDomain: opts.clusterDomain,
    });
    const stop = () => void controller.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
