// The app's readiness, checked the way Knative's queue-proxy does from SERVING_READINESS_PROBE
// (the JSON of a Kubernetes Probe): tcpSocket or httpGet; periodSeconds 0 means aggressive probing,
// i.e. poll with a 100 ms attempt timeout for up to 10 s until the app answers. Knative polls every
// 50 ms; we poll every 10 ms, because on a cold start each poll period is latency added to the
// first request (half a period on average) and an attempt at a closed loopback port costs next to nothing.
import http from 'node:http';
import net from 'node:net';

export type ReadinessProbeSpec =
  | { kind: 'tcp'; host: string; port: number; periodSeconds: number; timeoutSeconds: number }
  | {
      kind: 'http';
      host: string;
      port: number;
      path: string;
      scheme: 'HTTP' | 'HTTPS';
      headers: Array<[string, string]>;
      periodSeconds: number;
      timeoutSeconds: number;
    };

const AGGRESSIVE_ATTEMPT_TIMEOUT_MS = 100;
const AGGRESSIVE_RETRY_INTERVAL_MS = 10;
const AGGRESSIVE_POLL_TIMEOUT_MS = 10_000;

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function probePort(value: unknown, field: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new Error(`${field} must be a port number (1-65535), got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Parses Knative's JSON probe (an object, or an array whose first entry is the serving container's). */
export function parseReadinessProbe(json: string): ReadinessProbeSpec {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error('expected the JSON of a Kubernetes probe, e.g. {"tcpSocket":{"port":8080}}');
  }
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) throw new Error('the probe list is empty');
    parsed = parsed[0];
  }
  const probe = asObject(parsed, 'the probe');
  const periodSeconds = typeof probe.periodSeconds === 'number' ? probe.periodSeconds : 0;
  const timeoutSeconds =
    typeof probe.timeoutSeconds === 'number' && probe.timeoutSeconds > 0 ? probe.timeoutSeconds : 1;
  if (probe.tcpSocket !== undefined) {
    const tcp = asObject(probe.tcpSocket, 'tcpSocket');
    return {
      kind: 'tcp',
      host: typeof tcp.host === 'string' && tcp.host !== '' ? tcp.host : '127.0.0.1',
      port: probePort(tcp.port, 'tcpSocket.port'),
      periodSeconds,
      timeoutSeconds,
    };
  }
  if (probe.httpGet !== undefined) {
    const get = asObject(probe.httpGet, 'httpGet');
    const scheme = typeof get.scheme === 'string' ? get.scheme.toUpperCase() : 'HTTP';
    if (scheme !== 'HTTP' && scheme !== 'HTTPS')
      throw new Error(`httpGet.scheme must be HTTP or HTTPS, got ${JSON.stringify(get.scheme)}`);
    const headers: Array<[string, string]> = [];
    if (get.httpHeaders !== undefined) {
      if (!Array.isArray(get.httpHeaders)) throw new Error('httpGet.httpHeaders must be a list of {name, value}');
      for (const h of get.httpHeaders) {
        const header = asObject(h, 'httpGet.httpHeaders[]');
        headers.push([String(header.name), String(header.value ?? '')]);
      }
    }
    return {
      kind: 'http',
      host: typeof get.host === 'string' && get.host !== '' ? get.host : '127.0.0.1',
      port: probePort(get.port, 'httpGet.port'),
      path: typeof get.path === 'string' && get.path !== '' ? get.path : '/',
      scheme,
      headers,
      periodSeconds,
      timeoutSeconds,
    };
  }
  if (probe.exec !== undefined)
    throw new Error('exec probes run in the app container, not in the queue-proxy; use tcpSocket or httpGet');
  throw new Error('expected tcpSocket or httpGet');
}

function tcpAttempt(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function httpAttempt(spec: Extract<ReadinessProbeSpec, { kind: 'http' }>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': 'Knative-Queue-Proxy-Probe', 'k-kubelet-probe': 'queue' };
    for (const [name, value] of spec.headers) headers[name] = value;
    const req = http.get(
      { host: spec.host, port: spec.port, path: spec.path, headers, timeout: timeoutMs, agent: false },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        // Kubernetes counts 200-399 as success.
        resolve(code >= 200 && code < 400);
      },
    );
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

export function probeOnce(spec: ReadinessProbeSpec, timeoutMs: number): Promise<boolean> {
  return spec.kind === 'tcp' ? tcpAttempt(spec.host, spec.port, timeoutMs) : httpAttempt(spec, timeoutMs);
}

/**
 * One readiness check as Knative's queue-proxy runs it for each health request: a single attempt
 * with the probe's timeout, or with periodSeconds 0 repeated attempts until success or 10 s.
 * Concurrent callers share one check in progress.
 */
export class ReadinessChecker {
  private inflight: Promise<boolean> | undefined;
  private lastReady = false;

  constructor(private readonly spec: ReadinessProbeSpec) {}

  get ready(): boolean {
    return this.lastReady;
  }

  check(): Promise<boolean> {
    if (this.inflight) return this.inflight;
    const run =
      this.spec.periodSeconds === 0 ? this.pollAggressively() : probeOnce(this.spec, this.spec.timeoutSeconds * 1000);
    this.inflight = run.then((ok) => {
      this.lastReady = ok;
      this.inflight = undefined;
      return ok;
    });
    return this.inflight;
  }

  private async pollAggressively(): Promise<boolean> {
    const deadline = Date.now() + AGGRESSIVE_POLL_TIMEOUT_MS;
    for (;;) {
      if (await probeOnce(this.spec, AGGRESSIVE_ATTEMPT_TIMEOUT_MS)) return true;
      if (Date.now() + AGGRESSIVE_RETRY_INTERVAL_MS >= deadline) return false;
      await new Promise((r) => setTimeout(r, AGGRESSIVE_RETRY_INTERVAL_MS));
    }
  }
}
