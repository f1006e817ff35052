import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import protobuf from 'protobufjs';
import { Breaker, type Waiter } from '../../src/queue/breaker.js';
import { RequestStats } from '../../src/stats/request-stats.js';
import { classifyProbe } from '../../src/queue/probes.js';
import { parseQueueEnv } from '../../src/queue/config.js';
import { parseReadinessProbe } from '../../src/queue/readiness.js';
import { encodeStat } from '../../src/queue/stat-wire.js';
import { zeroStat } from '../../src/model/stat.js';
import { QueueMetrics } from '../../src/queue/metrics.js';
import { upstreamRequestHeaders, downstreamResponseHeaders } from '../../src/http/forward-headers.js';

const waiter = (): Waiter & { granted: number } => ({
  granted: 0,
  grant() {
    this.granted++;
  },
});

test('breaker admits CC, queues 10×CC, rejects the rest', () => {
  const cases = [
    { name: 'CC=1 with 12 arrivals', cc: 1, arrivals: 12, granted: 1, queued: 10, rejected: 1 },
    { name: 'CC=2 with 25 arrivals', cc: 2, arrivals: 25, granted: 2, queued: 20, rejected: 3 },
    { name: 'CC=5 with 3 arrivals', cc: 5, arrivals: 3, granted: 3, queued: 0, rejected: 0 },
  ];
  for (const c of cases) {
    const breaker = new Breaker(c.cc, 10 * c.cc);
    const verdicts = { granted: 0, queued: 0, rejected: 0 };
    for (let i = 0; i < c.arrivals; i++) verdicts[breaker.acquire(waiter())]++;
    assert.deepEqual(verdicts, { granted: c.granted, queued: c.queued, rejected: c.rejected }, c.name);
    assert.equal(breaker.pending, c.granted + c.queued, c.name);
  }
});

test('breaker hands a released slot to the oldest waiter, skipping cancelled ones', () => {
  const breaker = new Breaker(1, 10);
  assert.equal(breaker.acquire(waiter()), 'granted');
  const [a, b, c] = [waiter(), waiter(), waiter()];
  for (const w of [a, b, c]) assert.equal(breaker.acquire(w), 'queued');
  assert.equal(breaker.cancel(a), true);
  assert.equal(breaker.cancel(a), false);
  breaker.release();
  assert.deepEqual([a.granted, b.granted, c.granted], [0, 1, 0]);
  assert.equal(breaker.active, 1);
  assert.equal(breaker.queueLength, 1);
  breaker.release();
  breaker.release();
  assert.deepEqual([breaker.active, breaker.queueLength, c.granted], [0, 0, 1]);
});

test('stats average concurrency over time, weighting each level by its duration', () => {
  const stats = new RequestStats(0);
  stats.requestIn(0, false); // 1 in flight for 0..500
  stats.requestIn(500, true); // 2 in flight (1 proxied) for 500..750
  stats.requestOut(750, false); // 1 (proxied) for 750..1000
  const first = stats.report(1000);
  // (1×500 + 2×250 + 1×250) / 1000 = 1.25; proxied (1×250 + 1×250) / 1000 = 0.5
  assert.deepEqual(first, {
    averageConcurrency: 1.25,
    averageProxiedConcurrency: 0.5,
    requestCount: 2,
    proxiedRequestCount: 1,
  });
  stats.requestOut(1500, true); // 1 for 1000..1500, 0 after
  assert.deepEqual(stats.report(2000), {
    averageConcurrency: 0.5,
    averageProxiedConcurrency: 0.5,
    requestCount: 0,
    proxiedRequestCount: 0,
  });
});

test('probe classification follows Knative’s order', () => {
  const cases: Array<[string, Parameters<typeof classifyProbe>, ReturnType<typeof classifyProbe>]> = [
    ['kubelet with queue header', ['kube-probe/1.27', undefined, 'queue', undefined], 'health'],
    ['activator with queue header', ['Knative-Activator-Probe', undefined, 'queue', undefined], 'health'],
    ['autoscaler with queue header', ['Knative-Autoscaling-Probe', undefined, 'queue', undefined], 'health'],
    ['K-Kubelet-Probe header, any UA', ['curl/8', 'queue', 'queue', undefined], 'health'],
    ['kubelet without K-Network-Probe', ['kube-probe/1.27', undefined, undefined, undefined], 'health-bad-header'],
    [
      'kubelet with probe header is still a health check',
      ['kube-probe/1.27', undefined, 'probe', 'h'],
      'health-bad-header',
    ],
    ['ingress probe with hash', ['Knative-Ingress-Probe', undefined, 'probe', 'abc'], 'ingress'],
    ['ingress probe from any UA', ['curl/8', undefined, 'probe', 'abc'], 'ingress'],
    ['ingress probe without hash', ['curl/8', undefined, 'probe', undefined], 'ingress-no-hash'],
    ['queue header from an ordinary client', ['curl/8', undefined, 'queue', undefined], 'none'],
    ['plain request', ['curl/8', undefined, undefined, undefined], 'none'],
  ];
  for (const [name, args, expected] of cases) assert.equal(classifyProbe(...args), expected, name);
});

test('bad configuration names the variable and the value', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['missing USER_PORT', {}, /USER_PORT is not set/],
    [
      'negative concurrency',
      { USER_PORT: '8080', CONTAINER_CONCURRENCY: '-1' },
      /CONTAINER_CONCURRENCY="-1" is not valid/,
    ],
    [
      'non-numeric concurrency',
      { USER_PORT: '8080', CONTAINER_CONCURRENCY: 'abc' },
      /CONTAINER_CONCURRENCY="abc" is not valid/,
    ],
    ['port out of range', { USER_PORT: '70000' }, /USER_PORT="70000" is not valid/],
    [
      'unparsable probe',
      { USER_PORT: '8080', SERVING_READINESS_PROBE: '{not json' },
      /SERVING_READINESS_PROBE="\{not json" is not valid/,
    ],
    [
      'negative timeout',
      { USER_PORT: '8080', REVISION_TIMEOUT_SECONDS: '-3' },
      /REVISION_TIMEOUT_SECONDS="-3" is not valid/,
    ],
  ];
  for (const [name, env, message] of cases) assert.throws(() => parseQueueEnv(env), message, name);
  const ok = parseQueueEnv({ USER_PORT: '8080' });
  assert.deepEqual(
    [
      ok.servingPort,
      ok.tlsPort,
      ok.adminPort,
      ok.metricsPort,
      ok.userMetricsPort,
      ok.containerConcurrency,
      ok.revisionTimeoutMs,
      ok.drainQuietMs,
    ],
    [8012, 8112, 8022, 9090, 9091, 0, 300_000, 30_000],
  );
});

test('readiness probes parse as Knative writes them', () => {
  assert.deepEqual(parseReadinessProbe('{"tcpSocket":{"port":8080,"host":"127.0.0.1"},"successThreshold":1}'), {
    kind: 'tcp',
    host: '127.0.0.1',
    port: 8080,
    periodSeconds: 0,
    timeoutSeconds: 1,
  });
  assert.deepEqual(
    parseReadinessProbe(
      JSON.stringify([
        {
          httpGet: { path: '/healthz', port: '8090', httpHeaders: [{ name: 'K-Kubelet-Probe', value: 'queue' }] },
          periodSeconds: 5,
          timeoutSeconds: 2,
        },
      ]),
    ),
    {
      kind: 'http',
      host: '127.0.0.1',
      port: 8090,
      path: '/healthz',
      scheme: 'HTTP',
      headers: [['K-Kubelet-Probe', 'queue']],
      periodSeconds: 5,
      timeoutSeconds: 2,
    },
  );
  assert.throws(() => parseReadinessProbe('{"exec":{"command":["true"]}}'), /exec probes/);
  assert.throws(() => parseReadinessProbe('{"tcpSocket":{"port":0}}'), /tcpSocket.port must be a port number/);
});

test('the hand-written Stat encoding decodes with protobufjs and protos/stat.proto', async () => {
  const root = await new protobuf.Root().load(path.resolve('protos/stat.proto'), { keepCase: true });
  const Stat = root.lookupType('metrics.Stat');
  const bytes = encodeStat({
    podName: 'hello-00001-deployment-abc',
    averageConcurrentRequests: 3.25,
    averageProxiedConcurrentRequests: 1.5,
    requestCount: 42,
    proxiedRequestCount: 7,
    processUptime: 12.5,
    timestamp: 1_790_000_000,
  });
  const decoded = Stat.toObject(Stat.decode(bytes), { longs: Number });
  assert.deepEqual(decoded, {
    pod_name: 'hello-00001-deployment-abc',
    average_concurrent_requests: 3.25,
    average_proxied_concurrent_requests: 1.5,
    request_count: 42,
    proxied_request_count: 7,
    process_uptime: 12.5,
    timestamp: 1_790_000_000,
  });
  assert.equal(encodeStat(zeroStat('')).length, 0, 'an all-zero Stat encodes to nothing (proto3 defaults)');
});

test('hop-by-hop headers and names listed in Connection are dropped; X-Forwarded-For is appended', () => {
  const raw = [
    'Host',
    'a.example',
    'Connection',
    'keep-alive, X-Secret',
    'X-Secret',
    '1',
    'Keep-Alive',
    '5',
    'TE',
    'trailers',
    'X-Forwarded-For',
    '10.0.0.1',
    'Accept',
    '*/*',
  ];
  assert.deepEqual(upstreamRequestHeaders(raw, '::ffff:127.0.0.1', false), [
    'Host',
    'a.example',
    'Accept',
    '*/*',
    'x-forwarded-for',
    '10.0.0.1, 127.0.0.1',
  ]);
  assert.deepEqual(upstreamRequestHeaders(raw, undefined, true), [
    'Host',
    'a.example',
    'te',
    'trailers',
    'Accept',
    '*/*',
    'x-forwarded-for',
    '10.0.0.1',
  ]);
  assert.deepEqual(
    downstreamResponseHeaders({
      'content-type': 'text/plain',
      connection: 'close, x-hop',
      'x-hop': 'a',
      'set-cookie': ['a=1', 'b=2'],
      'transfer-encoding': 'chunked',
    }),
    ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2'],
  );
});

test('the queue-proxy stays small: no protobufjs, gRPC, xds or control imports', async () => {
  const { readdir, readFile } = await import('node:fs/promises');
  const dir = path.resolve('src/queue');
  const forbidden =
    /from ['"](protobufjs|@grpc\/[^'"]+|(\.\.\/)+(xds|control|translate|gateway|activator|autoscaler)\/[^'"]*)['"]/;
  for (const file of await readdir(dir)) {
    const text = await readFile(path.join(dir, file), 'utf8');
    assert.doesNotMatch(text, forbidden, `src/queue/${file} imports something the sidecar must not carry`);
  }
});

test(
  'queue metrics: prom-client loads on the first text scrape, ' +
    'once; latencies recorded before it are in the histogram',
  async () => {
    const metrics = new QueueMetrics(
      { namespace_name: 'default', configuration_name: 'c', revision_name: 'r-00001', pod_name: 'p' },
      0,
    );
    for (const [code, ms] of [
      [200, 3],
      [200, 30],
      [503, 300],
    ] as const)
      metrics.record(code, ms);
    const { user, stat } = await metrics.registries();
    assert.equal(await metrics.registries().then((r) => r.user), user, 'loaded once');
    const text = await user.metrics();
    assert.match(text, /revision_request_latencies_count\{[^}]*\} 3\n/);
    assert.match(text, /revision_request_latencies_sum\{[^}]*\} 333\n/);
    assert.match(text, /revision_request_latencies_bucket\{le="5",[^}]*\} 1\n/);
    assert.match(text, /revision_request_count\{response_code="503",response_code_class="5xx"[^}]*\} 1\n/);
    metrics.record(200, 7);
    assert.match(await user.metrics(), /revision_request_latencies_count\{[^}]*\} 4\n/);
    assert.match(await stat.metrics(), /queue_requests_per_second\{[^}]*\} 0\n/);
  },
);
