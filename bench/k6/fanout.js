// Many services: each request goes to one of SERVICES hosts ("svc-0" ... "svc-{N-1}" by default,
// what `gatehouse bench fanout` generates), spreading load over the route table.
//   k6 run -e SERVICES=100 -e PREFIX=svc- bench/k6/fanout.js
import { check } from 'k6';
import { constantRate, get, hostOf, summary } from './lib.js';

const count = Number(__ENV.SERVICES || 100);
const prefix = __ENV.PREFIX || 'svc-';

export const options = constantRate('fanout', { rate: 300, duration: '30s', p95Ms: 200, maxVUs: 300 });

export default function () {
  const service = prefix + Math.floor(Math.random() * count);
  const res = get(hostOf(service, __ENV.NAMESPACE), '/', { service: service });
  check(res, { 'status 200': (r) => r.status === 200 });
}

export const handleSummary = summary('fanout');
