// The prober with its clock and HTTP in the test's hands: what it asks, when it asks again, and
// when a route counts as confirmed. No sockets, no timers of its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Prober,
  PROBE_CONCURRENCY,
  type GatewayTarget,
  type ProbeHttp,
  type RouteExpectation,
} from '../../src/prober/prober.js';
import { captureLog } from '../support/capture-log.js';
import { ManualClock, settle } from '../support/manual-clock.js';

/** A gateway per host: answers with whatever hash `serving` holds for that port (undefined: refuses). */
function fakeGateways(serving: Map<number, string | undefined>) {
  const asked: Array<{ port: number; host: string; headers: Record<string, string> }> = [];
  const http: ProbeHttp = async ({ port, headers }) => {
    asked.push({ port, host: headers.host!, headers });
    const hash = serving.get(port);
    if (hash === undefined) throw new Error('connect ECONNREFUSED');
    return { status: 200, hash };
  };
  return { http, asked };
}

const gw = (id: string, externalPort: number, localPort: number): GatewayTarget => ({
  id,
  host: '127.0.0.1',
  externalPort,
  localPort,
});
const expectation = (hash: string): RouteExpectation => ({
  hash,
  externalHosts: ['hello.default.example.com'],
  localHosts: ['hello.default.svc.cluster.local'],
});

test(
  'a route is confirmed when every host on every gateway ' + 'answers with its hash; the probe says who it is',
  async () => {
    const serving = new Map<number, string | undefined>([
      [1, 'h1'],
      [2, 'h1'],
      [3, 'h1'],
      [4, 'h1'],
    ]);
    const { http, asked } = fakeGateways(serving);
    const changed: string[] = [];
    const prober = new Prober(captureLog(), (key) => changed.push(key), { http, clock: new ManualClock() });
    prober.setGateways([gw('a', 1, 2), gw('b', 3, 4)]);
    prober.expect(new Map([['default/hello', expectation('h1')]]));
    await settle();
    assert.deepEqual(prober.routeState('default/hello'), { ready: true });
    assert.deepEqual(changed, ['default/hello', 'default/hello'], 'once per gateway');
    assert.deepEqual(asked.map((a) => `${a.port} ${a.host}`).sort(), [
      '1 hello.default.example.com',
      '2 hello.default.svc.cluster.local',
      '3 hello.default.example.com',
      '4 hello.default.svc.cluster.local',
    ]);
    assert.deepEqual(asked[0]!.headers, {
      host: asked[0]!.host,
      'k-network-probe': 'probe',
      'k-network-hash': 'override',
      'user-agent': 'Knative-Ingress-Probe',
    });
  },
);

test(
  'failures back off 50, 100, 200 ms … and say why; the ' + 'gateway serving the hash confirms at the next try',
  async () => {
    const serving = new Map<number, string | undefined>([
      [1, undefined],
      [2, 'h1'],
    ]);
    const { http } = fakeGateways(serving);
    const clock = new ManualClock();
    const prober = new Prober(captureLog(), () => {}, { http, clock });
    prober.setGateways([gw('a', 1, 2)]);
    prober.expect(new Map([['default/hello', expectation('h1')]]));
    await settle();
    assert.deepEqual(prober.routeState('default/hello'), {
      ready: false,
      message: 'waiting for a (hello.default.example.com: connect ECONNREFUSED) to serve hash h1',
    });
    serving.set(1, 'h0');
    for (let i = 0; i < 3; i++) await clock.advance(clock.delays.at(-1)!);
    assert.deepEqual(clock.delays, [50, 100, 200, 400]);
    assert.match(prober.routeState('default/hello').message!, /serves hash h0/);
    serving.set(1, 'h1');
    await clock.advance(400);
    assert.deepEqual(prober.routeState('default/hello'), { ready: true });
    assert.equal(clock.pending(), 0, 'nothing left scheduled');
  },
);

test('retryNow probes a waiting route at once instead of after its backoff', async () => {
  const serving = new Map<number, string | undefined>([
    [1, 'old'],
    [2, 'old'],
  ]);
  const { http, asked } = fakeGateways(serving);
  const clock = new ManualClock();
  const prober = new Prober(captureLog(), () => {}, { http, clock });
  prober.setGateways([gw('a', 1, 2)]);
  prober.expect(new Map([['default/hello', expectation('new')]]));
  await settle();
  const before = asked.length;
  serving.set(1, 'new');
  serving.set(2, 'new');
  prober.retryNow();
  await settle();
  assert.equal(asked.length, before + 2);
  assert.deepEqual(prober.routeState('default/hello'), { ready: true });
  assert.equal(clock.pending(), 0);
});

test('retryNow(gateway) probes again only what waits on the gateway that acknowledged', async () => {
  const serving = new Map<number, string | undefined>([
    [1, 'old'],
    [2, 'old'],
    [3, 'old'],
    [4, 'old'],
  ]);
  const { http, asked } = fakeGateways(serving);
  const clock = new ManualClock();
  const prober = new Prober(captureLog(), () => {}, { http, clock });
  prober.setGateways([gw('a', 1, 2), gw('b', 3, 4)]);
  prober.expect(new Map([['default/hello', expectation('new')]]));
  await settle();
  for (const port of [1, 2, 3, 4]) serving.set(port, 'new');
  const before = asked.length;
  prober.retryNow('b');
  await settle();
  assert.deepEqual(
    asked.slice(before).map((a) => a.port),
    [3, 4],
  );
  assert.match(prober.routeState('default/hello').message!, /^waiting for a /);
  assert.equal(clock.pending(), 1, "a's probe still waits out its backoff");
});

test(
  'a new hash needs confirming again; a gateway that ' + 'leaves takes its confirmations; no gateway is not ready',
  async () => {
    const serving = new Map<number, string | undefined>([
      [1, 'h1'],
      [2, 'h1'],
      [3, 'h1'],
      [4, 'h1'],
    ]);
    const { http } = fakeGateways(serving);
    const clock = new ManualClock();
    const prober = new Prober(captureLog(), () => {}, { http, clock });
    assert.deepEqual(prober.routeState('default/hello'), { ready: false, message: 'not programmed' });
    prober.expect(new Map([['default/hello', expectation('h1')]]));
    assert.deepEqual(prober.routeState('default/hello'), {
      ready: false,
      message: 'no gateway is connected to the xDS server',
    });
    prober.setGateways([gw('a', 1, 2), gw('b', 3, 4)]);
    await settle();
    assert.equal(prober.routeState('default/hello').ready, true);
    prober.expect(new Map([['default/hello', expectation('h2')]]));
    await settle();
    assert.match(prober.routeState('default/hello').message!, /^waiting for a \(.*\), b \(.*\) to serve hash h2$/);
    prober.setGateways([gw('a', 1, 2)]);
    assert.deepEqual([...prober.state().confirmed.get('default/hello')!.keys()], ['a']);
    prober.expect(new Map());
    assert.deepEqual(prober.routeState('default/hello'), { ready: false, message: 'not programmed' });
    prober.close();
    assert.equal(clock.pending(), 0, 'close cancels every retry');
  },
);

test(`at most ${PROBE_CONCURRENCY} probes in flight at once`, async () => {
  let inFlight = 0;
  let most = 0;
  const release: Array<() => void> = [];
  const http: ProbeHttp = async () => {
    most = Math.max(most, ++inFlight);
    await new Promise<void>((resolve) => release.push(resolve));
    inFlight--;
    return { status: 200, hash: 'h' };
  };
  const prober = new Prober(captureLog(), () => {}, { http, clock: new ManualClock() });
  prober.setGateways([gw('a', 1, 2)]);
  const hosts = Array.from({ length: 20 }, (_, i) => `h${i}.example.com`);
  prober.expect(new Map([['default/wide', { hash: 'h', externalHosts: hosts, localHosts: [] }]]));
  await settle();
  assert.equal(inFlight, PROBE_CONCURRENCY);
  while (release.length > 0) {
    release.shift()!();
    await settle();
  }
  assert.equal(most, PROBE_CONCURRENCY);
  assert.deepEqual(prober.routeState('default/wide'), { ready: true });
});
