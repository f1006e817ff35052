// An ADS client that subscribes to everything and then never reads: a raw HTTP/2 stream whose
// flow-control window the server fills and the client never opens again.
import http2 from 'node:http2';
import { envoyRoot } from '../../src/envoy/protos.js';

function frame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export interface StalledStream {
  /** Resolves with the RST_STREAM code (0 when closed otherwise) once the server ends the stream. */
  closed: Promise<number>;
  close(): void;
}

/** Opens a SotW ADS stream asking for every type (names as given) and stops reading at once. */
export function stalledAds(
  port: number,
  node: { id: string; cluster: string },
  subscriptions: Array<{ typeUrl: string; names: string[] }>,
): StalledStream {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const stream = session.request({
    ':method': 'POST',
    ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => {});
  const type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  for (const s of subscriptions)
    stream.write(frame(type.encode(type.fromObject({ node, type_url: s.typeUrl, resource_names: s.names })).finish()));
  stream.pause();
  const closed = new Promise<number>((resolve) => stream.on('close', () => resolve(stream.rstCode ?? 0)));
  return {
    closed,
    close: () => {
      stream.destroy();
      session.destroy();
    },
  };
}
