// Steady load on one service at a fixed arrival rate.
//   k6 run -e RATE=500 -e DURATION=60s -e SERVICE=hello bench/k6/steady.js
import { check } from 'k6';
import { get, hostOf, summary } from './lib.js';

const host = hostOf(__ENV.SERVICE || 'hello', __ENV.NAMESPACE);

export const options = {
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 200),
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: Number(__ENV.VUS || 50),
      maxVUs: Number(__ENV.MAX_VUS || 200),
    },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(95)<' + (__ENV.P95_MS || 50)],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const res = get(host);
  check(res, { 'status 200': (r) => r.status === 200 });
}

export const handleSummary = summary('steady');
