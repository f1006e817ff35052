// Two `gatehouse controller` replicas with leader election on a Lease: the gateway takes its
// config from the follower while the leader writes status; the leader is killed and the follower
// takes over the Lease and the status writing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { gatehouseBin, isReady, MODE, TestCluster, waitLog, type Pod } from './cluster.js';

describe(`two controller replicas against ${MODE}`, () => {
  let cluster: TestCluster;
  let leader: Pod;
  let follower: Pod;
  let externalPort: number;
  let localPort: number;
  const spec = (host: string) => ({
    rules: [
      {
        hosts: [host],
        http: { paths: [{ splits: [{ serviceName: 'blue', serviceNamespace: cluster.namespace, servicePort: 80 }] }] },
      },
    ],
  });

  const replica = async (identity: string) => {
    // Replicas serve the same config: the same listener ports.
    const { pod } = await cluster.startHostProcess(
      cluster.controllerArgs(
        { externalPort, localPort },
        '--leader-elect',
        '--lease',
        `${cluster.namespace}/gatehouse-controller`,
        '--identity',
        identity,
        '--lease-duration',
        '2000',
        '--renew-deadline',
        '1500',
        '--retry-period',
        '200',
      ),
      {},
      (l) => l.msg === 'controller synced',
    );
    return pod;
  };

  before(async () => {
    cluster = await TestCluster.start();
    externalPort = await cluster.freePort();
    localPort = await cluster.freePort();
    const blue = await cluster.startRevisionPod('blue');
    await cluster.createService('blue', [{ port: blue.port }]);
    leader = await replica('replica-a');
    await waitLog(leader, (l) => l.msg === 'became leader');
    follower = await replica('replica-b');
  });

  after(async () => {
    await cluster?.close();
  });

  test(
    'the follower serves xDS while the leader writes ' + 'status; killing the leader hands both to the follower',
    async () => {
      const xds = await waitLog(follower, (l) => l.msg === 'xDS server listening');
      // The gateway's only xDS server is the follower.
      await cluster.startPod(
        [
          gatehouseBin,
          'gateway',
          '--xds',
          `${cluster.hostAddress}:${String(xds.port)}`,
          '--node-id',
          'gw-1',
          '--admin-port',
          '0',
        ],
        {},
        (l) => l.msg === 'connected to the xDS server',
      );
      await cluster.createService('gatehouse', [{ port: externalPort }]);
      await cluster.createIngress('one', spec('one.example.com'));
      await cluster.waitIngress('one', isReady);
      const res = await request(`http://${cluster.podHost}:${externalPort}/`, { headers: { host: 'one.example.com' } });
      assert.match(await res.body.text(), /blue/);
      assert.ok(!follower.logs.some((l) => l.includes('"became leader"')), 'the follower did not lead');

      leader.process.kill('SIGKILL');
      await waitLog(follower, (l) => l.msg === 'became leader', 15_000);
      const lease = await cluster.api.readLease(cluster.namespace, 'gatehouse-controller');
      assert.equal(lease?.spec?.holderIdentity, 'replica-b');
      assert.equal(lease?.spec?.leaseTransitions, 1);
      await cluster.createIngress('two', spec('two.example.com'));
      await cluster.waitIngress('two', isReady);
    },
  );
});
