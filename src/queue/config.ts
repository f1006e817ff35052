// The queue-proxy's configuration, read from the environment exactly as Knative names it,
// plus the ports that local pods sharing one host must be able to move.
import { httpLimitsFromEnv, type HttpLimits } from '../http/limits.js';
import type { ReadinessProbeSpec } from './readiness.js';
import { parseReadinessProbe } from './readiness.js';

export interface QueueConfig {
  namespace: string;
  configuration: string;
  revision: string;
  pod: string;
  podIp: string;
  containerConcurrency: number;
  servingPort: number;
  tlsPort: number;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  adminPort: number;
  metricsPort: number;
  userMetricsPort: number;
  bindAddress?: string;
  userPort: number;
  /** All in milliseconds; 0 disables. */
  revisionTimeoutMs: number;
  responseStartTimeoutMs: number;
  idleTimeoutMs: number;
  drainQuietMs: number;
  readinessProbe: ReadinessProbeSpec;
  /** Listener limits (headers, idle and body timeouts, connections), from GATEHOUSE_* variables. */
  limits: HttpLimits;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number | undefined, min: number, what: string): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') {
    if (fallback === undefined) throw new ConfigError(`${name} is not set: set it to ${what}`);
    return fallback;
  }
  const value = Number(raw.trim());
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name}="${raw}" is not valid: expected ${what}`);
  }
  return value;
}

function port(env: Env, name: string, fallback: number | undefined): number {
  const value = integer(env, name, fallback, 0, 'a port number from 0 to 65535 (0 picks a free port)');
  if (value > 65535)
    throw new ConfigError(`${name}="${env[name]}" is not valid: expected a port number from 0 to 65535`);
  return value;
}

function seconds(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback * 1000;
  const value = Number(raw.trim());
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigError(`${name}="${raw}" is not valid: expected a number of seconds, 0 or more`);
  }
  return Math.round(value * 1000);
}

/** Reads and validates the environment; throws ConfigError naming the variable and value. */
export function parseQueueEnv(env: Env): QueueConfig {
  const userPort = port(env, 'USER_PORT', undefined);
  if (userPort === 0) throw new ConfigError('USER_PORT="0" is not valid: set it to the port the app listens on');
  const readinessRaw = env.SERVING_READINESS_PROBE;
  let readinessProbe: ReadinessProbeSpec;
  try {
    readinessProbe =
      readinessRaw && readinessRaw.trim() !== ''
        ? parseReadinessProbe(readinessRaw)
        : { kind: 'tcp', host: '127.0.0.1', port: userPort, periodSeconds: 0, timeoutSeconds: 1 };
  } catch (err) {
    throw new ConfigError(`SERVING_READINESS_PROBE="${readinessRaw}" is not valid: ${(err as Error).message}`);
  }
  const certFile = env.QUEUE_TLS_CERT_FILE || undefined;
  const keyFile = env.QUEUE_TLS_KEY_FILE || undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError('QUEUE_TLS_CERT_FILE and QUEUE_TLS_KEY_FILE must be set together to serve TLS');
  }
  let limits: HttpLimits;
  try {
    limits = httpLimitsFromEnv(env);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return {
    namespace: env.SERVING_NAMESPACE ?? '',
    configuration: env.SERVING_CONFIGURATION ?? '',
    revision: env.SERVING_REVISION ?? '',
    pod: env.SERVING_POD ?? '',
    podIp: env.SERVING_POD_IP ?? '',
    containerConcurrency: integer(env, 'CONTAINER_CONCURRENCY', 0, 0, 'a whole number, 0 (no limit) or more'),
    servingPort: port(env, 'QUEUE_SERVING_PORT', 8012),
    tlsPort: port(env, 'QUEUE_SERVING_TLS_PORT', 8112),
    ...(certFile ? { tlsCertFile: certFile, tlsKeyFile: keyFile } : {}),
    adminPort: port(env, 'QUEUE_ADMIN_PORT', 8022),
    metricsPort: port(env, 'QUEUE_METRICS_PORT', 9090),
    userMetricsPort: port(env, 'QUEUE_USER_METRICS_PORT', 9091),
    ...(env.QUEUE_BIND_ADDRESS ? { bindAddress: env.QUEUE_BIND_ADDRESS } : {}),
    userPort,
    revisionTimeoutMs: seconds(env, 'REVISION_TIMEOUT_SECONDS', 300),
    responseStartTimeoutMs: seconds(env, 'REVISION_RESPONSE_START_TIMEOUT_SECONDS', 0),
    idleTimeoutMs: seconds(env, 'REVISION_IDLE_TIMEOUT_SECONDS', 0),
    drainQuietMs: seconds(env, 'QUEUE_DRAIN_QUIET_SECONDS', 30),
    readinessProbe,
    limits,
  };
}
