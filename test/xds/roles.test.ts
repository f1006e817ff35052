// Snapshots by role: over state of the world and Delta, each role's node gets exactly its resources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startXdsServer } from '../../src/xds/index.js';
import { ACTIVATOR_NODE_CLUSTER, GATEWAY_NODE_CLUSTER, nodeRole } from '../../src/envoy/node-role.js';
import { TYPE_URL } from '../../src/envoy/protos.js';
import { translate } from '../../src/translate/index.js';
import { splitByRole } from '../../src/translate/roles.js';
import { desired, revision, route, routing } from '../support/desired.js';
import { AdsTestStream } from '../support/ads-client.js';

const state = desired(
  [
    route('hello', [{ revisionName: 'hello-00001', percent: 100, tag: 'blue' }]),
    route('internal', [{ revisionName: 'internal-00001', percent: 100 }], 'cluster-local'),
  ],
  [
    routing(revision('hello-00001'), 'serve', [{ host: '127.0.0.1', port: 9001 }]),
    routing(revision('internal-00001'), 'proxy', []),
  ],
);
const translation = translate(state);
const names = (list: Array<Record<string, unknown>>) => list.map((r) => String(r.name ?? r.cluster_name)).sort();
const PUBLIC = ['default/hello-00001', 'default/internal-00001'];
const PRIVATE = ['default/hello-00001-private', 'default/internal-00001-private'];

const expected: Record<string, Record<string, string[]>> = {
  [GATEWAY_NODE_CLUSTER]: {
    [TYPE_URL.listener]: ['gatehouse-external', 'gatehouse-local'],
    [TYPE_URL.cluster]: PUBLIC,
    [TYPE_URL.endpoint]: PUBLIC,
    [TYPE_URL.scopedRoute]: names(translation.scopedRoutes),
    [TYPE_URL.route]: ['default/hello', 'gatehouse-local/default/internal'],
  },
  [ACTIVATOR_NODE_CLUSTER]: {
    [TYPE_URL.listener]: [],
    [TYPE_URL.cluster]: PRIVATE,
    [TYPE_URL.endpoint]: PRIVATE,
    [TYPE_URL.scopedRoute]: [],
    [TYPE_URL.route]: [],
  },
  'gatehouse-grpc': {
    [TYPE_URL.listener]: ['blue-hello.default.example.com', 'hello.default.example.com'],
    [TYPE_URL.cluster]: PUBLIC,
    [TYPE_URL.endpoint]: PUBLIC,
    [TYPE_URL.scopedRoute]: [],
    [TYPE_URL.route]: ['default/hello'],
  },
};
// Any other cluster is treated as a proxyless gRPC client.
expected['some-app'] = expected['gatehouse-grpc']!;

test('node roles come from node.cluster; unknown clusters are gRPC clients', () => {
  assert.equal(nodeRole({ cluster: 'gatehouse-ingress' }), 'ingress');
  assert.equal(nodeRole({ cluster: 'gatehouse-activators' }), 'activator');
  assert.equal(nodeRole({ cluster: 'gatehouse-grpc' }), 'proxyless');
  assert.equal(nodeRole({ cluster: '' }), 'proxyless');
  assert.equal(nodeRole({ cluster: 'Gatehouse-Ingress' }), 'proxyless', 'exact match only');
});

for (const delta of [false, true]) {
  test(`${delta ? 'Delta' : 'SotW'}: each role gets exactly its resources`, async (t) => {
    const xds = await startXdsServer({ port: 0, groupBy: 'role' });
    t.after(() => xds.close());
    for (const [role, share] of splitByRole(translation)) xds.cache.setTranslation(share, role);
    // Named types are asked for every name the translation has: a role still gets only its own.
    const every: Record<string, string[]> = {
      [TYPE_URL.route]: names(translation.routes),
      [TYPE_URL.endpoint]: names(translation.endpoints),
    };
    for (const [cluster, types] of Object.entries(expected)) {
      const stream = new AdsTestStream(xds.port, delta);
      t.after(() => stream.close());
      const node = { id: `node-${cluster}`, cluster };
      for (const [typeUrl, want] of Object.entries(types)) {
        const asked = every[typeUrl] ?? [];
        stream.send(
          delta
            ? { node, type_url: typeUrl, resource_names_subscribe: asked }
            : { node, type_url: typeUrl, resource_names: asked },
        );
        const response = await stream.next();
        assert.equal(response.type_url, typeUrl);
        assert.deepEqual([...response.resources.keys()].sort(), want, `${cluster} ${typeUrl}`);
      }
    }
  });
}
