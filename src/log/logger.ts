// Structured logs on stderr, so stdout stays free for command output: one JSON object per line
// when stderr is a pipe or a file (what machines and `gatehouse up` read from its children), one
// readable line per record on a terminal, below which a command may keep a live status line.

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'text';

const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold = rank[parseLevel(process.env.GATEHOUSE_LOG_LEVEL) ?? 'info'];
let format: LogFormat = process.stderr.isTTY ? 'text' : 'json';
let statusLine = '';

export function parseLevel(value: string | undefined): Level | undefined {
  if (value === undefined || value === '') return undefined;
  const lower = value.toLowerCase();
  return lower in rank ? (lower as Level) : undefined;
}

export function setLogLevel(level: Level): void {
  threshold = rank[level];
}

export function setLogFormat(f: LogFormat): void {
  format = f;
}

export function logFormat(): LogFormat {
  return format;
}

/**
 * A line kept at the bottom of a terminal (progress while starting), redrawn below each record;
 * '' removes it. Only in text format on a terminal: elsewhere it would be noise in a log file.
 */
export function setStatusLine(text: string): void {
  if (format !== 'text' || !process.stderr.isTTY) return;
  const width = process.stderr.columns || 100;
  const next = text.length >= width ? `${text.slice(0, width - 2)}…` : text;
  if (next === statusLine) return;
  statusLine = next;
  process.stderr.write(`\r\x1b[K${statusLine}`);
}

function write(line: string): void {
  process.stderr.write(statusLine === '' ? line : `\r\x1b[K${line}${statusLine}`);
}

/** Writes a line that is not a record (e.g. a child's output that is not JSON) as it is. */
export function writeLogText(line: string): void {
  write(line + '\n');
}

/** Writes a record that has already been made (e.g. a child process's JSON line) in this process's format. */
export function writeLogRecord(record: Record<string, unknown>): void {
  write(format === 'json' ? JSON.stringify(record) + '\n' : textLine(record));
}

const LEVEL_TEXT: Record<string, string> = { debug: 'DEBUG', info: 'INFO ', warn: 'WARN ', error: 'ERROR' };
const LEVEL_COLOR: Record<string, string> = { debug: '\x1b[2m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' };

/** "12:00:01.234 INFO  up       message  key=value key2="two words"" */
export function textLine(record: Record<string, unknown>, color = process.stderr.isTTY === true): string {
  const { ts, level, component, msg, ...fields } = record;
  const time = typeof ts === 'string' ? ts.slice(11, 23) : '';
  const lvl = LEVEL_TEXT[String(level)] ?? String(level).toUpperCase();
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${fieldText(v)}`)
    .join(' ');
  const head = color ? `\x1b[2m${time}\x1b[0m ${LEVEL_COLOR[String(level)] ?? ''}${lvl}\x1b[0m` : `${time} ${lvl}`;
  const tail = rest === '' ? '' : color ? `  \x1b[2m${rest}\x1b[0m` : `  ${rest}`;
  return `${head} ${String(component ?? '').padEnd(9)} ${String(msg ?? '')}${tail}\n`;
}

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
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
    writeLogRecord(record);
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
