// Whether the machine's cores went partly unused lately, from Linux's /proc/stat (the time all
// cores spent idle or waiting for I/O, against all time). A pod boot is often mostly waiting (an
// app that sleeps or connects before it listens): then the cores idle while pods wait their turn
// to boot, and the next one may as well start. On a machine kept busy by anything (booting pods,
// the data plane, other programs) nothing is spare and the boot limit holds.
import { readFileSync } from 'node:fs';

/** Idle and total jiffies over all cores, or undefined off Linux. */
export function readCpuTimes(): { idle: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return Number.isFinite(total) ? { idle: fields[3]! + fields[4]!, total } : undefined;
  } catch {
    return undefined;
  }
}

/** Spare when at least this many cores' worth went idle over the last sample. */
export const SPARE_CORES = 0.5;

/** Samples /proc/stat: `spare()` says whether, since the previous call, SPARE_CORES or more cores went unused. */
export class SpareCpuMeter {
  private last: { idle: number; total: number } | undefined;

  constructor(
    private readonly cores: number,
    private readonly read: () => { idle: number; total: number } | undefined = readCpuTimes,
  ) {}

  spare(): boolean {
    const now = this.read();
    const before = this.last;
    this.last = now;
    if (!now || !before || now.total <= before.total) return false;
    return ((now.idle - before.idle) / (now.total - before.total)) * this.cores >= SPARE_CORES;
  }
}
