// A small SVG line chart (latency percentiles and pods over time) a person can open in a browser.
// Pure: series in, SVG text out.

export interface Series {
  name: string;
  color: string;
  /** [seconds since start, value] */
  points: Array<[number, number]>;
  /** Plotted against the right-hand axis (e.g. pod counts next to milliseconds). */
  rightAxis?: boolean;
  /** A count that holds until it changes (pods): drawn as steps, not slopes between samples. */
  steps?: boolean;
}

const W = 900;
const H = 360;
const PAD = { left: 60, right: 60, top: 40, bottom: 40 };
const TARGET_TICKS = 5;

export interface Axis {
  max: number;
  /** Tick values, from 0 to max, each where it is labelled. */
  ticks: number[];
}

/**
 * Ticks at a round step (1, 2 or 5 × a power of ten) giving about five intervals up to a max that
 * is a whole number of steps; for whole-number data (seconds, pods) the step is at least 1, so no
 * tick falls between two counts.
 */
export function axis(maxValue: number, wholeNumbers: boolean): Axis {
  const raw = Math.max(maxValue, wholeNumbers ? 1 : Number.MIN_VALUE) / TARGET_TICKS;
  let step = niceStep(raw > 0 ? raw : 1);
  if (wholeNumbers) step = Math.max(1, Math.round(step));
  const intervals = Math.max(1, Math.ceil(maxValue / step - 1e-9));
  const ticks = Array.from({ length: intervals + 1 }, (_, i) => roundTo(i * step, step));
  return { max: ticks.at(-1)!, ticks };
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** Removes binary noise (0.30000000000000004) to the step's own precision. */
function roundTo(v: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(decimals));
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const isWhole = (values: number[]) => values.every((v) => Number.isInteger(v));

export function lineChart(title: string, leftLabel: string, rightLabel: string, series: Series[]): string {
  const values = (right: boolean) =>
    series.filter((s) => (s.rightAxis === true) === right).flatMap((s) => s.points.map((p) => p[1]));
  const left = axis(Math.max(0, ...values(false)), isWhole(values(false)) && values(false).length > 0);
  const right = axis(Math.max(0, ...values(true)), isWhole(values(true)));
  const xAxis = axis(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[0]))), true);
  const x = (v: number) => PAD.left + (v / xAxis.max) * (W - PAD.left - PAD.right);
  const y = (v: number, onRight: boolean) =>
    H - PAD.bottom - (v / (onRight ? right.max : left.max)) * (H - PAD.top - PAD.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" ` +
      `viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#444"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#444"/>`,
    `<line x1="${W - PAD.right}" y1="${PAD.top}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#444"/>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">seconds</text>`,
    `<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">${escape(leftLabel)}</text>`,
    `<text x="${W - 14}" y="${H / 2}" transform="rotate(90 ${W - 14} ` +
      `${H / 2})" text-anchor="middle">${escape(rightLabel)}</text>`,
  ];
  for (const v of left.ticks)
    out.push(`<text x="${PAD.left - 6}" y="${(y(v, false) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
  for (const v of right.ticks)
    out.push(`<text x="${W - PAD.right + 6}" y="${(y(v, true) + 4).toFixed(1)}">${v}</text>`);
  for (const v of xAxis.ticks)
    out.push(`<text x="${x(v).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${v}</text>`);
  series.forEach((s, i) => {
    const points = s.steps ? stepped(s.points) : s.points;
    const coordinates = points
      .map((p) => `${x(p[0]).toFixed(1)},${y(p[1], s.rightAxis === true).toFixed(1)}`)
      .join(' ');
    if (points.length > 0)
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${coordinates}"/>`);
    out.push(
      `<rect x="${PAD.left + 10 + i * 150}" y="${PAD.top - 14}" width="12" height="4" ` +
        `fill="${s.color}"/><text x="${PAD.left + 26 + i * 150}" y="${PAD.top - 9}">${escape(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Each value held until the next sample: a horizontal segment, then a vertical one. */
function stepped(points: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  points.forEach((p, i) => {
    if (i > 0) out.push([p[0], points[i - 1]![1]]);
    out.push(p);
  });
  return out;
}
