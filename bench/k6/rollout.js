// Load through a rollout or traffic shift: run it, then edit the service file (new template or new
// traffic percents). No request may fail; responses are counted per revision by their body, so
// the summary shows the shift (the example app answers "Hello <TARGET>!").
//   k6 run -e SERVICE=hello -e DURATION=60s bench/k6/rollout.js
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { get, hostOf, summary } from './lib.js';

const host = hostOf(__ENV.SERVICE || 'hello', __ENV.NAMESPACE);
const byBody = new Counter('responses_by_body');

export const options = {
  scenarios: {
    rollout: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 200),
      timeUnit: '1s',
      duration: __ENV.DURATION || '60s',
      preAllocatedVUs: Number(__ENV.VUS || 50),
      maxVUs: Number(__ENV.MAX_VUS || 200),
    },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(95)<' + (__ENV.P95_MS || 100)],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const res = get(host);
  check(res, { 'status 200': (r) => r.status === 200 });
  byBody.add(1, { body: String(res.body).trim().slice(0, 40) });
}

export const handleSummary = summary('rollout');
