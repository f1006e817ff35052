// The gatehouse xDS control server.
//
//   const xds = await startXdsServer({ port: 18000 });     // port 0 → a free port; xds.port has it
//   xds.cache.setTranslation(translate(state));            // default snapshot, pushed CDS→EDS→LDS→RDS
//   xds.cache.setTranslation(t, 'node-id');                // or a snapshot for one node (or cluster)
//   xds.status.on('ack' | 'nack', (e) => …);               // per-node ACK/NACK events
//   xds.status.list();                                     // per-node status for operators
//   await xds.close();
import * as grpc from '@grpc/grpc-js';
import { createLogger, type Logger } from '../log/logger.js';
import { NodeStatusRegistry } from './cache/node-status.js';
import { SnapshotCache } from './cache/snapshot-cache.js';
import { envoyRoot } from './protos.js';
import { addXdsServices } from './server/grpc-server.js';

export { SnapshotCache, DEFAULT_GROUP, PUSH_ORDER } from './cache/snapshot-cache.js';
export { NodeStatusRegistry, type NodeStatus, type AckEvent, type NackEvent } from './cache/node-status.js';
export { TYPE_URL } from './protos.js';
export { validateResource } from './validate.js';

export interface XdsServerOptions {
  port: number;
  /** Loopback unless the operator binds elsewhere on purpose. */
  host?: string;
  /** Group snapshots by node.id (default) or node.cluster. */
  groupBy?: 'id' | 'cluster';
  log?: Logger;
}

export interface XdsServer {
  port: number;
  cache: SnapshotCache;
  status: NodeStatusRegistry;
  close(): Promise<void>;
}

export async function startXdsServer(options: XdsServerOptions): Promise<XdsServer> {
  envoyRoot();
  const log = options.log ?? createLogger('xds');
  const cache = new SnapshotCache(options.groupBy ?? 'id');
  const status = new NodeStatusRegistry();
  const server = new grpc.Server({ 'grpc.max_send_message_length': 256 * 1024 * 1024, 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  addXdsServices(server, { cache, status, log });
  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  log.info('xDS server listening', { host, port });
  return {
    port,
    cache,
    status,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Streams stay open until clients leave; do not let one hold shutdown forever.
        setTimeout(() => server.forceShutdown(), 1000).unref();
      }),
  };
}
