// `npm run bench:kube`: `gatehouse controller` with a real kube-apiserver (KUBE_APISERVER_URL and
// KUBECONFIG; without them the in-process fake, said so in the output): a KIngress created →
// Ready (status observed through a watch), p50/p99, with 1, 100 and 1,000 KIngresses present.
// Beside it, in the same rounds, the reference: created → the gateway first answers 200 for its
// host (what Ready has to wait for at least); the ratio is the cost of confirming and reporting.
// The controller and the embedded gateway run as their own processes, as in a cluster.
// INGRESS_COUNTS (default "1,100,1000"), SAMPLES (default 30).
import * as k8s from '@kubernetes/client-node';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { percentile } from '../src/bench/stats.js';
import { KINGRESS_GROUP, KINGRESS_PLURAL, KINGRESS_VERSION, type KIngress } from '../src/kube/types.js';
import { gatehouseBin, isReady, MODE, TestCluster } from '../test/kube/cluster.js';

const counts = (process.env.INGRESS_COUNTS ?? '1,100,1000').split(',').map(Number);
const samples = Number(process.env.SAMPLES ?? 30);

const cluster = await TestCluster.start();
console.log(`bench:kube against ${MODE}`);
try {
  const externalPort = await cluster.freePort();
  const localPort = await cluster.freePort();
  const blue = await cluster.startRevisionPod('blue');
  await cluster.createService('blue', [{ port: blue.port }]);
  const controller = await cluster.startHostProcess(
    cluster.controllerArgs({ externalPort, localPort }),
    {},
    (l) => l.msg === 'controller synced',
  );
  const xdsPort = Number(JSON.parse(controller.pod.logs.find((l) => l.includes('"controller synced"'))!).xdsPort);
  await cluster.startPod(
    [gatehouseBin, 'gateway', '--xds', `${cluster.hostAddress}:${xdsPort}`, '--node-id', 'gw-1', '--admin-port', '0'],
    {},
    (l) => l.msg === 'connected to the xDS server',
  );
  await cluster.createService('gatehouse', [{ port: externalPort }]);

  // Ready times come from a watch, as Knative's route controller sees them.
  const readyAt = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const list = (await cluster.custom.listNamespacedCustomObject({
    group: KINGRESS_GROUP,
    version: KINGRESS_VERSION,
    plural: KINGRESS_PLURAL,
    namespace: cluster.namespace,
  })) as { metadata: { resourceVersion: string } };
  const watch = await new k8s.Watch(cluster.api.config).watch(
    `/apis/${KINGRESS_GROUP}/${KINGRESS_VERSION}/namespaces/${cluster.namespace}/${KINGRESS_PLURAL}`,
    { resourceVersion: list.metadata.resourceVersion },
    (type: string, obj: KIngress) => {
      if (type === 'DELETED' || !isReady(obj) || readyAt.has(obj.metadata.name)) return;
      readyAt.set(obj.metadata.name, performance.now());
      waiters.get(obj.metadata.name)?.();
    },
    (err: unknown) => err && (err as Error).name !== 'AbortError' && console.error('watch ended', err),
  );
  const whenReady = (name: string) =>
    readyAt.has(name) ? Promise.resolve() : new Promise<void>((r) => waiters.set(name, r));
  const spec = (host: string) =>
    ({
      rules: [
        {
          hosts: [host],
          visibility: 'ExternalIP',
          http: {
            paths: [{ splits: [{ serviceName: 'blue', serviceNamespace: cluster.namespace, servicePort: 80 }] }],
          },
        },
      ],
    }) as KIngress['spec'];

  const serving = async (host: string) => {
    for (;;) {
      const res = await request(`http://${cluster.podHost}:${externalPort}/`, { headers: { host } }).catch(
        () => undefined,
      );
      await res?.body.dump();
      if (res?.statusCode === 200) return performance.now();
      await new Promise((r) => setTimeout(r, 2));
    }
  };

  let present = 0;
  console.log('present  fill s  ready p50  ready p99  serving p50  serving p99  ready/serving (p50)');
  for (const n of counts) {
    const fillStart = performance.now();
    const names: string[] = [];
    for (; present < n; present++) names.push(`fill-${present}`);
    for (let i = 0; i < names.length; i += 16)
      await Promise.all(names.slice(i, i + 16).map((name) => cluster.createIngress(name, spec(`${name}.example.com`))));
    await Promise.all(names.map(whenReady));
    const fillSeconds = (performance.now() - fillStart) / 1000;
    const ready: number[] = [];
    const serve: number[] = [];
    for (let s = 0; s < samples; s++) {
      const name = `sample-${n}-${s}`;
      const t0 = performance.now();
      const servingAt = serving(`${name}.example.com`);
      await cluster.createIngress(name, spec(`${name}.example.com`));
      await whenReady(name);
      ready.push(readyAt.get(name)! - t0);
      serve.push((await servingAt) - t0);
      await cluster.deleteIngress(name);
    }
    ready.sort((a, b) => a - b);
    serve.sort((a, b) => a - b);
    const [r50, r99, s50, s99] = [
      percentile(ready, 50),
      percentile(ready, 99),
      percentile(serve, 50),
      percentile(serve, 99),
    ];
    console.log(
      `${String(n).padStart(7)}  ${fillSeconds.toFixed(1).padStart(6)}  ${r50.toFixed(0).padStart(6)} ms  ` +
        `${r99.toFixed(0).padStart(6)} ms  ${s50.toFixed(0).padStart(8)} ms  ` +
        `${s99.toFixed(0).padStart(8)} ms  ${(r50 / s50).toFixed(2).padStart(6)}×`,
    );
  }
  watch.abort();
} finally {
  await cluster.close();
}
process.exit(0);
