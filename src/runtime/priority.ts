// Pods run at a lower scheduling priority than the data plane: on one machine the runtime stands
// in for a cluster, where pods run on other nodes, so a burst of pods must never take the CPU the
// gateway, activators and autoscaler need to answer. Only pod processes are lowered.
import os from 'node:os';

/** Niceness added to this process's own for each pod process (Unix nice; 0 leaves them alone). */
export const DEFAULT_POD_NICENESS = 10;

/** Lowers `pid` to this process's priority plus `niceness` (capped at 19); the error, if any. */
export function lowerPriority(pid: number | undefined, niceness: number): string | undefined {
  if (pid === undefined || niceness === 0) return undefined;
  try {
    os.setPriority(pid, Math.min(19, os.getPriority() + niceness));
    return undefined;
  } catch (err) {
    // A process that already exited has no priority to lower.
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? undefined : (err as Error).message;
  }
}
