// Pushes this activator's per-revision load to the autoscaler over a websocket every second, in
// Knative's WireStatMessages format, reconnecting with backoff when the autoscaler is away.
import WebSocket from 'ws';
import { encodeWireStats, type WireStat } from '../stats/wire.js';
import type { Logger } from '../log/logger.js';

export class StatPusher {
  private socket: WebSocket | undefined;
  private retryMs = 100;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.on('open', () => {
      this.retryMs = 100;
      this.log.info('connected to the autoscaler', { url: this.url });
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      if (this.closed) return;
      this.timer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(5000, this.retryMs * 2);
    });
  }

  /** Sends now if connected; a missed second is replaced by the next one. */
  push(stats: WireStat[]): void {
    if (stats.length === 0 || this.socket?.readyState !== WebSocket.OPEN) return;
    this.socket.send(encodeWireStats(stats), { binary: true });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.terminate();
  }
}
