// A Logger that keeps what it is given, for tests that assert on log lines.
import type { Level, Logger } from '../../src/log/logger.js';

export interface Captured {
  level: Level;
  msg: string;
  fields: Record<string, unknown>;
}

export function captureLog(): Logger & { lines: Captured[] } {
  const lines: Captured[] = [];
  const log =
    (level: Level) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void lines.push({ level, msg, fields });
  const logger: Logger & { lines: Captured[] } = {
    lines,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: () => logger,
    enabled: () => true,
  };
  return logger;
}
