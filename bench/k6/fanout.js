// Many services: each request goes to one of SERVICES hosts ("svc-0" ... "svc-{N-1}" by default,
// what `gatehouse bench fanout` generates), spreading load over the route table.
//   k6 run -e SERVICES=100 -e PREFIX=svc- bench/k6/fanout.js
import { check } from 'k6';
import { get, hostOf, summary } from './lib.js';

const count = Number(__ENV.SERVICES || 100);
const prefix = __ENV.PREFIX || 'svc-';

export const options = {
  scenarios: {
    fanout: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 300),
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: Number(__ENV.VUS || 50),
      maxVUs: Number(__ENV.MAX_VUS || 300),
    },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(95)<' + (__ENV.P95_MS || 200)],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const service = prefix + Math.floor(Math.random() * count);
  const res = get(hostOf(service, __ENV.NAMESPACE), '/', { service: service });
  check(res, { 'status 200': (r) => r.status === 200 });
}

export const handleSummary = summary('fanout');
