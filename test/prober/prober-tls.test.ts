// The prober's HTTPS probes: a host with a certificate is probed over TLS on the gateway's HTTPS
// port; a gateway that has none is reported as such instead of being probed somewhere else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log/logger.js';
import { Prober } from '../../src/prober/prober.js';
import { until } from '../support/cli.js';

test('a TLS host on a gateway without an HTTPS port: not ready, and the status says why', async () => {
  const changes: string[] = [];
  const prober = new Prober(createLogger('prober-tls-test'), (key) => changes.push(key));
  try {
    prober.setGateways([{ id: 'gw-1', host: '127.0.0.1', externalPort: 1, localPort: 1 }]);
    prober.expect(
      new Map([['ns/hello', { hash: 'abc', externalHosts: [], localHosts: [], tlsHosts: ['hello.example.com'] }]]),
    );
    await until(() => /no HTTPS port/.test(prober.routeState('ns/hello').message ?? ''), 'the probe outcome', 5000);
    assert.deepEqual(prober.routeState('ns/hello'), {
      ready: false,
      message: 'waiting for gw-1 (hello.example.com: the gateway has no HTTPS port to probe) to serve hash abc',
    });
    assert.deepEqual(changes, []);
  } finally {
    prober.close();
  }
});
