// `npm run bench:idle`: what idle keep-alive connections cost `gatehouse up`'s embedded gateway.
// Each run starts `up` (one service, min-scale 1) on free ports, opens IDLE_CONNECTIONS (10,000),
// each after one request answered, 500 at a time, as `npm run soak` does, and reads `up`'s memory
// before and after: RSS and its private part (RssAnon) from /proc, and V8's heap after a full
// collection through the inspector (heap used, and the external and array-buffer memory V8 counts).
// It then checks a request is served while they are open. RUNS (3) fresh processes, medians.
//   IDLE_CONNECTIONS (10000), RUNS (3), UP_NODE_FLAGS (extra node flags for `up`), HEAP_SNAPSHOTS=dir:
//   write a heap snapshot of `up` before and after into dir (for finding what a connection holds);
//   BEFORE=<another checkout, built>: its `up` too, in the same runs, the order swapped every run.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import WebSocket from 'ws';
import { freePort } from '../src/runtime/ports.js';
import { gatehouseBin } from '../test/support/queue.js';
import { openIdleConnections } from './lib/idle-connections.js';
import { memoryMiB } from './lib/proc.js';
import { startUpProcess } from './lib/up-process.js';

const connections = Number(process.env.IDLE_CONNECTIONS ?? 10_000);
const runs = Number(process.env.RUNS ?? 3);
const extraFlags = (process.env.UP_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const snapshotDir = process.env.HEAP_SNAPSHOTS;
const HOST = 'idle.default.example.com';
const MiB = 1024 * 1024;

/** Runtime.evaluate / HeapProfiler calls over the inspector's WebSocket. */
class Inspector {
  private next = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();
  private chunks: string[] = [];
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as {
        id?: number;
        result?: unknown;
        method?: string;
        params?: { chunk: string };
      };
      if (msg.method === 'HeapProfiler.addHeapSnapshotChunk') this.chunks.push(msg.params!.chunk);
      else if (msg.id !== undefined) this.pending.get(msg.id)?.(msg.result);
    });
  }

  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url, { maxPayload: 1024 * MiB });
    await once(ws, 'open');
    return new Inspector(ws);
  }

  call(method: string, params: object = {}): Promise<unknown> {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve) => this.pending.set(id, resolve));
  }

  async heap(): Promise<{ used: number; external: number; arrayBuffers: number }> {
    await this.call('HeapProfiler.collectGarbage');
    const r = (await this.call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
    })) as { result: { value: string } };
    const m = JSON.parse(r.result.value) as NodeJS.MemoryUsage;
    return { used: m.heapUsed / MiB, external: m.external / MiB, arrayBuffers: m.arrayBuffers / MiB };
  }

  async snapshot(file: string): Promise<void> {
    this.chunks = [];
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    writeFileSync(file, this.chunks.join(''));
    this.chunks = [];
  }

  close(): void {
    this.ws.close();
  }
}

interface Memory {
  /** As found, before any collection we cause. */
  rss: number;
  anon: number;
  rssAfterGc: number;
  heap: number;
  external: number;
}

async function oneRun(bin: string, run: number): Promise<{ before: Memory; after: Memory; served: boolean }> {
  const {
    child: up,
    gatewayPort,
    stop,
  } = await startUpProcess({
    service: 'idle',
    bin,
    nodeFlags: [`--inspect=127.0.0.1:${await freePort()}`, ...extraFlags],
  });
  const inspectorUrl = new Promise<string>((resolve) => {
    createInterface({ input: up.stderr }).on('line', (line) => {
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(line);
      if (m) resolve(m[1]!);
    });
  });
  const get = async () => {
    const res = await request(`http://127.0.0.1:${gatewayPort}/`, { headers: { host: HOST } });
    await res.body.dump();
    return res.statusCode;
  };
  const inspector = await Inspector.connect(await inspectorUrl);
  const idle: net.Socket[] = [];
  try {
    for (const deadline = Date.now() + 60_000; ;) {
      if ((await get().catch(() => 0)) === 200) break;
      if (Date.now() > deadline) throw new Error('gatehouse up did not serve within 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Warm, as a process that has served a while is: the proxy path compiled, the young generation grown to its
    // working size and the upstream connections open, by one batch of the same shape, closed again.
    for (const s of await openIdleConnections(gatewayPort, HOST, 500)) s.destroy();
    // RSS as found (the soak's figure), then V8's heap after a full collection, then RSS after it.
    const measure = async (): Promise<Memory> => {
      const found = memoryMiB(up.pid);
      const heap = await inspector.heap();
      const collected = memoryMiB(up.pid);
      return { rss: found.rss, anon: found.anon, rssAfterGc: collected.rss, heap: heap.used, external: heap.external };
    };
    if (snapshotDir) await inspector.snapshot(path.join(snapshotDir, `run${run}-before.heapsnapshot`));
    const before = await measure();
    idle.push(...(await openIdleConnections(gatewayPort, HOST, connections)));
    const after = await measure();
    if (snapshotDir) await inspector.snapshot(path.join(snapshotDir, `run${run}-after.heapsnapshot`));
    const served = (await get()) === 200;
    return { before, after, served };
  } finally {
    for (const s of idle) s.destroy();
    inspector.close();
    await stop();
  }
}

type Row = { before: Memory; after: Memory; served: boolean };
const targets: Array<{ name: string; bin: string; rows: Row[] }> = [
  { name: 'this checkout', bin: gatehouseBin, rows: [] },
];
if (process.env.BEFORE)
  targets.push({
    name: `before (${process.env.BEFORE})`,
    bin: path.join(process.env.BEFORE, 'bin', 'gatehouse.js'),
    rows: [],
  });
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (let run = 1; run <= runs; run++) {
  for (const t of run % 2 ? targets : [...targets].reverse()) {
    const r = await oneRun(t.bin, run);
    t.rows.push(r);
    const d = (k: keyof Memory) =>
      `${r.before[k].toFixed(1)} → ${r.after[k].toFixed(1)} (${signed(r.after[k] - r.before[k])})`;
    process.stdout.write(
      `${t.name}, run ${run}: ${connections} idle connections: RSS ${d('rss')} MiB, RssAnon ${d('anon')}; ` +
        `after a full GC: RSS ${d('rssAfterGc')}, V8 heap used ${d('heap')}, external ${d('external')}; ` +
        `served meanwhile: ${r.served}\n`,
    );
  }
}
for (const { name, rows } of targets) {
  const delta = (k: keyof Memory) => median(rows.map((r) => r.after[k] - r.before[k]));
  const growth = (k: keyof Memory) => signed(delta(k));
  process.stdout.write(
    `${name}, median of ${runs}: RSS ${growth('rss')} MiB (RssAnon ${growth('anon')}), ` +
      `${((delta('rss') * MiB) / connections / 1024).toFixed(1)} KiB per connection; after a full GC: ` +
      `RSS ${growth('rssAfterGc')} MiB, V8 heap used ${growth('heap')} MiB, external ${growth('external')} MiB; ` +
      `served meanwhile in ${rows.filter((r) => r.served).length} of ${runs}\n`,
  );
  if (rows.some((r) => !r.served)) process.exitCode = 1;
}
