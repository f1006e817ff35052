// A gatehouse component run as a child process of `gatehouse up` (so it gets a core of its own),
// supervised: its JSON log lines are passed through, it counts as started when a given line
// appears, and it is restarted with the same arguments if it exits on its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { writeLogRecord, writeLogText, type Logger } from '../log/logger.js';
import { packagePath } from '../package-root.js';

export interface SupervisedChild {
  /** The fields of the start-up line of the current incarnation. */
  readonly started: Record<string, unknown>;
  readonly pid: number | undefined;
  restarts: number;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

const RESTART_DELAY_MS = 1000;

/** Starts `gatehouse <args>`; resolves once a log line with `msg === readyMessage` appears. */
export async function superviseChild(
  name: string,
  args: () => string[],
  readyMessage: string,
  log: Logger,
  onRestart?: (started: Record<string, unknown>) => void,
): Promise<SupervisedChild> {
  let child: ChildProcess | undefined;
  let stopping = false;
  const state = { started: {} as Record<string, unknown>, restarts: 0 };

  const launch = (): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const proc = spawn(process.execPath, [packagePath('bin', 'gatehouse.js'), ...args()], {
        // Its start-up line is info; keep debug if asked for.
        env: { ...process.env, GATEHOUSE_LOG_LEVEL: process.env.GATEHOUSE_LOG_LEVEL === 'debug' ? 'debug' : 'info' },
        stdio: ['ignore', 'inherit', 'pipe'],
      });
      child = proc;
      let ready = false;
      createInterface({ input: proc.stderr }).on('line', (line) => {
        let fields: Record<string, unknown> | undefined;
        try {
          fields = JSON.parse(line) as Record<string, unknown>;
        } catch {
          // not a log line
        }
        if (!ready && fields?.msg === readyMessage) {
          ready = true;
          resolve(fields);
        }
        if (fields === undefined) writeLogText(line);
        else if (fields.level !== 'debug' || process.env.GATEHOUSE_LOG_LEVEL === 'debug') writeLogRecord(fields);
      });
      proc.once('exit', (code, signal) => {
        if (!ready) return reject(new Error(`${name} exited (${signal ?? code}) before it started`));
        if (stopping) return;
        log.error(`${name} exited; restarting it`, { code, signal, inMs: RESTART_DELAY_MS });
        setTimeout(() => {
          if (stopping) return;
          state.restarts++;
          launch().then(
            (fields) => {
              state.started = fields;
              onRestart?.(fields);
            },
            (err: Error) => log.error(`${name} did not come back`, { error: err.message }),
          );
        }, RESTART_DELAY_MS).unref();
      });
    });

  state.started = await launch();
  return {
    get started() {
      return state.started;
    },
    get pid() {
      return child?.pid;
    },
    get restarts() {
      return state.restarts;
    },
    set restarts(n: number) {
      state.restarts = n;
    },
    async stop(graceMs) {
      stopping = true;
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
