// The websocket activators push their stats to, in Knative's wire format: binary frames holding
// WireStatMessages. Knative's activator can push here too.
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { Logger } from '../log/logger.js';
import { decodeWireStats, type WireStat } from '../stats/wire.js';

export interface StatReceiver {
  port: number;
  /** Pushers connected now. */
  connections(): number;
  close(): Promise<void>;
}

export function startStatReceiver(
  port: number,
  host: string,
  onStats: (stats: WireStat[]) => void,
  log: Logger,
): Promise<StatReceiver> {
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ port, host });
    wss.once('error', reject);
    wss.on('connection', (socket, req) => {
      log.debug('stat pusher connected', { from: req.socket.remoteAddress });
      socket.on('message', (data, isBinary) => {
        if (!isBinary)
          return void log.warn('ignoring a text frame on the stat websocket; expected binary WireStatMessages');
        try {
          onStats(decodeWireStats(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)));
        } catch (err) {
          log.warn('undecodable stat message', { error: (err as Error).message });
        }
      });
    });
    wss.once('listening', () => {
      wss.off('error', reject);
      resolve({
        port: (wss.address() as AddressInfo).port,
        connections: () => wss.clients.size,
        close: () =>
          new Promise<void>((done) => {
            for (const client of wss.clients) client.terminate();
            wss.close(() => done());
          }),
      });
    });
  });
}
