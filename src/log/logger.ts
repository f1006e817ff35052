// Structured logs: one JSON object per line on stderr, so stdout stays free for command output.

export type Level = 'debug' | 'info' | 'warn' | 'error';

const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold = rank[parseLevel(process.env.GATEHOUSE_LOG_LEVEL) ?? 'info'];
let sink: (line: string) => void = (line) => process.stderr.write(line);

export function parseLevel(value: string | undefined): Level | undefined {
  if (value === undefined || value === '') return undefined;
  const lower = value.toLowerCase();
  return lower in rank ? (lower as Level) : undefined;
}

export function setLogLevel(level: Level): void {
  threshold = rank[level];
}

/** Redirects log lines, for tests that assert on what was logged. */
export function setLogSink(write: (line: string) => void): void {
  sink = write;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  enabled(level: Level): boolean;
}

export function createLogger(component: string, base: Record<string, unknown> = {}): Logger {
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (rank[level] < threshold) return;
    const record: Record<string, unknown> = { ts: new Date().toISOString(), level, component, msg, ...base, ...fields };
    for (const key of Object.keys(record)) {
      const value = record[key];
      if (value instanceof Error) record[key] = { message: value.message, code: (value as NodeJS.ErrnoException).code };
    }
    sink(JSON.stringify(record) + '\n');
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger(component, { ...base, ...fields }),
    enabled: (level) => rank[level] >= threshold,
  };
}
