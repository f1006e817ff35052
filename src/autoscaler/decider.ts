// Knative's KPA decision, as a pure step: (spec, observed metrics, previous state, now) →
// (decision, next state). Nothing here reads a clock, a pod list or a socket.
import type { DeciderSpec } from '../model/autoscaling.js';

export interface Observation {
  /** Ready pods right now (0 when scaled to zero). */
  readyPods: number;
  /** Average of the metric over the stable window, for the whole revision. */
  stable: number;
  /** Average over the panic window. */
  panic: number;
}

export interface DeciderState {
  /** Last time the panic-window demand was over the threshold; undefined when not panicking. */
  panicAt: number | undefined;
  /** Never scale below this while panicking. */
  maxPanicPods: number;
  /** Recent desired counts for scale-down-delay: the decision is their maximum. */
  recent: ReadonlyArray<{ at: number; pods: number }>;
}

export interface Decision {
  desiredPods: number;
  /** Spare capacity beyond the target burst; negative means the activator must stay in the path. */
  excessBurstCapacity: number;
  panicking: boolean;
}

export const INITIAL_STATE: DeciderState = { panicAt: undefined, maxPanicPods: 0, recent: [] };

/** One scaling step. */
export function decide(
  spec: DeciderSpec,
  obs: Observation,
  state: DeciderState,
  now: number,
): { decision: Decision; state: DeciderState } {
  const ready = Math.max(1, obs.readyPods);
  // Limits per step; ceil so a slow scale-up rate still adds at least one pod.
  const maxScaleUp = Math.ceil(spec.maxScaleUpRate * ready);
  const maxScaleDown = Math.floor(ready / spec.maxScaleDownRate);

  const stablePods = Math.ceil(obs.stable / spec.targetValue);
  const panicPods = Math.ceil(obs.panic / spec.targetValue);
  let desiredStable = Math.min(Math.max(stablePods, maxScaleDown), maxScaleUp);
  let desiredPanic = Math.min(Math.max(panicPods, maxScaleDown), maxScaleUp);
  if (spec.activationScale > 1) {
    if (stablePods > 0 && spec.activationScale > desiredStable) desiredStable = spec.activationScale;
    if (panicPods > 0 && spec.activationScale > desiredPanic) desiredPanic = spec.activationScale;
  }

  const overThreshold = panicPods / ready >= spec.panicThreshold;
  let panicAt = state.panicAt;
  let maxPanicPods = state.maxPanicPods;
  if (overThreshold) {
    panicAt = now; // enter panic, or extend it
  } else if (panicAt !== undefined && panicAt + spec.stableWindowMs < now) {
    // The surge has had a whole stable window to reach the stable average: calm down.
    panicAt = undefined;
    maxPanicPods = 0;
  }

  let desired = desiredStable;
  if (panicAt !== undefined) {
    desired = Math.max(desired, desiredPanic);
    // While panicking the count only goes up.
    maxPanicPods = Math.max(maxPanicPods, desired);
    desired = maxPanicPods;
  }

  let recent = state.recent;
  if (spec.scaleDownDelayMs > 0) {
    recent = [...state.recent.filter((r) => r.at > now - spec.scaleDownDelayMs), { at: now, pods: desired }];
    desired = Math.max(...recent.map((r) => r.pods));
  }

  let excessBurstCapacity = -1;
  if (spec.targetBurstCapacity === 0) excessBurstCapacity = 0;
  else if (spec.targetBurstCapacity > 0) {
    excessBurstCapacity = Math.floor(obs.readyPods * spec.totalValue - spec.targetBurstCapacity - obs.panic);
  }

  return {
    decision: { desiredPods: desired, excessBurstCapacity, panicking: panicAt !== undefined },
    state: { panicAt, maxPanicPods, recent },
  };
}

/** Whether the activator must be in the request path: at zero, or without enough spare capacity. */
export function servingMode(desiredPods: number, excessBurstCapacity: number): 'proxy' | 'serve' {
  return desiredPods === 0 || excessBurstCapacity < 0 ? 'proxy' : 'serve';
}

export interface ScaleToZeroFacts {
  /** When the revision's public endpoints were confirmed to reach the activator; undefined if not (yet). */
  proxyConfirmedAt: number | undefined;
  /** Why confirmation failed, if it did. */
  confirmationError?: string;
  /** The revision is at zero already (initial-scale 0, or scaled down before): nothing to hold. */
  atZero?: boolean;
}

/**
 * The scale the runtime should apply: the decider's count within min/max, at least 1 until
 * scale to zero is allowed — enabled, and the activator confirmed in the path for the grace
 * period (and the pod retention period).
 */
export function applyScale(
  spec: DeciderSpec,
  desired: number,
  facts: ScaleToZeroFacts,
  now: number,
): { pods: number; reason: string } {
  let pods = desired;
  let reason = `decider wants ${desired}`;
  // min-scale first: a revision held up by it is never on its way to zero.
  if (pods < spec.minScale) [pods, reason] = [spec.minScale, `min-scale ${spec.minScale}`];
  if (pods === 0) {
    const hold = Math.max(spec.scaleToZeroGracePeriodMs, spec.scaleToZeroPodRetentionPeriodMs);
    if (!spec.enableScaleToZero) [pods, reason] = [1, 'scale to zero is disabled'];
    else if (facts.atZero) reason = 'at zero: no demand';
    else if (facts.proxyConfirmedAt === undefined)
      [pods, reason] = [
        1,
        facts.confirmationError
          ? `staying at 1: the activator is not confirmed in the path (${facts.confirmationError})`
          : 'staying at 1 until the activator is confirmed in the path',
      ];
    else if (now - facts.proxyConfirmedAt < hold)
      [pods, reason] = [
        1,
        `staying at 1 for ${Math.ceil((hold - (now - facts.proxyConfirmedAt)) / 1000)} ` +
          `s more of the scale-to-zero grace period`,
      ];
  }
  if (pods < spec.minScale) [pods, reason] = [spec.minScale, `min-scale ${spec.minScale}`];
  if (spec.maxScale > 0 && pods > spec.maxScale) [pods, reason] = [spec.maxScale, `max-scale ${spec.maxScale}`];
  return { pods, reason };
}
