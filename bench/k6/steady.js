// Steady load on one service at a fixed arrival rate.
//   k6 run -e RATE=500 -e DURATION=60s -e SERVICE=hello bench/k6/steady.js
import { check } from 'k6';
import { constantRate, get, hostOf, summary } from './lib.js';

const host = hostOf(__ENV.SERVICE || 'hello', __ENV.NAMESPACE);

export const options = constantRate('steady', { rate: 200, duration: '30s', p95Ms: 50 });

export default function () {
  const res = get(host);
  check(res, { 'status 200': (r) => r.status === 200 });
}

export const handleSummary = summary('steady');
