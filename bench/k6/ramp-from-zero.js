// Knative's load-test shape: a revision at zero pods, then arrivals ramp to TARGET_RPS
// (1000, 2000, 3000), hold, and fall. Every request must succeed; Knative's bar is p95 ≤ 115 ms.
//   k6 run -e TARGET_RPS=1000 -e SERVICE=sleepy bench/k6/ramp-from-zero.js
// Start it while the service is at zero (`gatehouse status` shows pods 0/0).
import { check } from 'k6';
import { get, hostOf, summary } from './lib.js';

const host = hostOf(__ENV.SERVICE || 'sleepy', __ENV.NAMESPACE);
const target = Number(__ENV.TARGET_RPS || 1000);

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      preAllocatedVUs: Number(__ENV.VUS || 200),
      maxVUs: Number(__ENV.MAX_VUS || 1000),
      stages: [
        { target: target, duration: __ENV.RAMP || '30s' },
        { target: target, duration: __ENV.HOLD || '60s' },
        { target: 0, duration: __ENV.RAMP_DOWN || '10s' },
      ],
    },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(95)<' + (__ENV.P95_MS || 115)],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const res = get(host);
  check(res, { 'status 200': (r) => r.status === 200 });
}

export const handleSummary = summary('ramp-from-zero-' + target);
