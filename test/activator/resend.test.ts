// A pod that closes a kept-alive connection as the next request arrives (a queue-proxy draining, a
// pod failing its readiness probe): the activator sends a GET once more; a request with a body it
// cannot replay is answered 502, never sent twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createLogger } from '../../src/log/logger.js';
import { InProcessRevisionSource } from '../../src/activator/revision-source.js';
import { startActivator } from '../../src/activator/server.js';
import { H_NETWORK_PROBE, PROBE_QUEUE } from '../../src/model/headers.js';

const log = createLogger('test');
const routed = { 'knative-serving-namespace': 'default', 'knative-serving-revision': 'reset-00001' };

/**
 * A pod stand-in: answers the activator's probe; resets every request after the first on a connection,
 * and every request for /reset.
 */
async function resettingPod() {
  const served = new WeakMap<Socket, number>();
  const seen = { requests: 0, resets: 0 };
  const server = http.createServer((req, res) => {
    if (req.headers[H_NETWORK_PROBE] === PROBE_QUEUE) return res.end(PROBE_QUEUE);
    seen.requests++;
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    if (n > 1 || req.url === '/reset') {
      seen.resets++;
      req.socket.resetAndDestroy();
      return;
    }
    req.resume();
    req.on('end', () => res.end(`${req.method} answered\n`));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, seen, close: () => server.close() };
}

test('a GET reset on a kept-alive connection is sent once more; a POST with a body gets 502', async (t) => {
  const pod = await resettingPod();
  t.after(() => pod.close());
  const source = new InProcessRevisionSource();
  const activator = await startActivator({ port: 0, source, log });
  t.after(() => activator.close());
  source.set({
    namespace: 'default',
    name: 'reset-00001',
    containerConcurrency: 1,
    timeoutSeconds: 10,
    pods: [{ host: '127.0.0.1', port: pod.port }],
  });
  const send = async (init: RequestInit = {}, path = '/') => {
    const res = await fetch(`http://127.0.0.1:${activator.port}${path}`, { ...init, headers: routed });
    return `${res.status} ${await res.text()}`;
  };

  assert.equal(await send(), '200 GET answered\n');
  // The activator's connection to the pod is kept alive; the pod resets it on the next request.
  assert.equal(await send(), '200 GET answered\n');
  assert.deepEqual(pod.seen, { requests: 3, resets: 1 }, 'the second GET was reset once, then sent again');

  const post = await send({ method: 'POST', body: 'not to be sent twice' }, '/reset');
  assert.match(post, /^502 the pod at 127\.0\.0\.1:\d+ failed/);
  assert.deepEqual(pod.seen, { requests: 4, resets: 2 }, 'the POST reached the pod once');

  const twice = await send({}, '/reset');
  assert.match(twice, /^502 the pod at 127\.0\.0\.1:\d+ failed/);
  assert.deepEqual(pod.seen, { requests: 6, resets: 4 }, 'a GET is sent again once, not for ever');
});
