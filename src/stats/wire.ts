// Knative's Stat and WireStatMessages (protos/stat.proto) with protobufjs: what activators push to
// the autoscaler and what it reads from queue-proxies (which encode theirs by hand, queue/stat-wire.ts).
import path from 'node:path';
import protobuf from 'protobufjs';
import { packagePath } from '../package-root.js';

import type { Stat } from '../model/stat.js';

export interface WireStat {
  namespace: string;
  name: string;
  stat: Stat;
}

const protoPath = packagePath('protos', 'stat.proto');
let types: { stat: protobuf.Type; wire: protobuf.Type } | undefined;

function load() {
  if (!types) {
    const root = new protobuf.Root().loadSync(path.resolve(protoPath), { keepCase: true });
    types = { stat: root.lookupType('metrics.Stat'), wire: root.lookupType('metrics.WireStatMessages') };
  }
  return types;
}

function fromMessage(m: Record<string, unknown>): Stat {
  return {
    podName: (m.pod_name as string) ?? '',
    averageConcurrentRequests: (m.average_concurrent_requests as number) ?? 0,
    averageProxiedConcurrentRequests: (m.average_proxied_concurrent_requests as number) ?? 0,
    requestCount: (m.request_count as number) ?? 0,
    proxiedRequestCount: (m.proxied_request_count as number) ?? 0,
    processUptime: (m.process_uptime as number) ?? 0,
    timestamp: Number(m.timestamp ?? 0),
  };
}

function toMessage(s: Stat): Record<string, unknown> {
  return {
    pod_name: s.podName,
    average_concurrent_requests: s.averageConcurrentRequests,
    average_proxied_concurrent_requests: s.averageProxiedConcurrentRequests,
    request_count: s.requestCount,
    proxied_request_count: s.proxiedRequestCount,
    process_uptime: s.processUptime,
    timestamp: s.timestamp,
  };
}

export function decodeStat(bytes: Uint8Array): Stat {
  const { stat } = load();
  return fromMessage(stat.toObject(stat.decode(bytes), { longs: Number, defaults: true }));
}

export function decodeWireStats(bytes: Uint8Array): WireStat[] {
  const { wire } = load();
  const m = wire.toObject(wire.decode(bytes), { longs: Number, defaults: true }) as {
    messages: Array<Record<string, unknown>>;
  };
  return m.messages.map((w) => ({
    namespace: w.namespace as string,
    name: w.name as string,
    stat: fromMessage((w.stat as Record<string, unknown>) ?? {}),
  }));
}

export function encodeWireStats(stats: WireStat[]): Uint8Array {
  const { wire } = load();
  return wire
    .encode(
      wire.fromObject({
        messages: stats.map((s) => ({ namespace: s.namespace, name: s.name, stat: toMessage(s.stat) })),
      }),
    )
    .finish();
}
