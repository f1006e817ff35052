// `npm run soak`: `gatehouse up` under mixed traffic with faults for SOAK_SECONDS (default 600),
// checking that its memory and open file descriptors stay flat and that no request is lost.
//   traffic: GETs on keep-alive connections, 64 KiB echoes, 2 MB uploads the app answers early;
//   faults:  headers sent 1 byte per 200 ms, connections that send nothing, clients that reset
//            mid-request, uploads that stall, and an xDS client whose ADS stream is never read;
//   first:   SOAK_IDLE_CONNECTIONS (default 10,000) idle keep-alive connections to the gateway,
//            with their memory cost and a request served while they are open.
// Prints a table and exits 1 when a request was lost or RSS / descriptors grew past the bounds.
import { readdirSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';
import { envoyRoot, TYPE_URL } from '../src/envoy/protos.js';
import { openIdleConnections } from './lib/idle-connections.js';
import { startUpProcess } from './lib/up-process.js';

const seconds = Number(process.env.SOAK_SECONDS ?? 600);
const idleConnections = Number(process.env.SOAK_IDLE_CONNECTIONS ?? 10_000);
const RSS_GROWTH_MIB = 50;
const FD_GROWTH = 50;
const HOST = 'soak.default.example.com';

const upProcess = await startUpProcess({
  service: 'soak',
  env: { GATEHOUSE_HEADERS_TIMEOUT_SECONDS: '2', GATEHOUSE_BODY_IDLE_TIMEOUT_SECONDS: '2' },
});
const { child: up, gatewayPort, xdsPort } = upProcess;
const warnings = new Map<string, number>();
createInterface({ input: up.stderr }).on('line', (line) => {
  try {
    const msg = String((JSON.parse(line) as { msg?: string }).msg);
    warnings.set(msg, (warnings.get(msg) ?? 0) + 1);
  } catch {
    // not JSON
  }
});

const pool = new Pool(`http://127.0.0.1:${gatewayPort}`, { connections: 8 });
const headers = { host: HOST };
const SMALL = Buffer.alloc(64 * 1024, 'e');
const LARGE = Buffer.alloc(2 * 1024 * 1024, 'u');
const counts = {
  get: 0,
  echo: 0,
  early: 0,
  lost: 0,
  slowClosed: 0,
  silentClosed: 0,
  resets: 0,
  stalled408: 0,
  faultsNotClosed: 0,
};
const lostReasons = new Map<string, number>();
const lose = (why: string) => {
  counts.lost++;
  lostReasons.set(why, (lostReasons.get(why) ?? 0) + 1);
};

async function call(method: 'GET' | 'POST', urlPath: string, body?: Buffer): Promise<{ status: number; text: string }> {
  const res = await pool.request({ method, path: urlPath, headers, body });
  return { status: res.statusCode, text: await res.body.text() };
}

// ── processes: the up process and everything it started ──
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, ppid] of parent) {
      if (ppid !== p) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}
function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
function fds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}
interface Sample {
  at: number;
  upRss: number;
  upFds: number;
  allRss: number;
  allFds: number;
}
const sample = (): Sample => {
  const all = [up.pid, ...descendants(up.pid)];
  return {
    at: Date.now(),
    upRss: rssMiB(up.pid),
    upFds: fds(up.pid),
    allRss: all.reduce((n, p) => n + rssMiB(p), 0),
    allFds: all.reduce((n, p) => n + fds(p), 0),
  };
};

// ── faults ──
function closedWithin(socket: net.Socket, ms: number, onClosed: () => void): void {
  const t = setTimeout(() => {
    counts.faultsNotClosed++;
    socket.destroy();
  }, ms);
  socket.once('close', () => {
    clearTimeout(t);
    onClosed();
  });
}
function slowHeaders(): void {
  const s = net.connect(gatewayPort, '127.0.0.1');
  s.on('error', () => {});
  const head = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: ${'s'.repeat(100)}\r\n\r\n`);
  let i = 0;
  const t = setInterval(() => i < head.length && !s.destroyed && s.write(head.subarray(i, ++i)), 200);
  closedWithin(s, 6000, () => (clearInterval(t), counts.slowClosed++));
}
function silent(): void {
  const s = net.connect(gatewayPort, '127.0.0.1');
  s.on('error', () => {});
  closedWithin(s, 6000, () => counts.silentClosed++);
}
function reset(): void {
  const s = net.connect(gatewayPort, '127.0.0.1', () => {
    s.write(`GET /?delay=300 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    setTimeout(() => (s.resetAndDestroy(), counts.resets++), 50);
  });
  s.on('error', () => {});
}
function stalledUpload(): void {
  const s = net.connect(gatewayPort, '127.0.0.1', () =>
    s.write(`POST /?delay=10000 HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 1000\r\n\r\n0123456789`),
  );
  let answer = '';
  s.on('data', (d: Buffer) => (answer += d.toString()));
  s.on('error', () => {});
  closedWithin(s, 8000, () => {
    if (answer.startsWith('HTTP/1.1 408 ')) counts.stalled408++;
  });
}
/** An ADS stream that asks for everything and never reads a byte of the answers. */
function stalledXdsClient(): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${xdsPort}`);
  session.on('error', () => {});
  const stream = session.request({
    ':method': 'POST',
    ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => {});
  const type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  for (const typeUrl of [TYPE_URL.cluster, TYPE_URL.listener, TYPE_URL.scopedRoute]) {
    const message = Buffer.from(
      type
        .encode(type.fromObject({ node: { id: 'soak-stalled', cluster: 'gatehouse-ingress' }, type_url: typeUrl }))
        .finish(),
    );
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    stream.write(frame);
  }
  stream.pause(); // never read: flow control stops the server's sends
  return session;
}

/** Long work shows where it is: a line on stderr, so stdout stays the result table. */
function progress(line: string): void {
  process.stderr.write(`soak: ${line}\n`);
}

// ── traffic loops ──
let running = true;
async function loop(step: () => Promise<void>): Promise<void> {
  while (running) {
    try {
      await step();
    } catch (err) {
      lose(`error ${(err as Error).message}`);
    }
  }
}
const steps = {
  async get() {
    const r = await call('GET', '/');
    if (r.status === 200 && r.text === 'Hello soak!\n') counts.get++;
    else lose(`GET ${r.status} ${r.text.slice(0, 80).trim()}`);
  },
  async echo() {
    const r = await call('POST', '/echo', SMALL);
    if (r.status === 200 && r.text.length === SMALL.length) counts.echo++;
    else lose(`echo ${r.status} ${r.text.length === SMALL.length ? '' : r.text.slice(0, 80).trim()}`);
  },
  async early() {
    const r = await call('POST', '/', LARGE);
    if (r.status === 200 && r.text === 'Hello soak!\n') counts.early++;
    else lose(`early ${r.status} ${r.text.slice(0, 80).trim()}`);
    await new Promise((res) => setTimeout(res, 200));
  },
};

try {
  for (const deadline = Date.now() + 60_000; ;) {
    try {
      if ((await call('GET', '/')).status === 200) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('gatehouse up did not serve the soak service within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }

  // Idle connections first: their cost, and the gateway still serving while they are open.
  // The baseline is taken once `up` has served a batch of the same shape (its young generation grown to its working
  // size, its upstream connections open), so the figure is what the idle connections hold.
  for (const s of await openIdleConnections(gatewayPort, HOST, 500)) s.destroy();
  const beforeIdle = sample();
  progress(`opening ${idleConnections} idle connections`);
  const idle = await openIdleConnections(gatewayPort, HOST, idleConnections);
  const withIdle = sample();
  const servedWithIdle = (await call('GET', '/')).status === 200;
  for (const s of idle) s.destroy();

  const xds = stalledXdsClient();
  const faults = [
    setInterval(slowHeaders, 1000),
    setInterval(silent, 1000),
    setInterval(reset, 200),
    setInterval(stalledUpload, 2000),
  ];
  const loops = [...Array.from({ length: 6 }, () => loop(steps.get)), loop(steps.echo), loop(steps.early)];
  const samples: Sample[] = [];
  const started = Date.now();
  progress(`mixed traffic with faults for ${seconds} s`);
  let reported = started;
  while (Date.now() - started < seconds * 1000) {
    const now = sample();
    samples.push(now);
    if (now.at - reported >= 60_000) {
      reported = now.at;
      progress(
        `${Math.round((now.at - started) / 1000)}/${seconds} s: ok ${counts.get + counts.echo + counts.early}, ` +
          `lost ${counts.lost}, up RSS ${now.upRss.toFixed(0)} MiB, up fds ${now.upFds}`,
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(5000, seconds * 100)));
  }
  running = false;
  for (const f of faults) clearInterval(f);
  await Promise.all(loops);
  await new Promise((r) => setTimeout(r, 8000)); // let the last faults end
  samples.push(sample());
  xds.destroy();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const window = (from: number, to: number) =>
    samples.slice(
      Math.floor(samples.length * from),
      Math.max(Math.floor(samples.length * from) + 1, Math.floor(samples.length * to)),
    );
  const early = window(0.1, 0.25);
  const late = window(0.85, 1);
  const growth = (pick: (s: Sample) => number) => median(late.map(pick)) - median(early.map(pick));
  const rows: Array<[string, string]> = [
    ['duration', `${seconds} s`],
    [
      `${idleConnections} idle connections: up RSS`,
      `${beforeIdle.upRss.toFixed(0)} → ${withIdle.upRss.toFixed(0)} MiB ` +
        `(+${(withIdle.upRss - beforeIdle.upRss).toFixed(0)}), served meanwhile: ${servedWithIdle}`,
    ],
    ['requests ok (GET / 64 KiB echo / 2 MB early answer)', `${counts.get} / ${counts.echo} / ${counts.early}`],
    ['requests lost', `${counts.lost}${lostReasons.size ? ' ' + JSON.stringify(Object.fromEntries(lostReasons)) : ''}`],
    [
      'faults: slow headers closed / silent closed / resets / stalled uploads 408 / not closed in time',
      `${counts.slowClosed} / ${counts.silentClosed} / ${counts.resets} ` +
        `/ ${counts.stalled408} / ${counts.faultsNotClosed}`,
    ],
    [
      'up process RSS (early → late median)',
      `${median(early.map((s) => s.upRss)).toFixed(0)} → ${median(late.map((s) => s.upRss)).toFixed(0)} ` +
        `MiB (${growth((s) => s.upRss) >= 0 ? '+' : ''}${growth((s) => s.upRss).toFixed(1)})`,
    ],
    ['up process open fds', `${median(early.map((s) => s.upFds))} → ${median(late.map((s) => s.upFds))}`],
    [
      'all gatehouse processes RSS / fds',
      `${median(early.map((s) => s.allRss)).toFixed(0)} → ${median(late.map((s) => s.allRss)).toFixed(0)} ` +
        `MiB / ${median(early.map((s) => s.allFds))} → ${median(late.map((s) => s.allFds))}`,
    ],
    ['log lines of up and its children, by message', JSON.stringify(Object.fromEntries(warnings))],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
  const failures = [
    counts.lost > 0 && `${counts.lost} requests lost`,
    counts.faultsNotClosed > 0 && `${counts.faultsNotClosed} faulty connections were not closed in time`,
    !servedWithIdle && 'no answer while idle connections were open',
    growth((s) => s.upRss) > RSS_GROWTH_MIB &&
      `up RSS grew ${growth((s) => s.upRss).toFixed(0)} MiB (bound ${RSS_GROWTH_MIB})`,
    growth((s) => s.upFds) > FD_GROWTH && `up fds grew by ${growth((s) => s.upFds)} (bound ${FD_GROWTH})`,
  ].filter(Boolean);
  if (failures.length > 0) {
    process.stdout.write(`FAIL: ${failures.join('; ')}\n`);
    process.exitCode = 1;
  } else process.stdout.write('OK: nothing lost, memory and descriptors flat\n');
} finally {
  running = false;
  await pool.close().catch(() => {});
  await upProcess.stop();
}
