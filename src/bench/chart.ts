// A small SVG line chart (latency percentiles and pods over time) a person can open in a browser.
// Pure: series in, SVG text out.

export interface Series {
  name: string;
  color: string;
  /** [seconds since start, value] */
  points: Array<[number, number]>;
  /** Plotted against the right-hand axis (e.g. pod counts next to milliseconds). */
  rightAxis?: boolean;
}

const W = 900;
const H = 360;
const PAD = { left: 60, right: 60, top: 40, bottom: 40 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function lineChart(title: string, leftLabel: string, rightLabel: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(1, ...all.map((p) => p[0]));
  const maxLeft = niceMax(Math.max(0, ...series.filter((s) => !s.rightAxis).flatMap((s) => s.points.map((p) => p[1]))));
  const maxRight = niceMax(Math.max(0, ...series.filter((s) => s.rightAxis).flatMap((s) => s.points.map((p) => p[1]))));
  const x = (v: number) => PAD.left + (v / maxX) * (W - PAD.left - PAD.right);
  const y = (v: number, right: boolean) => H - PAD.bottom - (v / (right ? maxRight : maxLeft)) * (H - PAD.top - PAD.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#444"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#444"/>`,
    `<line x1="${W - PAD.right}" y1="${PAD.top}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#444"/>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">seconds</text>`,
    `<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">${escape(leftLabel)}</text>`,
    `<text x="${W - 14}" y="${H / 2}" transform="rotate(90 ${W - 14} ${H / 2})" text-anchor="middle">${escape(rightLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (maxLeft * i) / 4;
    out.push(`<text x="${PAD.left - 6}" y="${y(v, false) + 4}" text-anchor="end">${+v.toFixed(1)}</text>`);
    out.push(`<text x="${W - PAD.right + 6}" y="${y((maxRight * i) / 4, true) + 4}">${+((maxRight * i) / 4).toFixed(1)}</text>`);
    out.push(`<text x="${x((maxX * i) / 4)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${+((maxX * i) / 4).toFixed(0)}</text>`);
  }
  series.forEach((s, i) => {
    if (s.points.length > 0) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1], s.rightAxis === true).toFixed(1)}`).join(' ')}"/>`);
    out.push(`<rect x="${PAD.left + 10 + i * 150}" y="${PAD.top - 14}" width="12" height="4" fill="${s.color}"/><text x="${PAD.left + 26 + i * 150}" y="${PAD.top - 9}">${escape(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
