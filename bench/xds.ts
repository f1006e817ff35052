// `npm run bench:xds`: what xDS costs at 1,000 and 10,000 services, as `gatehouse up` serves it
// (snapshots by role, the IncrementalTranslator flushing into the cache).
//   1. A new Envoy gateway's full initial config: a raw ADS client built from Envoy's protos, node
//      cluster gatehouse-ingress, subscribing to CDS, EDS, LDS, SRDS and RDS in Envoy's order and
//      ACKing each; time and bytes, state of the world and Delta alternated in rounds (medians).
//   2. One route change among them: IncrementalTranslator → cache → the client, median of CHANGES.
//   3. The same two with `routing: 'single'` (one RouteConfiguration per listener, plain RDS).
//   4. `gatehouse up` (in this process, embedded gateway, services at zero): a new Service →
//      probe-confirmed Ready, p50 at 1,000 and 10,000 services; 10,000 services from start to all
//      Ready, and the process RSS then.
// BENCH_SIZES (default 1000,10000), CHANGES (11), ROUNDS (5), NEW_SERVICES (9), UP=0 skips part 4,
// BENCH_PROFILE=file.cpuprofile profiles the new Services of part 4.
// Beside each initial config, in the same rounds: net-kourier's config for the same services
// (bench/lib/kourier-config.ts), served by gatehouse's own xDS server and, when GO_CONTROL_PLANE_BIN
// names a harness (bench/lib/go-control-plane.ts), by go-control-plane; bytes and time are printed
// as ratios to it. At 10,000 services also the ratio to issue 17's recorded figures.
import { spawnSync } from 'node:child_process';
import inspector from 'node:inspector/promises';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { IncrementalTranslator } from '../src/translate/incremental.js';
import type { RouteMode } from '../src/translate/route-resources.js';
import type { DesiredState, RevisionSpec } from '../src/model/desired.js';
import { createLogger, setLogLevel } from '../src/log/logger.js';
import { loopbackUpOptions, serviceYaml } from '../src/bench/services.js';
import { startUp } from '../src/up/orchestrator.js';
import { startXdsServer, type XdsServer } from '../src/xds/index.js';
import { GATEWAY_NODE_CLUSTER } from '../src/envoy/node-role.js';
import { TYPE_URL } from '../src/envoy/protos.js';
import { envoyRoot } from '../src/envoy/protos.js';
import { desired, revision, route, routing } from '../test/support/desired.js';
import { KOURIER_ROUTE_CONFIGS, kourierResources } from './lib/kourier-config.js';
import { encodeSnapshot, startGoControlPlane } from './lib/go-control-plane.js';
import { exampleAppPath } from '../test/support/app.js';

const sizes = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number);
const changes = Number(process.env.CHANGES ?? 11);
const rounds = Number(process.env.ROUNDS ?? 5);
const newServices = Number(process.env.NEW_SERVICES ?? 9);
const bytes = (b: Buffer) => b;
setLogLevel('warn');
const log = createLogger('bench');

// Revisions are immutable: the same name is the same spec object, in every state.
const specs = new Map<string, RevisionSpec>();
const spec = (name: string) => specs.get(name) ?? specs.set(name, revision(name)).get(name)!;

function manyServices(n: number): DesiredState {
  const routes = [];
  const revisions = [];
  for (let i = 0; i < n; i++) {
    const name = `svc${i}`;
    routes.push(route(name, [{ revisionName: `${name}-00001`, percent: 100 }]));
    revisions.push(routing(spec(`${name}-00001`), 'serve', [{ host: '127.0.0.1', port: 10000 + (i % 50000) }]));
    if (i === 0) revisions.push(routing(spec(`${name}-00002`), 'proxy', []));
  }
  return desired(routes, revisions);
}

interface Received {
  typeUrl: string;
  nonce: string;
  version: string;
  size: number;
}

/** A response's type URL, nonce and version, read without decoding its resources. */
function responseHead(
  type: protobuf.Type,
): (data: Buffer) => { type_url: string; nonce: string; version_info: string } {
  const version = type.fields.version_info ?? type.fields.system_version_info!;
  const ids = { typeUrl: type.fields.type_url!.id, nonce: type.fields.nonce!.id, version: version.id };
  return (data) => {
    const reader = protobuf.Reader.create(data);
    const m = { type_url: '', nonce: '', version_info: '' };
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const id = tag >>> 3;
      if (id === ids.typeUrl) m.type_url = reader.string();
      else if (id === ids.nonce) m.nonce = reader.string();
      else if (id === ids.version) m.version_info = reader.string();
      else reader.skipType(tag & 7);
    }
    return m;
  };
}

class CountingStream {
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly req: ReturnType<typeof envoyRoot>['lookupType'] extends (n: string) => infer T ? T : never;
  private resolveNext: ((r: Received) => void) | undefined;
  private readonly backlog: Received[] = [];

  constructor(
    port: number,
    private readonly delta: boolean,
    private readonly node = { id: 'bench-gateway', cluster: GATEWAY_NODE_CLUSTER },
  ) {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
    });
    this.call = client.makeBidiStreamRequest(
      `/envoy.service.discovery.v3.AggregatedDiscoveryService/${delta ? 'Delta' : 'Stream'}AggregatedResources`,
      bytes,
      bytes,
    );
    const root = envoyRoot();
    this.req = root.lookupType(
      delta ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest',
    );
    // Read only the small fields of each response and skip the resources, as a C++ client's cost per
    // resource is far below protobufjs's: the time measured is the server's and the transport's.
    const head = responseHead(
      root.lookupType(
        delta ? 'envoy.service.discovery.v3.DeltaDiscoveryResponse' : 'envoy.service.discovery.v3.DiscoveryResponse',
      ),
    );
    this.call.on('data', (data: Buffer) => {
      const m = head(data);
      const item = { typeUrl: m.type_url, nonce: m.nonce, version: m.version_info ?? '', size: data.length };
      if (this.resolveNext) {
        const r = this.resolveNext;
        this.resolveNext = undefined;
        r(item);
      } else this.backlog.push(item);
    });
    this.call.on('error', () => {});
  }

  send(fields: Record<string, unknown>): void {
    this.call.write(Buffer.from(this.req.encode(this.req.fromObject({ node: this.node, ...fields })).finish()));
  }

  next(): Promise<Received> {
    const queued = this.backlog.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => (this.resolveNext = resolve));
  }

  /**
   * Subscribes to each type with its names (none: all), as Envoy would in push order, and waits for each response;
   * returns bytes per type.
   */
  async subscribeAll(subs: Subscriptions): Promise<Record<string, number>> {
    const sizes: Record<string, number> = {};
    for (const [typeUrl, names] of subs) {
      this.send(
        this.delta
          ? { type_url: typeUrl, resource_names_subscribe: names }
          : { type_url: typeUrl, resource_names: names },
      );
      // go-control-plane in ADS mode never answers a request that leaves out some of a type's names: say so.
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        this.next(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no ${typeUrl} response in 60 s`)), 60_000);
        }),
      ]).finally(() => clearTimeout(timer));
      sizes[typeUrl] = r.size;
      this.ack(typeUrl, r, names);
    }
    return sizes;
  }

  /** ACKs a response; SotW restates the names and the version it now holds. */
  ack(typeUrl: string, r: Received, names: string[]): void {
    this.send(
      this.delta
        ? { type_url: typeUrl, response_nonce: r.nonce }
        : { type_url: typeUrl, resource_names: names, response_nonce: r.nonce, version_info: r.version },
    );
  }

  close(): void {
    this.call.cancel();
  }
}

/** Per type in Envoy's push order, the names a gateway asks for (none: every resource of the type). */
type Subscriptions = Array<[typeUrl: string, names: string[]]>;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const mib = (n: number) => (n / 1024 / 1024).toFixed(2);
const out = (line: string) => process.stdout.write(line + '\n');

const KIND_LABELS = [
  [TYPE_URL.cluster, 'CDS'],
  [TYPE_URL.endpoint, 'EDS'],
  [TYPE_URL.listener, 'LDS'],
  [TYPE_URL.scopedRoute, 'SRDS'],
  [TYPE_URL.route, 'RDS'],
] as const;

/** A server a new gateway's initial config is timed against, with what that gateway asks it for. */
interface Target {
  name: string;
  port: number;
  subs: Subscriptions;
  delta: boolean;
}

const KOURIER_ON_GATEHOUSE = 'kourier on gatehouse';
const KOURIER_ON_GO = 'kourier on go-control-plane';

const OURS_ON_GO = 'ours on go-control-plane';

/**
 * net-kourier's config for `state` on a second gatehouse xDS server; with go-control-plane given, that config and
 * gatehouse's own (`ours`: the bytes the ingress role's gateway gets from `xds`, asked for with `oursSubs`) on it too.
 * Whatever started is stopped if a later start fails.
 */
async function startReferences(
  state: DesiredState,
  xds: XdsServer,
  oursSubs: Subscriptions,
): Promise<{ targets: Target[]; stop: () => Promise<void> }> {
  const resources = kourierResources(state);
  const stops: Array<() => unknown> = [];
  const stop = async () => void (await Promise.all(stops.map((s) => s())));
  try {
    const own = await startXdsServer({ port: 0, groupBy: 'role', log });
    stops.push(() => own.close());
    own.cache.setTranslation(resources, 'ingress');
    // Its clusters are STATIC (no EDS) and its listeners use plain RDS (no SRDS).
    const subs: Subscriptions = [
      [TYPE_URL.cluster, []],
      [TYPE_URL.listener, []],
      [TYPE_URL.route, [...KOURIER_ROUTE_CONFIGS]],
    ];
    const targets: Target[] = [{ name: KOURIER_ON_GATEHOUSE, port: own.port, subs, delta: false }];
    const bin = process.env.GO_CONTROL_PLANE_BIN;
    if (bin) {
      const go = await startGoControlPlane(bin, encodeSnapshot(resources));
      stops.push(go.stop);
      targets.push({ name: KOURIER_ON_GO, port: go.port, subs, delta: false });
      const served = oursSubs.map(([typeUrl]): [string, Uint8Array[]] => [
        typeUrl,
        [...ingressResources(xds, typeUrl).values()].map((r) => r.bytes),
      ]);
      const goOurs = await startGoControlPlane(bin, served);
      stops.push(goOurs.stop);
      targets.push({ name: OURS_ON_GO, port: goOurs.port, subs: oursSubs, delta: false });
    }
    return { targets, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What the ingress role holds of a type, by name. */
const ingressResources = (xds: XdsServer, typeUrl: string) =>
  xds.cache.get('ingress', typeUrl)?.resources ?? new Map<string, never>();

/** The ingress role's names of a type, as a gateway would ask for them. */
const namesOf = (xds: XdsServer, typeUrl: string) => [...ingressResources(xds, typeUrl).keys()];

async function xdsAt(n: number, mode: RouteMode): Promise<void> {
  const state = manyServices(n);
  const xds = await startXdsServer({ port: 0, groupBy: 'role', log });
  const incremental = new IncrementalTranslator(state.domain, state.listeners, { routing: mode });
  let t0 = process.hrtime.bigint();
  for (const r of state.revisions.values()) incremental.setRevision(r);
  for (const r of state.routes) incremental.setRoute(r);
  xds.cache.applyChanges(incremental.flush('by-role'));
  const buildMs = ms(t0);
  const clusterNames = namesOf(xds, TYPE_URL.endpoint);
  const routeConfigNames = namesOf(xds, TYPE_URL.route);
  const label = `${n} services, routing ${mode}`;
  out(`${label}: translate and encode (every role) ${buildMs.toFixed(0)} ms`);

  // 1. A new gateway's initial config, SotW and Delta, alternated in rounds with the references.
  // With routing single the listeners name RouteConfigurations, so Envoy never asks for scopes.
  const subs: Subscriptions = [
    [TYPE_URL.cluster, []],
    [TYPE_URL.endpoint, clusterNames],
    [TYPE_URL.listener, []],
    ...(mode === 'scoped' ? [[TYPE_URL.scopedRoute, []] satisfies Subscriptions[number]] : []),
    [TYPE_URL.route, routeConfigNames],
  ];
  const references = await startReferences(state, xds, subs);
  const targets: Target[] = [
    { name: 'sotw', port: xds.port, subs, delta: false },
    { name: 'delta', port: xds.port, subs, delta: true },
    ...references.targets,
  ];
  const times = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  const sizesOf = new Map<string, Record<string, number>>();
  try {
    // Each round starts with the next target, so that no target always follows the same one.
    for (let round = 0; round < rounds; round++)
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(round + i) % targets.length]!;
        const stream = new CountingStream(target.port, target.delta, {
          id: `gw-${round}-${target.name}`,
          cluster: GATEWAY_NODE_CLUSTER,
        });
        t0 = process.hrtime.bigint();
        try {
          sizesOf.set(target.name, await stream.subscribeAll(target.subs));
        } finally {
          stream.close();
        }
        times.get(target.name)!.push(ms(t0));
      }
  } finally {
    await references.stop();
  }
  const p50 = (name: string) => median(times.get(name)!);
  const total = (name: string) => Object.values(sizesOf.get(name)!).reduce((a, b) => a + b, 0);
  const byType = (name: string) =>
    KIND_LABELS.flatMap(([typeUrl, kind]) => {
      const size = sizesOf.get(name)![typeUrl];
      return size === undefined ? [] : [`${kind} ${mib(size)}`];
    }).join(', ');
  for (const api of ['sotw', 'delta'])
    out(
      `${label}: new gateway, ${api.padEnd(5)} initial config p50 ${p50(api).toFixed(0)} ms (of ${rounds}), ` +
        `${mib(total(api))} MiB: ${byType(api)} MiB`,
    );
  const goServed = times.has(KOURIER_ON_GO);
  out(
    `${label}: net-kourier's config for the same services (knative-v1.12.3), SotW, ` +
      `${mib(total(KOURIER_ON_GATEHOUSE))} MiB: ${byType(KOURIER_ON_GATEHOUSE)} MiB; ` +
      `p50 ${p50(KOURIER_ON_GATEHOUSE).toFixed(0)} ms served by gatehouse` +
      (goServed ? `, ${p50(KOURIER_ON_GO).toFixed(0)} ms by go-control-plane` : ''),
  );
  const timeAgainst = goServed ? KOURIER_ON_GO : KOURIER_ON_GATEHOUSE;
  out(
    `${label}: beside it, same run: bytes ${(total('sotw') / total(KOURIER_ON_GATEHOUSE)).toFixed(2)}× ` +
      `(target ≤ 1.5), time ${(p50('sotw') / p50(timeAgainst)).toFixed(2)}× ` +
      (goServed
        ? 'go-control-plane serving it (target ≤ 1.0)'
        : 'gatehouse serving it (GO_CONTROL_PLANE_BIN not given)'),
  );
  if (goServed)
    out(
      `${label}: the same resources as ours served by go-control-plane: p50 ${p50(OURS_ON_GO).toFixed(0)} ms, ` +
        `${mib(total(OURS_ON_GO))} MiB (gatehouse ${(p50('sotw') / p50(OURS_ON_GO)).toFixed(2)}× its time)`,
    );
  if (n === 10_000) {
    // Issue 17's reduced Kourier-shaped config on go-control-plane v0.11.1: 0.6 MiB of CDS and 1.3 MiB of RDS,
    // everything in 120 ms; its EDS is counted as ours.
    const reference = (0.6 + 1.3) * 1024 * 1024 + (sizesOf.get('sotw')![TYPE_URL.endpoint] ?? 0);
    out(
      `${label}: beside issue 17's recorded figures (not this run): bytes ` +
        `${(total('sotw') / reference).toFixed(2)}× (target ≤ 1.5), time ${(p50('sotw') / 120).toFixed(2)}× ` +
        `(target ≤ 1.0)`,
    );
  }

  // 2. One route change, to a gateway holding everything (Delta, as Envoy's DELTA_GRPC bootstrap).
  const stream = new CountingStream(xds.port, true, { id: 'gw-changes', cluster: GATEWAY_NODE_CLUSTER });
  await stream.subscribeAll(subs);
  const route0 = state.routes[0]!;
  const translateTimes: number[] = [];
  const deliveryTimes: number[] = [];
  let responses = '';
  for (let i = 0; i < changes; i++) {
    const split = i % 2 === 0 ? 60 : 70;
    const t1 = process.hrtime.bigint();
    incremental.setRoute(
      route(route0.name, [
        { revisionName: `${route0.name}-00001`, percent: split },
        { revisionName: `${route0.name}-00002`, percent: 100 - split },
      ]),
    );
    translateTimes.push(ms(t1));
    xds.cache.applyChanges(incremental.flush('by-role'));
    const received: Received[] = [];
    do received.push(await stream.next());
    while (received[received.length - 1]!.typeUrl !== TYPE_URL.route);
    deliveryTimes.push(ms(t1) - translateTimes[i]!);
    for (const r of received) stream.ack(r.typeUrl, r, []);
    responses = received.map((r) => `${r.typeUrl.split('.').pop()} ${(r.size / 1024).toFixed(1)} KiB`).join(', ');
  }
  out(
    `${label}: one route change p50 ${median(translateTimes.map((t, i) => t + deliveryTimes[i]!)).toFixed(2)} ms to ` +
      `the client (translate ${median(translateTimes).toFixed(2)} + cache and delivery ` +
      `${median(deliveryTimes).toFixed(2)}; max ` +
      `${Math.max(...translateTimes.map((t, i) => t + deliveryTimes[i]!)).toFixed(1)} ms; sent: ${responses})`,
  );
  stream.close();
  await xds.close();
}

/** Polls without starving gatehouse, which runs in this process. */
async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

const atZero = { 'autoscaling.knative.dev/initial-scale': '0' };
const service = (name: string) => serviceYaml(name, { target: name, annotations: atZero, appPath: exampleAppPath });

async function upAt(n: number): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-xds-'));
  const file = path.join(dir, 'services.yaml');
  writeFileSync(file, Array.from({ length: n }, (_, i) => service(`svc-${i}`)).join(''));
  const started = performance.now();
  const up = await startUp(loopbackUpOptions(file, log));
  await up.whenReady(600_000);
  const readyMs = performance.now() - started;
  const rss = process.memoryUsage().rss;
  out(
    `up, ${n} services at zero: all Ready ${(readyMs / 1000).toFixed(1)} ` +
      `s after start, RSS ${(rss / 1024 / 1024).toFixed(0)} MiB`,
  );
  const profile = process.env.BENCH_PROFILE ? await startProfile() : undefined;
  const times: number[] = [];
  for (let i = 0; i < newServices; i++) {
    await new Promise((r) => setTimeout(r, 500)); // each on a settled system
    const name = `new-${i}`;
    const t0 = performance.now();
    appendFileSync(file, service(name));
    await until(() => up.route('default', name)?.ready === true, 30_000, `${name} to be Ready`);
    times.push(performance.now() - t0);
  }
  out(
    `up, ${n} services at zero: a new Service → probe-confirmed Ready p50 ${median(times).toFixed(0)} ` +
      `ms (of ${newServices}, from the file write; max ${Math.max(...times).toFixed(0)} ms)`,
  );
  if (profile) await profile(process.env.BENCH_PROFILE!);
  await up.close();
}

/** BENCH_PROFILE=file.cpuprofile: a CPU profile of the new Services only (open it in Chrome's DevTools). */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new inspector.Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

/** Exits once stdout has taken every line (writes to a pipe are asynchronous; exit would drop them). */
async function exitWhenWritten(): Promise<never> {
  await new Promise((written) => process.stdout.write('', written));
  process.exit(0);
}

// Each `up` runs in a fresh process of its own, so that its RSS is its own.
if (process.env.BENCH_UP_ONLY) {
  await upAt(Number(process.env.BENCH_UP_ONLY));
  await exitWhenWritten();
}
if (process.env.UP !== '0') {
  for (const n of sizes) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, BENCH_UP_ONLY: String(n) },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (child.status !== 0) throw new Error(`the up bench with ${n} services failed (exit ${child.status})`);
  }
}
for (const n of sizes) for (const mode of ['scoped', 'single'] as const) await xdsAt(n, mode);
await exitWhenWritten();
