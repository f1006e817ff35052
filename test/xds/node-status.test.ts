// The per-node ACK record as `gatehouse up` waits on it: a version counts once every open stream
// of each named node ACKed it; nodes without a stream are not waited on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeStatusRegistry } from '../../src/xds/cache/node-status.js';

const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

test(
  'lagging: connected nodes that have not ACKed the ' + 'version; unknown and disconnected ones are not waited on',
  () => {
    const status = new NodeStatusRegistry();
    const a = status.connected('gw-a', 'gatehouse-ingress');
    const b = status.connected('gw-b', 'gatehouse-ingress');
    status.acked(a, EDS, 'v2');
    status.acked(b, EDS, 'v1');
    assert.deepEqual(status.lagging(new Set(['gw-a', 'gw-b', 'gw-unknown']), EDS, 'v2'), ['gw-b']);
    status.disconnected(b);
    assert.deepEqual(status.lagging(new Set(['gw-a', 'gw-b']), EDS, 'v2'), []);
  },
);

test('whenAcked resolves on the ACK that completes the set, or names the laggards at the timeout', async () => {
  const status = new NodeStatusRegistry();
  const a = status.connected('gw-a', 'gatehouse-ingress');
  const b = status.connected('gw-b', 'gatehouse-ingress');
  const ids = () => new Set(['gw-a', 'gw-b']);
  const waiting = status.whenAcked(ids, EDS, 'v2', 60_000);
  status.acked(a, EDS, 'v2');
  status.acked(b, EDS, 'v2');
  assert.deepEqual(await waiting, []);
  assert.equal(status.listenerCount('ack'), 0, 'no listener left behind');

  // A newer version nobody ACKs: the timeout names who lags.
  assert.deepEqual(await status.whenAcked(ids, EDS, 'v3', 30), ['gw-a', 'gw-b']);
  // A laggard that disconnects is no longer waited on.
  const again = status.whenAcked(ids, EDS, 'v3', 60_000);
  status.acked(a, EDS, 'v3');
  status.disconnected(b);
  assert.deepEqual(await again, []);
});
