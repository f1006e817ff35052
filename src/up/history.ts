// What the status page shows over time, kept by `gatehouse up`: pods per revision each second,
// scale decisions as they change, pod starts with their duration, and request rate and mean
// latency per revision. Pure: the caller hands in snapshots and the time.
import type { PodStatus } from '../runtime/index.js';
import type { UpStatus } from './status.js';
import { revisionKey } from '../model/names.js';

export interface PodSample {
  t: number;
  ready: number;
  desired: number;
}

export interface ScaleEvent {
  t: number;
  revision: string;
  from: number;
  to: number;
  reason: string;
}

export interface PodStart {
  t: number;
  revision: string;
  pod: string;
  /** From the pod first seen starting to ready. */
  ms: number;
  /** The revision had no ready pod when it started: a request may have waited for it. */
  fromZero: boolean;
}

export interface TrafficSample {
  t: number;
  /** Requests per second at the revision's pods. */
  rps: number;
  /** Mean time a request spent at the pod (queue-proxy and app), by Little's law: concurrency ÷ rate. */
  meanLatencyMs: number | undefined;
}

export interface HistorySnapshot {
  pods: Record<string, PodSample[]>;
  traffic: Record<string, TrafficSample[]>;
  scaleEvents: ScaleEvent[];
  podStarts: PodStart[];
}

/** One pod's queue-proxy stats for the last second, as its metrics endpoint reports them. */
export interface PodLoad {
  requestsPerSecond: number;
  averageConcurrency: number;
}

export class History {
  private readonly pods = new Map<string, PodSample[]>();
  private readonly traffic = new Map<string, TrafficSample[]>();
  private readonly scaleEvents: ScaleEvent[] = [];
  private readonly podStarts: PodStart[] = [];
  private readonly lastScale = new Map<string, { desired: number; reason: string }>();
  /** Pods seen starting, by name, with when and whether their revision then had a ready pod. */
  private readonly starting = new Map<string, { t: number; fromZero: boolean }>();
  private readonly seenReady = new Set<string>();

  constructor(
    /** Samples kept per revision (one a second). */
    private readonly keep = 600,
    private readonly keepEvents = 200,
  ) {}

  /** Once a second: pods per revision, and a scale event when a revision's desired pods change. */
  sample(revisions: UpStatus['revisions'], now: number): void {
    const present = new Set<string>();
    for (const r of revisions) {
      const key = revisionKey(r.namespace, r.name);
      present.add(key);
      push(this.pods, key, { t: now, ready: r.pods.ready, desired: r.pods.desired }, this.keep);
      const reason = r.scaleReason ?? '';
      const before = this.lastScale.get(key);
      if (before === undefined || before.desired !== r.pods.desired) {
        this.scaleEvents.push({ t: now, revision: key, from: before?.desired ?? 0, to: r.pods.desired, reason });
        trim(this.scaleEvents, this.keepEvents);
      }
      this.lastScale.set(key, { desired: r.pods.desired, reason });
    }
    for (const map of [this.pods, this.traffic, this.lastScale])
      for (const key of map.keys()) if (!present.has(key)) map.delete(key);
  }

  /** On every pod change of a revision: pods that became ready are recorded with how long they took. */
  podsChanged(revision: string, pods: readonly PodStatus[], now: number): void {
    const anyReady = pods.some((p) => p.phase === 'ready');
    for (const p of pods) {
      const id = `${revision}/${p.name}`;
      if (p.phase === 'starting' && !this.starting.has(id) && !this.seenReady.has(id))
        this.starting.set(id, { t: now, fromZero: !anyReady });
      if (p.phase === 'ready' && !this.seenReady.has(id)) {
        this.seenReady.add(id);
        const began = this.starting.get(id);
        this.starting.delete(id);
        if (began) {
          this.podStarts.push({ t: now, revision, pod: p.name, ms: now - began.t, fromZero: began.fromZero });
          trim(this.podStarts, this.keepEvents);
        }
      }
    }
    // Forget pods that are gone, so the sets do not grow for ever.
    const names = new Set(pods.map((p) => `${revision}/${p.name}`));
    for (const set of [this.seenReady, this.starting])
      for (const id of set.keys()) if (id.startsWith(`${revision}/`) && !names.has(id)) set.delete(id);
  }

  /** Each second while someone watches: the revision's pods' load summed. */
  recordTraffic(revision: string, loads: readonly PodLoad[], now: number): void {
    push(this.traffic, revision, trafficSample(loads, now), this.keep);
  }

  snapshot(): HistorySnapshot {
    return {
      pods: Object.fromEntries(this.pods),
      traffic: Object.fromEntries(this.traffic),
      scaleEvents: [...this.scaleEvents],
      podStarts: [...this.podStarts],
    };
  }
}

export function trafficSample(loads: readonly PodLoad[], now: number): TrafficSample {
  const rps = loads.reduce((n, l) => n + l.requestsPerSecond, 0);
  const concurrency = loads.reduce((n, l) => n + l.averageConcurrency, 0);
  return { t: now, rps, meanLatencyMs: rps > 0 ? (concurrency / rps) * 1000 : undefined };
}

/** The queue-proxy's Prometheus text: requests in the last second and their average concurrency. */
export function parsePodLoad(text: string): PodLoad | undefined {
  const value = (name: string): number | undefined => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const requestsPerSecond = value('queue_requests_per_second');
  const averageConcurrency = value('queue_average_concurrent_requests');
  if (requestsPerSecond === undefined || averageConcurrency === undefined) return undefined;
  return { requestsPerSecond, averageConcurrency };
}

function push<T>(map: Map<string, T[]>, key: string, value: T, keep: number): void {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  list.push(value);
  trim(list, keep);
}

function trim<T>(list: T[], keep: number): void {
  if (list.length > keep) list.splice(0, list.length - keep);
}
