// The cluster the controller suite runs against: the real kube-apiserver when KUBE_APISERVER_URL
// and KUBECONFIG are set (a developer's run; README), else the in-process fake. "Pods" are local
// processes: on the real server, whose EndpointSlices refuse loopback addresses, they run in a
// network namespace of their own (10.231.N.2, the host side 10.231.N.1), as kube-apiserver.md
// describes; against the fake they run on 127.0.0.1.
import * as k8s from '@kubernetes/client-node';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseAllDocuments } from 'yaml';
import { KubeApi } from '../../src/kube/client.js';
import type { ControllerOptions } from '../../src/kube/controller.js';
import { createLogger } from '../../src/log/logger.js';
import {
  GATEHOUSE_INGRESS_CLASS,
  KINGRESS_GROUP,
  KINGRESS_PLURAL,
  KINGRESS_VERSION,
  type KIngress,
} from '../../src/kube/types.js';
import { FakeApiServer } from './fake-apiserver.js';
import { portToBindLater } from '../support/ports.js';
import { packagePath } from '../../src/package-root.js';

export const gatehouseBin = packagePath('bin', 'gatehouse.js');
export const exampleApp = packagePath('examples', 'app', 'server.mjs');
export const CRD_FIXTURE = packagePath('test', 'kube', 'fixtures', 'knative-ingress-crd.yaml');

export const REAL = Boolean(process.env.KUBE_APISERVER_URL && process.env.KUBECONFIG);
export const MODE = REAL
  ? `the real kube-apiserver at ${process.env.KUBE_APISERVER_URL}`
  : 'the in-process fake API server (set KUBE_APISERVER_URL and KUBECONFIG to run against a real one)';

export interface Pod {
  process: ChildProcess;
  logs: string[];
  stop(): Promise<void>;
}

/** Polls a process's log lines until one matches (JSON lines only), within the deadline. */
export async function waitLog(
  pod: Pod,
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const l of pod.logs) {
      try {
        const record = JSON.parse(l) as Record<string, unknown>;
        if (match(record)) return record;
      } catch {
        // not JSON
      }
    }
    if (Date.now() > deadline)
      throw new Error(`no matching log line within ${timeoutMs} ms; last lines:\n${pod.logs.slice(-5).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class TestCluster {
  readonly api: KubeApi;
  readonly custom: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  readonly discovery: k8s.DiscoveryV1Api;
  private readonly pods = new Set<Pod>();

  private constructor(
    readonly kubeconfig: string,
    readonly namespace: string,
    /** Where pods listen and the tests send traffic. */
    readonly podHost: string,
    /** Where the controller's xDS server listens so that pods reach it. */
    readonly hostAddress: string,
    private readonly netns: string | undefined,
    readonly fake: FakeApiServer | undefined,
    private readonly dir: string,
  ) {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    this.api = new KubeApi(kc);
    this.custom = this.api.custom;
    this.core = this.api.core;
    this.discovery = this.api.discovery;
  }

  static async start(): Promise<TestCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-kube-'));
    const namespace = `gh-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    if (!REAL) {
      const fake = new FakeApiServer();
      await fake.start();
      const kubeconfig = path.join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          // The client only speaks plain HTTP with TLS verification off.
          clusters: [{ name: 'fake', cluster: { server: fake.url, 'insecure-skip-tls-verify': true } }],
          users: [{ name: 'fake', user: { token: 'fake' } }],
          contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
          'current-context': 'fake',
        }),
      );
      return new TestCluster(kubeconfig, namespace, '127.0.0.1', '127.0.0.1', undefined, fake, dir);
    }
    const n = (process.pid % 200) + 20;
    const netns = `ghk8s${n}`;
    const sh = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    try {
      sh('netns', 'del', netns);
    } catch {
      // not there
    }
    sh('netns', 'add', netns);
    sh('link', 'add', `ghh${n}`, 'type', 'veth', 'peer', 'name', `ghp${n}`);
    sh('link', 'set', `ghp${n}`, 'netns', netns);
    sh('addr', 'add', `10.231.${n}.1/24`, 'dev', `ghh${n}`);
    sh('link', 'set', `ghh${n}`, 'up');
    sh('netns', 'exec', netns, 'ip', 'addr', 'add', `10.231.${n}.2/24`, 'dev', `ghp${n}`);
    sh('netns', 'exec', netns, 'ip', 'link', 'set', `ghp${n}`, 'up');
    sh('netns', 'exec', netns, 'ip', 'link', 'set', 'lo', 'up');
    const cluster = new TestCluster(
      process.env.KUBECONFIG!,
      namespace,
      `10.231.${n}.2`,
      `10.231.${n}.1`,
      netns,
      undefined,
      dir,
    );
    try {
      await cluster.installCrd();
      await cluster.core.createNamespace({ body: { metadata: { name: namespace } } });
    } catch (err) {
      // No test will run to close it: leave no network namespace behind.
      sh('netns', 'del', netns);
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return cluster;
  }

  /** Knative's KIngress CRD from the fixture, then wait until the API serves it. */
  private async installCrd(): Promise<void> {
    const ext = this.api.config.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = parseAllDocuments(readFileSync(CRD_FIXTURE, 'utf8'))[0]!.toJSON() as k8s.V1CustomResourceDefinition;
    try {
      await ext.createCustomResourceDefinition({ body: crd });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await this.custom.listClusterCustomObject({
          group: KINGRESS_GROUP,
          version: KINGRESS_VERSION,
          plural: KINGRESS_PLURAL,
        });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** A free port where pods listen (in the namespace every port is free). */
  async freePort(): Promise<number> {
    if (this.netns) return 20_000 + Math.floor(Math.random() * 20_000);
    return portToBindLater();
  }

  /** Starts a process as a pod and resolves with the first JSON log line that `ready` accepts. */
  async startPod(
    args: string[],
    env: Record<string, string>,
    ready: (line: Record<string, unknown>) => boolean,
    from: 'stdout' | 'stderr' = 'stderr',
  ): Promise<{ pod: Pod; line: Record<string, unknown> }> {
    return this.startProcess(true, args, env, ready, from);
  }

  /** A process on the host (a controller replica), outside the pods' network. */
  async startHostProcess(
    args: string[],
    env: Record<string, string>,
    ready: (line: Record<string, unknown>) => boolean,
  ): Promise<{ pod: Pod; line: Record<string, unknown> }> {
    return this.startProcess(false, args, env, ready, 'stderr');
  }

  private async startProcess(
    inPod: boolean,
    args: string[],
    env: Record<string, string>,
    ready: (line: Record<string, unknown>) => boolean,
    from: 'stdout' | 'stderr',
  ): Promise<{ pod: Pod; line: Record<string, unknown> }> {
    const [cmd, argv] =
      this.netns && inPod ? ['ip', ['netns', 'exec', this.netns, process.execPath, ...args]] : [process.execPath, args];
    const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: string[] = [];
    const exit = once(child, 'exit');
    const pod: Pod = {
      process: child,
      logs,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exit;
        }
      },
    };
    this.pods.add(pod);
    const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
      void exit.then(([code]) =>
        reject(new Error(`${args.join(' ')} exited with ${String(code)}: ${logs.slice(-5).join('\n')}`)),
      );
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (l) => {
          logs.push(l);
          if (logs.length > 500) logs.shift();
          try {
            const record = JSON.parse(l) as Record<string, unknown>;
            if ((stream === child.stdout) === (from === 'stdout') && ready(record)) resolve(record);
          } catch {
            // not JSON
          }
        });
      }
    });
    return { pod, line };
  }

  /**
   * `gatehouse controller` on the host, its xDS server reachable from the pods and its listeners on
   * these ports for the gateways, and the namespace's gateway Services; more flags after.
   */
  controllerArgs(ports: { externalPort: number; localPort: number }, ...extra: string[]): string[] {
    return [
      gatehouseBin,
      'controller',
      '--kubeconfig',
      this.kubeconfig,
      '--xds-host',
      this.hostAddress,
      '--xds-port',
      '0',
      '--listen-address',
      this.podHost,
      '--external-port',
      String(ports.externalPort),
      '--local-port',
      String(ports.localPort),
      '--gateway-service',
      `${this.namespace}/gatehouse`,
      '--local-gateway-service',
      `${this.namespace}/gatehouse-internal`,
      ...extra,
    ];
  }

  /** The example app behind a `gatehouse queue`; returns the queue's serving port (the pod's endpoint). */
  async startRevisionPod(target: string): Promise<{ port: number; stop(): Promise<void> }> {
    const app = await this.startPod(
      [exampleApp],
      { PORT: '0', HOST: this.netns ? '0.0.0.0' : '127.0.0.1', TARGET: target },
      (l) => typeof l.port === 'number',
      'stdout',
    );
    const queue = await this.startPod(
      [gatehouseBin, 'queue'],
      {
        USER_PORT: String(app.line.port),
        QUEUE_SERVING_PORT: '0',
        QUEUE_ADMIN_PORT: '0',
        QUEUE_METRICS_PORT: '0',
        QUEUE_USER_METRICS_PORT: '0',
        QUEUE_BIND_ADDRESS: this.podHost,
        SERVING_POD: `${target}-pod`,
        SERVING_REVISION: target,
        SERVING_NAMESPACE: this.namespace,
      },
      (l) => l.msg === 'queue-proxy listening',
    );
    return {
      port: Number(queue.line.servingPort),
      stop: async () => void (await Promise.all([queue.pod.stop(), app.pod.stop()])),
    };
  }

  /** A Service without selector and port 80 → `targetPort`, and its EndpointSlice at `ports` on the pod address. */
  async createService(
    name: string,
    endpoints: Array<{ port: number; ready?: boolean }>,
    portName = 'http',
  ): Promise<void> {
    await this.core.createNamespacedService({
      namespace: this.namespace,
      body: { metadata: { name }, spec: { ports: [{ name: portName, port: 80, protocol: 'TCP', targetPort: 8012 }] } },
    });
    await this.setEndpoints(name, endpoints, portName);
  }

  /** Replaces the Service's one EndpointSlice (one port number for all endpoints, as slices require). */
  async setEndpoints(
    service: string,
    endpoints: Array<{ port: number; ready?: boolean }>,
    portName = 'http',
  ): Promise<void> {
    const name = `${service}-slice`;
    const port = endpoints[0]?.port ?? 8012;
    const body: k8s.V1EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name, namespace: this.namespace, labels: { 'kubernetes.io/service-name': service } },
      addressType: 'IPv4',
      endpoints: endpoints.map((e) => ({ addresses: [this.podHost], conditions: { ready: e.ready ?? true } })),
      ports: [{ name: portName, port, protocol: 'TCP' }],
    };
    const namespace = this.namespace;
    await upsert(
      body,
      () => this.discovery.readNamespacedEndpointSlice({ namespace, name }),
      () => this.discovery.replaceNamespacedEndpointSlice({ namespace, name, body }),
      () => this.discovery.createNamespacedEndpointSlice({ namespace, body }),
    );
  }

  /** Creates or replaces a Secret (type kubernetes.io/tls unless told) with these data fields, given as text. */
  async putSecret(name: string, data: Record<string, string>, type = 'kubernetes.io/tls'): Promise<void> {
    const body: k8s.V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: this.namespace },
      type,
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    };
    const namespace = this.namespace;
    await upsert(
      body,
      () => this.core.readNamespacedSecret({ namespace, name }),
      () => this.core.replaceNamespacedSecret({ namespace, name, body }),
      () => this.core.createNamespacedSecret({ namespace, body }),
    );
  }

  async createIngress(name: string, spec: KIngress['spec'], ingressClass = GATEHOUSE_INGRESS_CLASS): Promise<void> {
    await this.custom.createNamespacedCustomObject({
      group: KINGRESS_GROUP,
      version: KINGRESS_VERSION,
      plural: KINGRESS_PLURAL,
      namespace: this.namespace,
      body: {
        apiVersion: `${KINGRESS_GROUP}/${KINGRESS_VERSION}`,
        kind: 'Ingress',
        metadata: { name, annotations: { 'networking.knative.dev/ingress.class': ingressClass } },
        spec,
      },
    });
  }

  async getIngress(name: string): Promise<KIngress> {
    return (await this.custom.getNamespacedCustomObject({
      group: KINGRESS_GROUP,
      version: KINGRESS_VERSION,
      plural: KINGRESS_PLURAL,
      namespace: this.namespace,
      name,
    })) as KIngress;
  }

  async updateIngress(name: string, edit: (i: KIngress) => void): Promise<void> {
    const current = await this.getIngress(name);
    edit(current);
    await this.custom.replaceNamespacedCustomObject({
      group: KINGRESS_GROUP,
      version: KINGRESS_VERSION,
      plural: KINGRESS_PLURAL,
      namespace: this.namespace,
      name,
      body: current,
    });
  }

  async deleteIngress(name: string): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({
      group: KINGRESS_GROUP,
      version: KINGRESS_VERSION,
      plural: KINGRESS_PLURAL,
      namespace: this.namespace,
      name,
    });
  }

  /** Polls the KIngress until `check` returns true (no fixed sleeps); the last object in the error otherwise. */
  async waitIngress(name: string, check: (i: KIngress) => boolean, timeoutMs = 20_000): Promise<KIngress> {
    const deadline = Date.now() + timeoutMs;
    let last: KIngress | undefined;
    for (;;) {
      last = await this.getIngress(name);
      if (check(last)) return last;
      if (Date.now() > deadline)
        throw new Error(`KIngress ${name} did not reach the expected state: ${JSON.stringify(last.status)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    if (this.netns) {
      // Leave nothing in the shared API server that a later run's controller would serve.
      const list = (await this.custom.listNamespacedCustomObject({
        group: KINGRESS_GROUP,
        version: KINGRESS_VERSION,
        plural: KINGRESS_PLURAL,
        namespace: this.namespace,
      })) as { items: KIngress[] };
      for (const i of list.items) await this.deleteIngress(i.metadata.name);
    }
    await Promise.all([...this.pods].map((p) => p.stop()));
    await this.fake?.close();
    if (this.netns) {
      try {
        await this.core.deleteNamespace({ name: this.namespace });
      } catch {
        // best effort: without a controller-manager it stays Terminating, which harms nothing
      }
      execFileSync('ip', ['netns', 'del', this.netns]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Replaces the object at its current resourceVersion, or creates it when there is none. */
async function upsert(
  body: { metadata?: { resourceVersion?: string } },
  read: () => Promise<{ metadata?: { resourceVersion?: string } }>,
  replace: () => Promise<unknown>,
  create: () => Promise<unknown>,
): Promise<void> {
  try {
    body.metadata!.resourceVersion = (await read()).metadata?.resourceVersion;
    await replace();
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await create();
  }
}

/** What every controller test starts with: the gateway Services in the test namespace, no election, fast reconnects. */
export function controllerOptions(
  cluster: TestCluster,
  ports: { externalPort: number; localPort: number; httpsPort?: number },
  name: string,
): ControllerOptions {
  return {
    api: cluster.api,
    log: createLogger(name),
    ingressClass: GATEHOUSE_INGRESS_CLASS,
    listeners: { externalPort: ports.externalPort, localPort: ports.localPort, address: cluster.podHost },
    ...(ports.httpsPort === undefined ? {} : { httpsPort: ports.httpsPort }),
    externalGateway: { namespace: cluster.namespace, name: 'gatehouse' },
    localGateway: { namespace: cluster.namespace, name: 'gatehouse-internal' },
    xdsPort: 0,
    xds: { host: cluster.hostAddress },
    leaderElection: undefined,
    resyncMs: 0,
    clusterDomain: 'cluster.local',
    reconnect: { initialMs: 50, maxMs: 500 },
  };
}

export function condition(i: KIngress, type: string) {
  return i.status?.conditions?.find((c) => c.type === type);
}

export const isReady = (i: KIngress) =>
  i.status?.observedGeneration === i.metadata.generation && condition(i, 'Ready')?.status === 'True';
