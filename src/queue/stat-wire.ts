// Knative's autoscaler `Stat` message (protos/stat.proto) encoded by hand: the sidecar stays free
// of protobufjs. Fields: 1 pod_name string, 2-6 doubles, 7 timestamp int64 (varint).
import type { Stat } from '../model/stat.js';

function varint(out: number[], value: bigint): void {
  let v = BigInt.asUintN(64, value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

export function encodeStat(stat: Stat): Buffer {
  const head: number[] = [];
  const name = Buffer.from(stat.podName, 'utf8');
  const doubles: Array<[number, number]> = [
    [2, stat.averageConcurrentRequests],
    [3, stat.averageProxiedConcurrentRequests],
    [4, stat.requestCount],
    [5, stat.proxiedRequestCount],
    [6, stat.processUptime],
  ];
  const parts: Buffer[] = [];
  if (name.length > 0) {
    head.push((1 << 3) | 2);
    varint(head, BigInt(name.length));
    parts.push(Buffer.from(head), name);
  }
  for (const [field, value] of doubles) {
    // proto3 omits default (zero) scalars.
    if (value === 0) continue;
    const buf = Buffer.allocUnsafe(9);
    buf[0] = (field << 3) | 1;
    buf.writeDoubleLE(value, 1);
    parts.push(buf);
  }
  if (stat.timestamp !== 0) {
    const ts: number[] = [(7 << 3) | 0];
    varint(ts, BigInt(Math.trunc(stat.timestamp)));
    parts.push(Buffer.from(ts));
  }
  return Buffer.concat(parts);
}
