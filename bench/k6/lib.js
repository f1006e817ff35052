// Shared by the gatehouse k6 scenarios (k6 v0.48 JavaScript: no optional chaining, no ??).
import http from 'k6/http';

export const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
export const DOMAIN = __ENV.DOMAIN || 'example.com';

/** Knative's external host of a service. */
export function hostOf(service, namespace) {
  return service + '.' + (namespace || 'default') + '.' + DOMAIN;
}

export function get(host, path, tags) {
  return http.get(BASE_URL + (path || '/'), { headers: { Host: host }, tags: tags || {} });
}

function metricLine(name, m) {
  if (!m) return '';
  const v = m.values;
  if (m.type === 'trend')
    return (
      name +
      ': avg ' +
      v.avg.toFixed(2) +
      ' ms, p50 ' +
      v.med.toFixed(2) +
      ', p95 ' +
      v['p(95)'].toFixed(2) +
      ', p99 ' +
      (v['p(99)'] === undefined ? 'n/a' : v['p(99)'].toFixed(2)) +
      ', max ' +
      v.max.toFixed(2)
    );
  if (m.type === 'rate') return name + ': ' + (v.rate * 100).toFixed(3) + ' %';
  if (m.type === 'counter') return name + ': ' + v.count + ' (' + v.rate.toFixed(1) + '/s)';
  return name + ': ' + JSON.stringify(v);
}

/** handleSummary for every scenario: a JSON file (SUMMARY_FILE, default <scenario>-summary.json) and a short text. */
export function summary(scenario) {
  return function (data) {
    const file = __ENV.SUMMARY_FILE || scenario + '-summary.json';
    const lines = ['gatehouse k6 scenario: ' + scenario];
    const names = Object.keys(data.metrics).sort();
    for (let i = 0; i < names.length; i++) {
      const line = metricLine(names[i], data.metrics[names[i]]);
      if (line) lines.push('  ' + line);
    }
    const failed = [];
    for (let i = 0; i < names.length; i++) {
      const t = data.metrics[names[i]].thresholds;
      if (!t) continue;
      const keys = Object.keys(t);
      for (let j = 0; j < keys.length; j++) if (!t[keys[j]].ok) failed.push(names[i] + ' ' + keys[j]);
    }
    lines.push(failed.length === 0 ? 'thresholds: all passed' : 'thresholds FAILED: ' + failed.join(', '));
    const out = { stdout: lines.join('\n') + '\n' };
    out[file] = JSON.stringify(data, null, 2);
    return out;
  };
}

/** Options for a constant-arrival-rate scenario with the usual thresholds (RATE, DURATION, VUS, MAX_VUS, P95_MS). */
export function constantRate(name, defaults) {
  const scenarios = {};
  scenarios[name] = {
    executor: 'constant-arrival-rate',
    rate: Number(__ENV.RATE || defaults.rate),
    timeUnit: '1s',
    duration: __ENV.DURATION || defaults.duration,
    preAllocatedVUs: Number(__ENV.VUS || 50),
    maxVUs: Number(__ENV.MAX_VUS || defaults.maxVUs || 200),
  };
  return {
    scenarios: scenarios,
    thresholds: {
      http_req_failed: ['rate==0'],
      http_req_duration: ['p(95)<' + (__ENV.P95_MS || defaults.p95Ms)],
    },
    summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
  };
}
