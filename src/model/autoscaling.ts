// The autoscaling part of Knative's model: config-autoscaler defaults, overridden per revision by
// `autoscaling.knative.dev/*` annotations, resolved into what the decider needs. Invalid values
// are rejected naming the annotation (or config key) and the value.

export interface GlobalAutoscalerConfig {
  enableScaleToZero: boolean;
  containerConcurrencyTargetDefault: number;
  /** target-utilization-percentage / 100 */
  targetUtilization: number;
  rpsTargetDefault: number;
  targetBurstCapacity: number;
  stableWindowMs: number;
  panicWindowPercentage: number;
  /** panic-threshold-percentage / 100 */
  panicThreshold: number;
  maxScaleUpRate: number;
  maxScaleDownRate: number;
  scaleToZeroGracePeriodMs: number;
  scaleToZeroPodRetentionPeriodMs: number;
  initialScale: number;
  allowZeroInitialScale: boolean;
  minScale: number;
  maxScale: number;
  activationScale: number;
  scaleDownDelayMs: number;
}

export const KNATIVE_DEFAULTS: GlobalAutoscalerConfig = {
  enableScaleToZero: true,
  containerConcurrencyTargetDefault: 100,
  targetUtilization: 0.7,
  rpsTargetDefault: 200,
  targetBurstCapacity: 211,
  stableWindowMs: 60_000,
  panicWindowPercentage: 10,
  panicThreshold: 2,
  maxScaleUpRate: 1000,
  maxScaleDownRate: 2,
  scaleToZeroGracePeriodMs: 30_000,
  scaleToZeroPodRetentionPeriodMs: 0,
  initialScale: 1,
  allowZeroInitialScale: false,
  minScale: 0,
  maxScale: 0,
  activationScale: 1,
  scaleDownDelayMs: 0,
};

/** Everything one revision's decider works from. */
export interface DeciderSpec {
  metric: 'concurrency' | 'rps';
  /** Per-pod value the autoscaler aims for: total × utilisation (at least 0.01). */
  targetValue: number;
  /** Per-pod capacity: the target before utilisation. */
  totalValue: number;
  targetBurstCapacity: number;
  panicThreshold: number;
  maxScaleUpRate: number;
  maxScaleDownRate: number;
  stableWindowMs: number;
  panicWindowMs: number;
  activationScale: number;
  scaleDownDelayMs: number;
  minScale: number;
  maxScale: number;
  initialScale: number;
  scaleToZeroGracePeriodMs: number;
  scaleToZeroPodRetentionPeriodMs: number;
  enableScaleToZero: boolean;
}

export class SettingsError extends Error {}

const PREFIX = 'autoscaling.knative.dev/';
const TARGET_MIN = 0.01;

function durationMs(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(raw.trim());
  if (!m) return undefined;
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * scale;
}

class Reader {
  readonly errors: string[] = [];
  constructor(private readonly annotations: Record<string, string>) {}

  number(name: string, fallback: number, check: (n: number) => boolean, expected: string): number {
    const raw = this.annotations[PREFIX + name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || !check(n)) {
      this.errors.push(`annotation ${PREFIX}${name}="${raw}" is invalid: expected ${expected}`);
      return fallback;
    }
    return n;
  }

  duration(name: string, fallback: number, min: number, max: number): number {
    const raw = this.annotations[PREFIX + name];
    if (raw === undefined) return fallback;
    const ms = durationMs(raw);
    if (ms === undefined || ms < min || ms > max) {
      this.errors.push(
        `annotation ${PREFIX}${name}="${raw}" is invalid: expected a ` +
          `duration like "30s" between ${min / 1000}s and ${max / 1000}s`,
      );
      return fallback;
    }
    return ms;
  }

  string(name: string): string | undefined {
    return this.annotations[PREFIX + name];
  }
}

/** Knative's per-revision resolution (ResolveMetricTarget and the annotation defaults). */
export function deciderSpecFor(
  annotations: Record<string, string>,
  containerConcurrency: number,
  config: GlobalAutoscalerConfig = KNATIVE_DEFAULTS,
): DeciderSpec {
  const r = new Reader(annotations);
  const metricRaw = r.string('metric') ?? 'concurrency';
  if (metricRaw !== 'concurrency' && metricRaw !== 'rps')
    r.errors.push(`annotation ${PREFIX}metric="${metricRaw}" is invalid: expected "concurrency" or "rps"`);
  const metric = metricRaw === 'rps' ? 'rps' : 'concurrency';
  const cls = r.string('class');
  if (cls !== undefined && cls !== 'kpa.autoscaling.knative.dev')
    r.errors.push(
      `annotation ${PREFIX}class="${cls}" is not supported: gatehouse runs Knative's KPA (kpa.autoscaling.knative.dev)`,
    );

  let total =
    metric === 'rps'
      ? config.rpsTargetDefault
      : containerConcurrency > 0
        ? containerConcurrency
        : config.containerConcurrencyTargetDefault;
  const target = r.number('target', NaN, (n) => n >= TARGET_MIN, `a number >= ${TARGET_MIN}`);
  if (!Number.isNaN(target))
    total = metric === 'concurrency' && containerConcurrency > 0 ? Math.min(target, containerConcurrency) : target;
  const utilisation =
    r.number(
      'target-utilization-percentage',
      config.targetUtilization * 100,
      (n) => n >= 1 && n <= 100,
      'a percentage from 1 to 100',
    ) / 100;
  const stableWindowMs = r.duration('window', config.stableWindowMs, 6_000, 3_600_000);
  const panicWindowPercentage = r.number(
    'panic-window-percentage',
    config.panicWindowPercentage,
    (n) => n >= 1 && n <= 100,
    'a percentage from 1 to 100',
  );
  const minScale = r.number(
    'min-scale',
    config.minScale,
    (n) => Number.isInteger(n) && n >= 0,
    'a whole number, 0 or more',
  );
  const maxScale = r.number(
    'max-scale',
    config.maxScale,
    (n) => Number.isInteger(n) && n >= 0,
    'a whole number, 0 (no limit) or more',
  );
  if (maxScale !== 0 && minScale > maxScale)
    r.errors.push(`annotation ${PREFIX}min-scale="${minScale}" is larger than ${PREFIX}max-scale="${maxScale}"`);
  const initialScale = r.number(
    'initial-scale',
    config.initialScale,
    (n) => Number.isInteger(n) && (n >= 1 || (n === 0 && config.allowZeroInitialScale)),
    config.allowZeroInitialScale
      ? 'a whole number, 0 or more'
      : 'a whole number, 1 or more (0 needs allow-zero-initial-scale)',
  );
  const spec: DeciderSpec = {
    metric,
    targetValue: Math.max(TARGET_MIN, total * utilisation),
    totalValue: total,
    targetBurstCapacity: r.number(
      'target-burst-capacity',
      config.targetBurstCapacity,
      (n) => n >= 0 || n === -1,
      '-1 (always through the activator), 0, or a positive number',
    ),
    panicThreshold:
      r.number(
        'panic-threshold-percentage',
        config.panicThreshold * 100,
        (n) => n >= 110 && n <= 1000,
        'a percentage from 110 to 1000',
      ) / 100,
    maxScaleUpRate: config.maxScaleUpRate,
    maxScaleDownRate: config.maxScaleDownRate,
    stableWindowMs,
    panicWindowMs: (stableWindowMs * panicWindowPercentage) / 100,
    activationScale: r.number(
      'activation-scale',
      config.activationScale,
      (n) => Number.isInteger(n) && n >= 1,
      'a whole number, 1 or more',
    ),
    scaleDownDelayMs: r.duration('scale-down-delay', config.scaleDownDelayMs, 0, 3_600_000),
    minScale,
    maxScale,
    initialScale,
    scaleToZeroGracePeriodMs: config.scaleToZeroGracePeriodMs,
    scaleToZeroPodRetentionPeriodMs: r.duration(
      'scale-to-zero-pod-retention-period',
      config.scaleToZeroPodRetentionPeriodMs,
      0,
      3_600_000,
    ),
    enableScaleToZero: config.enableScaleToZero,
  };
  if (r.errors.length > 0) throw new SettingsError(r.errors.join('; '));
  return spec;
}
