// The status page of `gatehouse up`: renders each server-sent event (the status document and its
// history) into the tables of index.html. Plain DOM, no framework, no build step.

const COLORS = ['#2f6fdb', '#1f8a4c', '#b7791f', '#8e44ad', '#c23b3b', '#16a2b8'];

/** h('td', {class: 'x'}, 'text', node, ...): an element with attributes and children (text is never parsed as HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== false) el.setAttribute(k, String(v));
  for (const c of children.flat())
    if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

function fill(id, rows) {
  document.querySelector(`#${id} tbody`).replaceChildren(...rows);
}

const time = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
const ms = (n) => (n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`);

/** A small line chart of pods over time: ready (solid) and desired (dashed), whole-number scale. */
function podChart(samples) {
  const w = 180;
  const hgt = 36;
  const chart = svg('svg', { class: 'spark', width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}` });
  if (!samples || samples.length < 2) return chart;
  const max = Math.max(1, ...samples.map((s) => Math.max(s.ready, s.desired)));
  const t0 = samples[0].t;
  const span = Math.max(1, samples.at(-1).t - t0);
  const x = (t) => ((t - t0) / span) * (w - 24);
  const y = (n) => hgt - 3 - (n / max) * (hgt - 8);
  const path = (key) =>
    samples.map((s, i) => `${i === 0 ? 'M' : 'L'}${x(s.t).toFixed(1)},${y(s[key]).toFixed(1)}`).join('');
  chart.append(
    svg('path', {
      d: path('desired'),
      fill: 'none',
      stroke: '#b7791f',
      'stroke-width': 1.2,
      'stroke-dasharray': '3 2',
    }),
    svg('path', { d: path('ready'), fill: 'none', stroke: '#2f6fdb', 'stroke-width': 1.6 }),
    svg('text', { x: w - 20, y: 10, 'font-size': 9, fill: '#6b7385' }, document.createTextNode(String(max))),
    svg('text', { x: w - 20, y: hgt - 2, 'font-size': 9, fill: '#6b7385' }, document.createTextNode('0')),
  );
  return chart;
}

function trafficSplit(svc) {
  const bar = h('div', { class: 'split' });
  const legend = h('div', { class: 'legend' });
  svc.traffic.forEach((t, i) => {
    const color = COLORS[i % COLORS.length];
    bar.append(
      h('span', { style: `width:${t.percent}%;background:${color}`, title: `${t.percent}% → ${t.revisionName}` }),
    );
    legend.append(
      h(
        'span',
        {},
        h('i', { style: `background:${color}` }),
        `${t.percent}% ${t.revisionName}`,
        t.tag ? h('span', { class: 'dim' }, ` (tag ${t.tag})`) : '',
        '  ',
      ),
    );
  });
  return [bar, legend];
}

/** Everything not Ready, each with its cause: the first thing to read when something is wrong. */
function problems(s) {
  const out = [];
  if (s.config.error) out.push(['configuration', `${s.config.error} (the last good configuration keeps serving)`]);
  for (const svc of s.services) {
    if (svc.ready === 'True') continue;
    const c = svc.conditions.find((c) => c.status !== 'True' && c.type !== 'Ready') ?? svc.conditions[0];
    out.push([`service ${svc.namespace}/${svc.name}`, `${c.type} ${c.status}: ${c.reason ?? ''} ${c.message ?? ''}`]);
  }
  for (const r of s.revisions)
    if (r.failure) out.push([`revision ${r.namespace}/${r.name}`, `last failure: ${r.failure}`]);
  for (const r of s.routes) if (!r.ready) out.push([`route ${r.namespace}/${r.name}`, r.message ?? 'not Ready']);
  for (const g of s.gateways) {
    if (!g.connected) out.push([`gateway ${g.id}`, 'disconnected from the xDS server']);
    for (const n of g.nacks) out.push([`gateway ${g.id}`, `NACK of ${n.type} ${n.version}: ${n.error}`]);
  }
  return out;
}

function render({ status: s, history }) {
  document.getElementById('file').textContent = s.config.file;
  const list = problems(s);
  document.getElementById('attention').hidden = list.length === 0;
  document
    .getElementById('problems')
    .replaceChildren(...list.map(([what, why]) => h('li', {}, h('span', { class: 'what' }, what), ': ', why)));

  fill(
    'services',
    s.services.map((svc) =>
      h(
        'tr',
        { 'data-service': `${svc.namespace}/${svc.name}`, 'data-ready': svc.ready },
        h('td', {}, h('div', {}, `${svc.namespace}/${svc.name}`), h('a', { class: 'dim', href: svc.url }, svc.url)),
        h('td', { class: svc.ready === 'True' ? 'ok' : 'bad' }, svc.ready === 'True' ? 'Ready' : 'NotReady'),
        h(
          'td',
          {},
          svc.conditions.map((c) =>
            h('span', { class: `chip ${c.status}`, title: [c.reason, c.message].filter(Boolean).join(': ') }, c.type),
          ),
        ),
        h('td', {}, trafficSplit(svc)),
      ),
    ),
  );

  fill(
    'revisions',
    s.revisions.map((r) => {
      const key = `${r.namespace}/${r.name}`;
      const traffic = history.traffic[key]?.at(-1);
      const starting = r.pods.starting ? ` +${r.pods.starting} starting` : '';
      const draining = r.pods.draining ? ` ${r.pods.draining} draining` : '';
      const pods = `${r.pods.ready}/${r.pods.desired}${starting}${draining}`;
      return h(
        'tr',
        { 'data-revision': key, 'data-pods-ready': r.pods.ready, 'data-pods-desired': r.pods.desired },
        h('td', {}, key),
        h('td', { class: r.ready ? 'ok' : 'bad' }, r.ready ? 'Ready' : 'NotReady'),
        h('td', {}, r.mode),
        h('td', { class: 'pods' }, pods),
        h('td', {}, podChart(history.pods[key])),
        h('td', { class: 'mono rps' }, traffic ? traffic.rps.toFixed(0) : '–'),
        h(
          'td',
          { class: 'mono latency' },
          traffic?.meanLatencyMs !== undefined && traffic.meanLatencyMs !== null ? ms(traffic.meanLatencyMs) : '–',
        ),
        h('td', { class: 'dim' }, r.scaleReason ?? ''),
      );
    }),
  );

  fill(
    'scale-events',
    history.scaleEvents
      .slice(-30)
      .reverse()
      .map((e) =>
        h(
          'tr',
          { 'data-scale-event': e.revision },
          h('td', { class: 'mono' }, time(e.t)),
          h('td', {}, e.revision),
          h('td', { class: 'mono' }, `${e.from} → ${e.to}`),
          h('td', { class: 'dim' }, e.reason),
        ),
      ),
  );

  fill(
    'pod-starts',
    history.podStarts
      .slice(-30)
      .reverse()
      .map((p) =>
        h(
          'tr',
          {},
          h('td', { class: 'mono' }, time(p.t)),
          h('td', {}, p.revision),
          h('td', { class: 'mono' }, ms(p.ms)),
          h('td', { class: 'dim' }, p.fromZero ? 'cold start (from zero)' : 'scale-out'),
        ),
      ),
  );

  fill(
    'gateways',
    s.gateways.map((g) =>
      h(
        'tr',
        {},
        h('td', {}, g.id),
        h('td', { class: g.connected ? 'ok' : 'bad' }, g.connected ? 'connected' : 'disconnected'),
        h(
          'td',
          { class: 'mono' },
          Object.entries(g.confirmed).map(([route, hash]) =>
            h('div', {}, `${route} `, h('span', { class: 'dim' }, hash.slice(0, 12))),
          ),
        ),
        h(
          'td',
          { class: g.nacks.length ? 'bad' : 'dim' },
          g.nacks.length ? g.nacks.map((n) => h('div', {}, `${n.type} ${n.version}: ${n.error}`)) : 'none',
        ),
      ),
    ),
  );
}

const live = document.getElementById('live');
const events = new EventSource('/events');
events.onmessage = (e) => {
  const data = JSON.parse(e.data);
  render(data);
  live.textContent = `live · ${time(data.at)}`;
  live.classList.remove('off');
};
events.onerror = () => {
  live.textContent = 'disconnected: is gatehouse up still running? (retrying)';
  live.classList.add('off');
};
