// The xDS flags shared by commands: the server's bind address, limits and TLS (`gatehouse up`, and
// any command that runs the server), and the client side for commands that connect to one.
import type { Command } from 'commander';
import type { XdsClientTls } from '../xds/client/ads-client.js';
import type { StreamLimits, XdsServerTls } from '../xds/index.js';
import { numberArg, USAGE_EXIT_CODE, wholeNumberArg } from './args.js';

/** Flags that do not fit together: one line and the usage, exit 2, as for a bad value. */
export function checkedFlags<T>(command: Command, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    return command.error(`error: ${(err as Error).message}`, { exitCode: USAGE_EXIT_CODE });
  }
}

export interface XdsServerFlags {
  xdsHost: string;
  xdsMaxResourceNames: number;
  xdsMaxStreamsPerConnection: number;
  xdsStallTimeoutSeconds: number;
  xdsTlsCert?: string;
  xdsTlsKey?: string;
  xdsClientCa?: string;
}

export function addXdsServerFlags(command: Command): Command {
  return command
    .option('--xds-host <address>', 'address the xDS server listens on (beyond loopback, use TLS)', '127.0.0.1')
    .option('--xds-tls-cert <file>', 'PEM certificate chain: the xDS server speaks TLS (needs --xds-tls-key)')
    .option('--xds-tls-key <file>', 'PEM private key of --xds-tls-cert')
    .option(
      '--xds-client-ca <file>',
      'PEM CA bundle: require client certificates signed by it (mutual TLS); a ' +
        "node's node.id or node.cluster must be one of its certificate's DNS/URI SANs",
    )
    .option(
      '--xds-max-resource-names <n>',
      'resource names one xDS stream may subscribe to per type',
      wholeNumberArg(1, 10_000_000),
      50_000,
    )
    .option(
      '--xds-max-streams-per-connection <n>',
      'xDS streams one client connection may open',
      wholeNumberArg(1, 100_000),
      100,
    )
    .option(
      '--xds-stall-timeout-seconds <s>',
      'reset an xDS stream whose client has not read a response for this long',
      numberArg(0.1, 86_400),
      60,
    );
}

/** The server's TLS and limits from the flags; throws a message naming the flag when they do not fit. */
export function xdsServerOptions(f: XdsServerFlags): { host: string; tls?: XdsServerTls; limits: StreamLimits } {
  if ((f.xdsTlsCert === undefined) !== (f.xdsTlsKey === undefined))
    throw new Error('--xds-tls-cert and --xds-tls-key go together');
  if (f.xdsClientCa !== undefined && f.xdsTlsCert === undefined)
    throw new Error('--xds-client-ca needs --xds-tls-cert and --xds-tls-key (mutual TLS is TLS first)');
  const limits: StreamLimits = {
    maxNamesPerType: f.xdsMaxResourceNames,
    maxStreamsPerConnection: f.xdsMaxStreamsPerConnection,
    stallTimeoutMs: f.xdsStallTimeoutSeconds * 1000,
  };
  const tls =
    f.xdsTlsCert !== undefined
      ? { cert: f.xdsTlsCert, key: f.xdsTlsKey!, ...(f.xdsClientCa !== undefined ? { clientCa: f.xdsClientCa } : {}) }
      : undefined;
  return { host: f.xdsHost, limits, ...(tls ? { tls } : {}) };
}

export interface XdsClientFlags {
  xdsCa?: string;
  xdsCert?: string;
  xdsKey?: string;
}

export function addXdsClientFlags(command: Command): Command {
  return command
    .option('--xds-ca <file>', 'PEM CA bundle that signed the xDS server certificate: connect over TLS')
    .option(
      '--xds-cert <file>',
      'PEM client certificate for mutual TLS (its SAN names this node.id or node.cluster; needs --xds-key)',
    )
    .option('--xds-key <file>', 'PEM private key of --xds-cert');
}

export function xdsClientTls(f: XdsClientFlags): XdsClientTls | undefined {
  if ((f.xdsCert === undefined) !== (f.xdsKey === undefined)) throw new Error('--xds-cert and --xds-key go together');
  if (f.xdsCa === undefined) {
    if (f.xdsCert !== undefined)
      throw new Error('--xds-cert needs --xds-ca (a client certificate is only sent over TLS)');
    return undefined;
  }
  return { ca: f.xdsCa, ...(f.xdsCert !== undefined ? { cert: f.xdsCert, key: f.xdsKey! } : {}) };
}

/**
 * `gatehouse up` is server and client at once: its embedded gateway and activators need the client side of the TLS it
 * serves.
 */
export function upXdsOptions(f: XdsServerFlags & XdsClientFlags): {
  xds: ReturnType<typeof xdsServerOptions>;
  clientTls: XdsClientTls | undefined;
} {
  const xds = xdsServerOptions(f);
  const clientTls = xdsClientTls(f);
  if (xds.tls && !clientTls)
    throw new Error(
      'with --xds-tls-cert, pass --xds-ca (and with --xds-client-ca also --xds-cert ' +
        'and --xds-key) so the embedded gateway and the activators can connect',
    );
  if (xds.tls?.clientCa && !clientTls?.cert)
    throw new Error(
      'with --xds-client-ca, pass --xds-cert and --xds-key: the embedded gateway and the ' +
        'activators need a client certificate (SANs gatehouse-ingress and gatehouse-activators)',
    );
  return { xds, clientTls };
}
