// The gateway's loopback admin port: /ready (200 once listeners are bound from an accepted config,
// 503 again once it drains, so a Kubernetes readiness probe takes it out of the Service) and
// /status (xDS versions and NACKs, bound ports, endpoints per cluster) as JSON.
import http from 'node:http';
import { closeServer, listen, plain } from '../http/auto-codec.js';
import type { Gateway } from './index.js';

export async function startGatewayAdmin(
  gateway: Gateway,
  port: number,
): Promise<{ port: number; close(): Promise<void> }> {
  let ready = false;
  void gateway.ready.then(() => (ready = true));
  const server = http.createServer((req, res) => {
    if (req.url === '/ready') {
      if (gateway.draining) return plain(res, 503, 'draining: finishing the requests in flight\n');
      return plain(res, ready ? 200 : 503, ready ? 'ready\n' : 'no accepted listener configuration yet\n');
    }
    if (req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(gateway.status(), null, 2) + '\n');
      return;
    }
    plain(res, 404, 'not found; the admin port serves /ready and /status\n');
  });
  const bound = await listen(server, port, '127.0.0.1');
  return { port: bound, close: () => closeServer(server) };
}
