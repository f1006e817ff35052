// Bursts from zero: SIZES (10,50,200) requests at once at a service with no pod, each burst only
// once the service is back at zero (polled on the admin API), GAP_S (60) seconds apart. Meanwhile
// the admin API's /status is timed 10 times a second; requests in the first BURST_WINDOW_S (15)
// seconds of a burst count as "during the burst". Targets: no failed request, p95 of the burst of
// 50 within BOOT_MS (the app's own boot, 300) + 1 s, admin API p99 ≤ 100 ms during the bursts.
//   npx gatehouse up -f bench/k6/burst-service.yaml --allow-zero-initial-scale --scale-to-zero-grace-seconds 5 &
//   k6 run -e BOOT_MS=450 bench/k6/burst-from-zero.js
// `gatehouse bench burst` runs the same shape here, measuring the boot time itself.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Gauge, Trend } from 'k6/metrics';
import { hostOf, BASE_URL, summary } from './lib.js';

const host = hostOf(__ENV.SERVICE || 'burst', __ENV.NAMESPACE);
const revision = __ENV.REVISION || (__ENV.SERVICE || 'burst') + '-00001';
const adminUrl = __ENV.ADMIN_URL || 'http://127.0.0.1:9000';
const sizes = (__ENV.SIZES || '10,50,200').split(',').map(Number);
const gapS = Number(__ENV.GAP_S || 60);
const burstWindowS = Number(__ENV.BURST_WINDOW_S || 15);
const bootMs = Number(__ENV.BOOT_MS || 300);
const requestMs = Number(__ENV.REQUEST_MS || 200);
const biggest = Math.max.apply(null, sizes);

const burstLatency = new Trend('burst_latency', true);
const burstLatencyMinusBoot = new Trend('burst_latency_minus_boot', true);
const adminLatency = new Trend('admin_latency', true);
const readyPods = new Gauge('ready_pods');

export const options = {
  scenarios: {
    bursts: {
      executor: 'per-vu-iterations',
      vus: 1,
      iterations: 1,
      maxDuration: sizes.length * gapS + 120 + 's',
      exec: 'bursts',
    },
    admin: {
      executor: 'constant-arrival-rate',
      rate: 10,
      timeUnit: '1s',
      duration: sizes.length * gapS + 's',
      preAllocatedVUs: 5,
      maxVUs: 20,
      exec: 'admin',
    },
  },
  // Every request of a burst at once from one VU.
  batch: biggest,
  batchPerHost: biggest,
  thresholds: {
    'http_req_failed{scenario:bursts}': ['rate==0'],
    'burst_latency{size:50}': ['p(95)<' + (bootMs + 1000)],
    'admin_latency{phase:burst}': ['p(99)<100'],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  return { t0: Date.now() };
}

/** Ready + starting + wanted pods of the revision, or -1 when the admin API does not say. */
function podsOf(res) {
  if (res.status !== 200) return -1;
  const revisions = res.json('revisions') || [];
  for (let i = 0; i < revisions.length; i++) {
    const r = revisions[i];
    if (r.name === revision) {
      readyPods.add(r.pods.ready);
      return Math.max(r.pods.ready, r.pods.starting, r.pods.desired);
    }
  }
  return -1;
}

export function bursts(data) {
  for (let i = 0; i < sizes.length; i++) {
    // At the burst's slot, and at zero: the admin scenario's "during the burst" is this slot's start.
    while (Date.now() < data.t0 + i * gapS * 1000) sleep(0.2);
    let atZero = false;
    const deadline = Date.now() + gapS * 1000;
    while (!atZero && Date.now() < deadline) {
      atZero = podsOf(http.get(adminUrl + '/status', { tags: { name: 'zero-wait' } })) === 0;
      if (!atZero) sleep(0.5);
    }
    check(atZero, { 'at zero before the burst': (z) => z === true });
    const requests = [];
    for (let j = 0; j < sizes[i]; j++)
      requests.push([
        'GET',
        BASE_URL + '/?delay=' + requestMs,
        null,
        { headers: { Host: host }, tags: { size: String(sizes[i]) }, timeout: '120s' },
      ]);
    const responses = http.batch(requests);
    for (let j = 0; j < responses.length; j++) {
      const r = responses[j];
      check(r, { 'status 200': (x) => x.status === 200 });
      burstLatency.add(r.timings.duration, { size: String(sizes[i]) });
      burstLatencyMinusBoot.add(Math.max(0, r.timings.duration - bootMs), { size: String(sizes[i]) });
    }
  }
}

export function admin(data) {
  const sinceSlot = ((Date.now() - data.t0) / 1000) % gapS;
  const res = http.get(adminUrl + '/status', { tags: { name: 'admin' } });
  adminLatency.add(res.timings.duration, { phase: sinceSlot < burstWindowS ? 'burst' : 'idle' });
  podsOf(res);
}

export const handleSummary = summary('burst-from-zero');
