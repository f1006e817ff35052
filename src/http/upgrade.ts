// HTTP/1.1 Upgrade (WebSocket) pass-through, the same for the three proxies: connect to the
// upstream, write the request head, then splice the two connections byte for byte. No request
// timeout applies once upgraded.
import net from 'node:net';
import type { Duplex } from 'node:stream';

export interface UpgradeHooks {
  /** The upstream accepted the connection. */
  opened?(): void;
  /** The upstream connection is gone (after `opened`, or a failed connect). */
  closed?(): void;
}

/**
 * Splices `client` to host:port. `requestHead` is the request line and headers to send first;
 * `refusal` is the whole HTTP response the client gets when the upstream cannot be reached.
 */
export function spliceUpgrade(
  client: Duplex,
  head: Buffer,
  host: string,
  port: number,
  requestHead: string,
  refusal: string,
  hooks: UpgradeHooks = {},
): void {
  const upstream = net.connect({ host, port });
  upstream.once('connect', () => {
    hooks.opened?.();
    upstream.write(requestHead);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.once('error', () => {
    if (!client.destroyed && upstream.bytesRead === 0) client.end(refusal);
    else client.destroy();
  });
  upstream.once('close', () => {
    hooks.closed?.();
    // A refusal being written ends the client by itself; anything else is cut.
    if (!client.writableEnded) client.destroy();
  });
  client.once('close', () => upstream.destroy());
}
