// A standby queue-proxy's last step before it waits for its pod: a few requests through a
// throwaway queue-proxy in front of a throwaway app, in this process. The first request through a
// fresh process pays for compiling the proxy path and instantiating undici's HTTP parser; on a
// cold start that would be the user's first request.
import http from 'node:http';
import { closeServer, listen } from '../http/auto-codec.js';
import { probeGet } from '../http/probe.js';
import type { Logger } from '../log/logger.js';
import { LOOPBACK_FREE_PORTS } from '../model/queue-proxy.js';
import { parseQueueEnv } from './config.js';
import { startQueueProxy } from './server.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet, enabled: () => false };

export async function warmUp(rounds = 3): Promise<void> {
  const app = http.createServer((req, res) => {
    req.resume();
    res.end('warm');
  });
  const appPort = await listen(app, 0, '127.0.0.1');
  const proxy = await startQueueProxy(
    parseQueueEnv({
      USER_PORT: String(appPort),
      ...LOOPBACK_FREE_PORTS,
      SERVING_READINESS_PROBE: JSON.stringify({ tcpSocket: { host: '127.0.0.1', port: appPort } }),
    }),
    quiet,
  );
  const at = { host: '127.0.0.1', port: proxy.servingPort };
  for (let i = 0; i < rounds; i++) {
    await probeGet(at, { 'user-agent': 'kube-probe/1.27', 'k-network-probe': 'queue' }, 1000);
    await probeGet(at, { host: 'warm-up' }, 1000);
    await probeGet(at, { host: 'warm-up', 'k-proxy-request': 'activator' }, 1000);
  }
  await proxy.close();
  await closeServer(app);
}
