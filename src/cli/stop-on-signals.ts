// How a data-plane process (activator, gateway) stops: SIGINT and SIGTERM start one graceful stop,
// however many of them arrive and in whatever order: a Ctrl-C reaches every process of the group
// while `gatehouse up` sends its children SIGTERM. The same signal a second time means "now": exit
// without finishing the drain. Nothing here throws past the process: a failed stop is a log line.
import type { Logger } from '../log/logger.js';

export function stopOnSignals(
  stop: () => Promise<void>,
  log: Logger,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  const seen = new Set<NodeJS.Signals>();
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (seen.has(signal)) {
      log.warn('stopping now, without finishing the drain', { signal });
      return exit(1);
    }
    seen.add(signal);
    if (stopping) return log.info('already stopping', { signal });
    stopping = true;
    log.info('stopping', { signal });
    stop().then(
      () => exit(0),
      (err: Error) => {
        log.error('stopping failed', { error: err.message });
        exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
