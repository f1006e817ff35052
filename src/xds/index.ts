// The gatehouse xDS control server.
//
//   const xds = await startXdsServer({ port: 18000 });     // port 0 → a free port; xds.port has it
//   startXdsServer({ port, host: '0.0.0.0', tls: { cert, key, clientCa } });  // mutual TLS, node bound to its
//   certificate
//   xds.cache.setTranslation(translate(state));            // default snapshot, pushed CDS→EDS→LDS→RDS
//   xds.cache.setTranslation(t, 'node-id');                // or a snapshot for one node (or cluster)
//   xds.status.on('ack' | 'nack', (e) => …);               // per-node ACK/NACK events
//   xds.status.list();                                     // per-node status for operators
//   await xds.close();
import * as grpc from '@grpc/grpc-js';
import { createLogger, type Logger } from '../log/logger.js';
import { NodeStatusRegistry } from './cache/node-status.js';
import { SnapshotCache } from './cache/snapshot-cache.js';
import { envoyRoot } from '../envoy/protos.js';
import { readPem } from './read-pem.js';
import { addXdsServices } from './server/grpc-server.js';
import { acceptAnyNode, certificateBoundNode } from './server/identity.js';
import { BudgetedWarnings } from './server/log-budget.js';
import { ConnectionStreams, DEFAULT_STREAM_LIMITS, type StreamLimits } from './server/stream-base.js';

export { SnapshotCache, DEFAULT_GROUP, PUSH_ORDER } from './cache/snapshot-cache.js';
export { NodeStatusRegistry, type NodeStatus, type AckEvent, type NackEvent } from './cache/node-status.js';
export { DEFAULT_STREAM_LIMITS, type StreamLimits } from './server/stream-base.js';

/** PEM file paths. cert + key turn TLS on; clientCa also requires and verifies client certificates. */
export interface XdsServerTls {
  cert: string;
  key: string;
  clientCa?: string;
}

/** none: plaintext; tls: the server is authenticated; mtls: so is every node, by its certificate. */
export type XdsSecurity = 'none' | 'tls' | 'mtls';

export interface XdsServerOptions {
  port: number;
  /** Loopback unless the operator binds elsewhere on purpose. */
  host?: string;
  /** Group snapshots by node.id (default), node.cluster, or the node's role (envoy/node-role.ts). */
  groupBy?: 'id' | 'cluster' | 'role';
  log?: Logger;
  limits?: Partial<StreamLimits>;
  tls?: XdsServerTls;
}

export interface XdsServer {
  port: number;
  host: string;
  security: XdsSecurity;
  cache: SnapshotCache;
  status: NodeStatusRegistry;
  close(): Promise<void>;
}

export async function startXdsServer(options: XdsServerOptions): Promise<XdsServer> {
  envoyRoot();
  const log = options.log ?? createLogger('xds');
  const cache = new SnapshotCache(options.groupBy ?? 'id');
  const status = new NodeStatusRegistry();
  const security: XdsSecurity = options.tls ? (options.tls.clientCa ? 'mtls' : 'tls') : 'none';
  const credentials = options.tls ? serverCredentials(options.tls) : grpc.ServerCredentials.createInsecure();
  const server = new grpc.Server({
    'grpc.max_send_message_length': 256 * 1024 * 1024,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  const warnings = new BudgetedWarnings(log);
  const limits = { ...DEFAULT_STREAM_LIMITS, ...options.limits };
  addXdsServices(server, {
    cache,
    status,
    log,
    warnings,
    limits,
    authorize: security === 'mtls' ? certificateBoundNode : acceptAnyNode,
    connections: new ConnectionStreams(),
  });
  const host = options.host ?? '127.0.0.1';
  // An IPv6 literal needs brackets in a gRPC address.
  const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${options.port}` : `${host}:${options.port}`;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, bound) =>
      err ? reject(new Error(`the xDS server cannot listen on ${address}: ${err.message}`)) : resolve(bound),
    ),
  );
  log.info('xDS server listening', { host, port, security });
  if (security === 'none' && !isLoopback(host))
    log.warn(
      'the xDS server listens beyond loopback without TLS: anyone who reaches it ' +
        'reads every endpoint; pass --xds-tls-cert, --xds-tls-key and --xds-client-ca',
      { host },
    );
  return {
    port,
    host,
    security,
    cache,
    status,
    close: () =>
      new Promise<void>((resolve) => {
        warnings.close();
        server.tryShutdown(() => resolve());
        // Streams stay open until clients leave; do not let one hold shutdown forever.
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
}

function serverCredentials(tls: XdsServerTls): grpc.ServerCredentials {
  const pair = { cert_chain: readPem(tls.cert, '--xds-tls-cert'), private_key: readPem(tls.key, '--xds-tls-key') };
  const ca = tls.clientCa === undefined ? null : readPem(tls.clientCa, '--xds-client-ca');
  return grpc.ServerCredentials.createSsl(ca, [pair], ca !== null);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
}
