// The xDS flags: which combinations fit, and what a user sees when they do not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { upXdsOptions, xdsClientTls, type XdsClientFlags, type XdsServerFlags } from '../../src/cli/xds-options.js';
import { gatehouseBin } from '../support/queue.js';

const defaults: XdsServerFlags = {
  xdsHost: '127.0.0.1',
  xdsMaxResourceNames: 50_000,
  xdsMaxStreamsPerConnection: 100,
  xdsStallTimeoutSeconds: 60,
};

test('xDS flags: TLS needs cert and key, mutual TLS needs TLS, and up needs the client side of what it serves', () => {
  assert.deepEqual(upXdsOptions(defaults), {
    xds: {
      host: '127.0.0.1',
      limits: { maxNamesPerType: 50_000, maxStreamsPerConnection: 100, stallTimeoutMs: 60_000 },
    },
    clientTls: undefined,
  });
  const mtls: XdsServerFlags & XdsClientFlags = {
    ...defaults,
    xdsHost: '0.0.0.0',
    xdsTlsCert: 's.crt',
    xdsTlsKey: 's.key',
    xdsClientCa: 'ca.crt',
    xdsCa: 'ca.crt',
    xdsCert: 'c.crt',
    xdsKey: 'c.key',
  };
  assert.deepEqual(upXdsOptions(mtls).xds.tls, { cert: 's.crt', key: 's.key', clientCa: 'ca.crt' });
  assert.deepEqual(upXdsOptions(mtls).clientTls, { ca: 'ca.crt', cert: 'c.crt', key: 'c.key' });
  const refused: Array<[Partial<XdsServerFlags & XdsClientFlags>, RegExp]> = [
    [{ xdsTlsCert: 's.crt' }, /--xds-tls-cert and --xds-tls-key go together/],
    [{ xdsClientCa: 'ca.crt' }, /--xds-client-ca needs --xds-tls-cert and --xds-tls-key/],
    [{ xdsTlsCert: 's.crt', xdsTlsKey: 's.key' }, /pass --xds-ca/],
    [
      { xdsTlsCert: 's.crt', xdsTlsKey: 's.key', xdsClientCa: 'ca.crt', xdsCa: 'ca.crt' },
      /pass --xds-cert and --xds-key/,
    ],
    [{ xdsCert: 'c.crt', xdsKey: 'c.key' }, /--xds-cert needs --xds-ca/],
    [{ xdsCa: 'ca.crt', xdsCert: 'c.crt' }, /--xds-cert and --xds-key go together/],
  ];
  for (const [flags, message] of refused)
    assert.throws(() => upXdsOptions({ ...defaults, ...flags }), message, JSON.stringify(flags));
  assert.equal(xdsClientTls({}), undefined);
});

test('a flag combination that does not fit: one line and the usage, exit 2, no stack', async () => {
  const child = spawn(process.execPath, [gatehouseBin, 'up', '--xds-client-ca', 'ca.crt'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 2);
  assert.ok(
    stderr.startsWith('error: --xds-client-ca needs --xds-tls-cert and --xds-tls-key (mutual TLS is TLS first)\n'),
    stderr,
  );
  assert.match(stderr, /\)\nUsage: gatehouse up \[options\]\n/);
  assert.doesNotMatch(stderr, /\n\s+at /);
});
