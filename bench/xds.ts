// `npm run bench:xds`: time and memory to push 1,000 and 10,000 services (clusters, assignments,
// listeners, routes) to one client over state-of-the-world and Delta ADS, and the time for one
// route change among them to reach the client. The client here only frames and counts responses,
// so the figures are the server's. A route change is timed two ways: as `gatehouse up` makes it
// (a long-lived Translator given the whole desired state again, revision specs shared between
// states the way the controller shares them) and through the IncrementalTranslator (that route
// only, as a producer that knows what changed makes it).
// BENCH_SIZES=1000,10000 to choose sizes, CHANGES (default 11) how many route changes to time.
import * as grpc from '@grpc/grpc-js';
import { Translator } from '../src/translate/index.js';
import { IncrementalTranslator } from '../src/translate/incremental.js';
import type { RevisionSpec } from '../src/model/desired.js';
import { startXdsServer, TYPE_URL } from '../src/xds/index.js';
import { envoyRoot } from '../src/xds/protos.js';
import { desired, revision, route, routing } from '../test/support/desired.js';

const sizes = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number);
const bytes = (b: Buffer) => b;

// Revisions are immutable: the same name is the same spec object, in every state.
const specs = new Map<string, RevisionSpec>();
const spec = (name: string) => specs.get(name) ?? specs.set(name, revision(name)).get(name)!;

function manyServices(n: number, split = 100) {
  const routes = [];
  const revisions = [];
  for (let i = 0; i < n; i++) {
    const name = `svc${i}`;
    const traffic = i === 0 && split !== 100
      ? [{ revisionName: `${name}-00001`, percent: split }, { revisionName: `${name}-00002`, percent: 100 - split }]
      : [{ revisionName: `${name}-00001`, percent: 100 }];
    routes.push(route(name, traffic));
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

class CountingStream {
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly req: ReturnType<typeof envoyRoot>['lookupType'] extends (n: string) => infer T ? T : never;
  private resolveNext: ((r: Received) => void) | undefined;
  private readonly backlog: Received[] = [];

  constructor(port: number, private readonly delta: boolean) {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
    this.call = client.makeBidiStreamRequest(
      `/envoy.service.discovery.v3.AggregatedDiscoveryService/${delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources'}`,
      bytes,
      bytes,
    );
    const root = envoyRoot();
    this.req = root.lookupType(delta ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest');
    // Read only the small fields of each response; the resources are left as bytes.
    const head = root.lookupType(delta ? 'envoy.service.discovery.v3.DeltaDiscoveryResponse' : 'envoy.service.discovery.v3.DiscoveryResponse');
    this.call.on('data', (data: Buffer) => {
      const m = head.decode(data) as unknown as { type_url: string; nonce: string; version_info?: string };
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
    this.call.write(Buffer.from(this.req.encode(this.req.fromObject({ node: { id: 'bench', cluster: 'bench' }, ...fields })).finish()));
  }

  next(): Promise<Received> {
    const queued = this.backlog.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => (this.resolveNext = resolve));
  }

  /** Subscribes to all five types, as Envoy would in push order, and waits for the responses; returns total bytes. */
  async subscribeAll(clusterNames: string[], routeConfigNames: string[]): Promise<number> {
    const subs: Array<[string, string[]]> = [
      [TYPE_URL.cluster, []],
      [TYPE_URL.endpoint, clusterNames],
      [TYPE_URL.listener, []],
      [TYPE_URL.scopedRoute, []],
      [TYPE_URL.route, routeConfigNames],
    ];
    let total = 0;
    for (const [typeUrl, names] of subs) {
      this.send(this.delta ? { type_url: typeUrl, resource_names_subscribe: names } : { type_url: typeUrl, resource_names: names });
      const r = await this.next();
      total += r.size;
      this.ack(typeUrl, r, names);
    }
    return total;
  }

  /** ACKs a response; SotW restates the names and the version it now holds. */
  ack(typeUrl: string, r: Received, names: string[]): void {
    this.send(this.delta ? { type_url: typeUrl, response_nonce: r.nonce } : { type_url: typeUrl, resource_names: names, response_nonce: r.nonce, version_info: r.version });
  }

  close(): void {
    this.call.cancel();
  }
}

const changes = Number(process.env.CHANGES ?? 11);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const mib = (n: number) => (n / 1024 / 1024).toFixed(1);

for (const n of sizes) {
  const state = manyServices(n);
  const translator = new Translator();
  let t0 = process.hrtime.bigint();
  const translation = translator.translate(state);
  const translateMs = ms(t0);
  const xds = await startXdsServer({ port: 0 });
  const heapBefore = process.memoryUsage().heapUsed;
  t0 = process.hrtime.bigint();
  xds.cache.setTranslation(translation);
  const encodeMs = ms(t0);
  const heapAfter = process.memoryUsage().heapUsed;
  const clusterNames = translation.endpoints.map((e) => String(e.cluster_name));
  const routeConfigNames = translation.routes.map((r) => String(r.name));

  // The incremental translator starts from the same state: flushing it changes nothing.
  const incremental = new IncrementalTranslator(state.domain, state.listeners);
  for (const r of state.revisions.values()) incremental.setRevision(r);
  for (const r of state.routes) incremental.setRoute(r);
  incremental.flush(xds.cache);
  const route0 = state.routes[0]!;

  for (const delta of [false, true]) {
    const stream = new CountingStream(xds.port, delta);
    t0 = process.hrtime.bigint();
    const total = await stream.subscribeAll(clusterNames, routeConfigNames);
    const pushMs = ms(t0);
    process.stdout.write(`${n} services  ${delta ? 'delta' : 'sotw '}  initial push ${pushMs.toFixed(1)} ms (${mib(total)} MiB)\n`);

    /** Times `changes` route changes made by `change` (which returns its translate time): cache, delivery, ACK. */
    const timeChanges = async (label: string, change: (split: number) => number) => {
      const translateTimes: number[] = [];
      const changeTimes: number[] = [];
      let responses = '';
      for (let i = 0; i < changes; i++) {
        const t1 = process.hrtime.bigint();
        translateTimes.push(change(i % 2 === 0 ? 60 : 70));
        // Only the route's RouteConfigurations change; anything else arriving would be wasted work.
        const received: Received[] = [];
        do received.push(await stream.next());
        while (received[received.length - 1]!.typeUrl !== TYPE_URL.route);
        changeTimes.push(ms(t1) - translateTimes[i]!);
        for (const r of received) stream.ack(r.typeUrl, r, r.typeUrl === TYPE_URL.route ? routeConfigNames : r.typeUrl === TYPE_URL.endpoint ? clusterNames : []);
        responses = received.map((r) => `${r.typeUrl.split('.').pop()} ${(r.size / 1024).toFixed(0)} KiB`).join(', ');
      }
      process.stdout.write(
        `${n} services  ${delta ? 'delta' : 'sotw '}  one route change, ${label} (p50 of ${changes}): translate ${median(translateTimes).toFixed(1)} ms` +
          ` + cache and delivery ${median(changeTimes).toFixed(1)} ms (max ${Math.max(...changeTimes).toFixed(1)} ms; responses: ${responses})\n`,
      );
    };
    const timed = (f: () => void) => {
      const start = process.hrtime.bigint();
      f();
      return ms(start);
    };

    // What `gatehouse up` does: the whole desired state again, changes found by key.
    xds.cache.setTranslation(translator.translate(state)); // (re)establishes the cache's same-places fast path
    await timeChanges('full state', (split) => {
      const changed = manyServices(n, split);
      let next!: ReturnType<Translator['translate']>;
      const translateMs = timed(() => (next = translator.translate(changed)));
      xds.cache.setTranslation(next);
      return translateMs;
    });
    xds.cache.setTranslation(translator.translate(state));
    // What a producer that knows the change does: that route only.
    await timeChanges('incremental', (split) => {
      const translateMs = timed(() => incremental.setRoute(route(route0.name, [{ revisionName: `${route0.name}-00001`, percent: split }, { revisionName: `${route0.name}-00002`, percent: 100 - split }])));
      incremental.flush(xds.cache);
      return translateMs;
    });
    incremental.setRoute(route0);
    incremental.flush(xds.cache);
    stream.close();
  }
  process.stdout.write(`${n} services  translate ${translateMs.toFixed(1)} ms, first encode into the cache ${encodeMs.toFixed(1)} ms, cache heap +${mib(heapAfter - heapBefore)} MiB, rss ${mib(process.memoryUsage().rss)} MiB\n`);
  await xds.close();
}
process.exit(0);
