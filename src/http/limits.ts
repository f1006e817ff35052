// Limits every HTTP listener of gatehouse applies (gateway, activator, queue-proxy), after Envoy's
// request_headers_timeout, idle_timeout, stream idle timeout and overload manager
// (global_downstream_max_connections): a slow or silent client, or a flood of idle connections,
// costs a bounded amount and never the process's ability to serve.
import { readFileSync } from 'node:fs';
import type { Logger } from '../log/logger.js';

export interface HttpLimits {
  /**
   * A request's head (or, on HTTP/2, the first stream) must arrive within this after the connection opens or the
   * previous response.
   */
  headersTimeoutMs: number;
  /** A connection with no request in flight is closed after this. */
  idleTimeoutMs: number;
  /** A request body that brings no byte for this long ends its request with 408 (0 = never). */
  bodyIdleTimeoutMs: number;
  /** After an early response, the rest of the request body is read and dropped for at most this long. */
  drainMs: number;
  /** Open connections one listener accepts; more are closed at once. */
  maxConnectionsPerListener: number;
  /** Open connections all listeners of this process accept together. */
  maxConnections: number;
}

/** File descriptors this process may open (soft RLIMIT_NOFILE), when the platform says. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/**
 * Downstream connections the process accepts by default: 80 % of its file limit, keeping at least 256 descriptors for
 * upstreams, probes and xDS.
 */
export function defaultMaxConnections(fileLimit: number | undefined): number {
  if (fileLimit === undefined || !Number.isFinite(fileLimit)) return 50_000;
  return Math.max(64, Math.min(Math.floor(fileLimit * 0.8), fileLimit - 256));
}

export function defaultHttpLimits(): HttpLimits {
  const max = defaultMaxConnections(openFileLimit());
  return {
    headersTimeoutMs: 10_000,
    idleTimeoutMs: 65_000,
    bodyIdleTimeoutMs: 30_000,
    drainMs: 5_000,
    maxConnectionsPerListener: max,
    maxConnections: max,
  };
}

const ENV: ReadonlyArray<[keyof HttpLimits, string, 'seconds' | 'count']> = [
  ['headersTimeoutMs', 'GATEHOUSE_HEADERS_TIMEOUT_SECONDS', 'seconds'],
  ['idleTimeoutMs', 'GATEHOUSE_IDLE_TIMEOUT_SECONDS', 'seconds'],
  ['bodyIdleTimeoutMs', 'GATEHOUSE_BODY_IDLE_TIMEOUT_SECONDS', 'seconds'],
  ['drainMs', 'GATEHOUSE_DRAIN_UPLOAD_SECONDS', 'seconds'],
  ['maxConnectionsPerListener', 'GATEHOUSE_MAX_CONNECTIONS_PER_LISTENER', 'count'],
  ['maxConnections', 'GATEHOUSE_MAX_CONNECTIONS', 'count'],
];

/**
 * The defaults, overridden by GATEHOUSE_* environment variables (seconds may be fractional); a bad value throws naming
 * it.
 */
export function httpLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): HttpLimits {
  const limits = defaultHttpLimits();
  for (const [field, name, kind] of ENV) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0 || (kind === 'count' && (!Number.isInteger(n) || n < 1))) {
      throw new Error(
        `${name}=${raw}: expected ${kind === 'seconds' ? 'a number of seconds ≥ 0' : 'a whole number ≥ 1'}`,
      );
    }
    limits[field] = kind === 'seconds' ? Math.round(n * 1000) : n;
  }
  if (limits.maxConnectionsPerListener > limits.maxConnections)
    limits.maxConnectionsPerListener = limits.maxConnections;
  return limits;
}

/** Connections open across every listener of the process (Envoy's global_downstream_max_connections). */
export class ConnectionBudget {
  open = 0;
  constructor(readonly max: number) {}

  admit(): boolean {
    if (this.open >= this.max) return false;
    this.open++;
    return true;
  }

  release(): void {
    this.open--;
  }
}

let processBudget: ConnectionBudget | undefined;

/** The one budget all listeners in this process share, sized by the first listener's limits. */
export function processConnections(limits: HttpLimits): ConnectionBudget {
  return (processBudget ??= new ConnectionBudget(limits.maxConnections));
}

/** One warning per interval when connections are refused, with how many were refused since the last one. */
export class RefusalLog {
  private refused = 0;
  private lastLogAt = -Infinity;

  constructor(
    private readonly log: Logger | undefined,
    private readonly listener: string,
    private readonly intervalMs = 10_000,
  ) {}

  /** Counts one refusal; returns whether a line was written. */
  refuse(limit: 'listener' | 'process', max: number, open: number, now = Date.now()): boolean {
    this.refused++;
    if (now - this.lastLogAt < this.intervalMs) return false;
    this.log?.warn('connection limit reached: new connections are closed until some end', {
      listener: this.listener,
      limit: limit === 'listener' ? 'maxConnectionsPerListener' : 'maxConnections (whole process)',
      max,
      open,
      refusedSinceLastLine: this.refused,
    });
    this.refused = 0;
    this.lastLogAt = now;
    return true;
  }
}
