// Load through a rollout or traffic shift: run it, then edit the service file (new template or new
// traffic percents). No request may fail; responses are counted per revision by their body, so
// the summary shows the shift (the example app answers "Hello <TARGET>!").
//   k6 run -e SERVICE=hello -e DURATION=60s bench/k6/rollout.js
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { constantRate, get, hostOf, summary } from './lib.js';

const host = hostOf(__ENV.SERVICE || 'hello', __ENV.NAMESPACE);
const byBody = new Counter('responses_by_body');

export const options = constantRate('rollout', { rate: 200, duration: '60s', p95Ms: 100 });

export default function () {
  const res = get(host);
  check(res, { 'status 200': (r) => r.status === 200 });
  byBody.add(1, { body: String(res.body).trim().slice(0, 40) });
}

export const handleSummary = summary('rollout');
