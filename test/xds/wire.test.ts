// Responses are concatenations of entries each resource keeps: what a client decodes must be exactly
// the resources, versions and fields given, on the first response and on every later one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceEncoder } from '../../src/xds/cache/encode.js';
import { encodeDeltaResponse, encodeSotwResponse } from '../../src/xds/server/wire.js';
import { envoyRoot, TYPE_URL } from '../../src/envoy/protos.js';

const clusterType = envoyRoot().lookupType('envoy.config.cluster.v3.Cluster');
const sotwType = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const deltaType = envoyRoot().lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');

function clusters() {
  const encoder = new ResourceEncoder(TYPE_URL.cluster);
  // A name long enough that its length takes two varint bytes, and an empty cluster body.
  return ['a', 'b'.repeat(200), 'c'].map((name, i) =>
    encoder.encode(i === 2 ? { name } : { name, type: 'EDS', connect_timeout: { seconds: i + 1 } }),
  );
}

interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

const clusterName = (any: AnyMessage) => (clusterType.decode(any.value) as unknown as { name: string }).name;

test('a SotW response decodes to its version, type, nonce and resources in order, again when resent', () => {
  const resources = clusters();
  for (const [version, nonce] of [
    ['v1', '1'],
    ['v2', '22'],
  ] as const) {
    const bytes = encodeSotwResponse(version, TYPE_URL.cluster, nonce, resources);
    const m = sotwType.decode(bytes) as unknown as {
      version_info: string;
      type_url: string;
      nonce: string;
      resources: AnyMessage[];
    };
    assert.equal(m.version_info, version);
    assert.equal(m.type_url, TYPE_URL.cluster);
    assert.equal(m.nonce, nonce);
    assert.deepEqual(
      m.resources.map((r) => r.type_url),
      resources.map(() => TYPE_URL.cluster),
    );
    assert.deepEqual(m.resources.map(clusterName), ['a', 'b'.repeat(200), 'c']);
    assert.deepEqual(
      m.resources.map((r) => Buffer.from(r.value)),
      resources.map((r) => Buffer.from(r.bytes)),
    );
  }
  assert.equal(encodeSotwResponse('v', TYPE_URL.cluster, 'n', []).length > 0, true);
  assert.deepEqual((sotwType.decode(encodeSotwResponse('v', TYPE_URL.cluster, 'n', [])) as any).resources, []);
});

test('a Delta response carries each resource with its name and version, the removed names and the nonce', () => {
  const resources = clusters();
  for (const sent of [resources, resources.slice(1)]) {
    const bytes = encodeDeltaResponse('sys', TYPE_URL.cluster, 'n7', sent, ['gone-1', 'gone-2']);
    const m = deltaType.decode(bytes) as unknown as {
      system_version_info: string;
      type_url: string;
      nonce: string;
      removed_resources: string[];
      resources: Array<{ name: string; version: string; resource: AnyMessage }>;
    };
    assert.equal(m.system_version_info, 'sys');
    assert.equal(m.type_url, TYPE_URL.cluster);
    assert.equal(m.nonce, 'n7');
    assert.deepEqual(m.removed_resources, ['gone-1', 'gone-2']);
    assert.deepEqual(
      m.resources.map((r) => [r.name, r.version, r.resource.type_url, clusterName(r.resource)]),
      sent.map((r) => [r.name, r.version, TYPE_URL.cluster, r.name]),
    );
  }
});

test('a SotW response is byte for byte what protobufjs writes for the whole message, first and resent', () => {
  const resources = clusters();
  const any = (r: (typeof resources)[number]) => ({ type_url: TYPE_URL.cluster, value: r.bytes });
  for (let send = 0; send < 2; send++) {
    const sotw = { version_info: 'v', resources: resources.map(any), type_url: TYPE_URL.cluster, nonce: 'n' };
    assert.deepEqual(
      Buffer.from(encodeSotwResponse('v', TYPE_URL.cluster, 'n', resources)),
      Buffer.from(sotwType.encode(sotwType.fromObject(sotw)).finish()),
    );
  }
});

test('a changed resource is a new entry: the response carries its new bytes, not the old ones', () => {
  const encoder = new ResourceEncoder(TYPE_URL.cluster);
  const before = encoder.encode({ name: 'x', connect_timeout: { seconds: 1 } });
  encodeSotwResponse('1', TYPE_URL.cluster, 'a', [before]);
  encodeDeltaResponse('1', TYPE_URL.cluster, 'a', [before], []);
  const after = encoder.encode({ name: 'x', connect_timeout: { seconds: 2 } });
  const seconds = (value: Uint8Array) =>
    (clusterType.decode(value) as unknown as { connect_timeout: { seconds: number } }).connect_timeout.seconds;
  const sotw = sotwType.decode(encodeSotwResponse('2', TYPE_URL.cluster, 'b', [after])) as unknown as {
    resources: AnyMessage[];
  };
  assert.equal(Number(seconds(sotw.resources[0]!.value)), 2);
  const delta = deltaType.decode(encodeDeltaResponse('2', TYPE_URL.cluster, 'b', [after], [])) as unknown as {
    resources: Array<{ version: string; resource: AnyMessage }>;
  };
  assert.equal(Number(seconds(delta.resources[0]!.resource.value)), 2);
  assert.equal(delta.resources[0]!.version, after.version);
  assert.notEqual(after.version, before.version);
});
