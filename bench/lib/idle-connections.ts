// Idle keep-alive connections to a gateway, as `npm run soak` and `npm run bench:idle` open them:
// each sends one request and, once the answer starts, stays open and silent; 500 at a time.
import { once } from 'node:events';
import net from 'node:net';

export async function openIdleConnections(port: number, host: string, count: number): Promise<net.Socket[]> {
  const open: net.Socket[] = [];
  for (let i = 0; i < count; i += 500) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, async () => {
        const s = net.connect(port, '127.0.0.1');
        s.on('error', () => {});
        await once(s, 'connect');
        s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        await once(s, 'data');
        return s;
      }),
    );
    open.push(...batch);
  }
  return open;
}
