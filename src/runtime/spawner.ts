// Pod processes are started by a small helper process, not by the process that runs the runtime.
// Node's spawn forks the caller and blocks its event loop until the child has exec'd: measured on
// the 2-core machine under load, 30–50 ms per spawn from a 44 MiB process and 70–640 ms from a
// 245 MiB one, and `gatehouse up` (gateway, admin API, xDS, autoscaler) spent over half a second of
// a burst of 50 there, answering nothing. The helper (spawner-main.ts) is small and does only this:
// it spawns, lowers the child's priority, and hands back the child's pipes (IPC handle passing)
// and its exit. A PodProcess stands for the child meanwhile, so callers never wait.
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { nodeEntryArgs } from './entry.js';

/** What the helper is asked to do. */
export interface SpawnRequest {
  id: number;
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Whether the child's stdin is a pipe (else ignored). */
  stdin: boolean;
  /** Niceness added to the helper's own for the child. */
  niceness: number;
}

/** What the helper answers, in this order per child: pid (or error), pipes, exit. */
export type SpawnReply =
  | { id: number; pid: number; priorityError?: string }
  | { id: number; stream: 'stdin' | 'stdout' | 'stderr' }
  | { id: number; error: string; code?: string }
  | { id: number; exit: number | null; signal: NodeJS.Signals | null };

/**
 * A child the helper started, shaped like the parts of ChildProcess the runtime uses: pid (once
 * known), pipes (usable at once; data flows once the helper hands them over), kill, and the
 * 'exit', 'close' and 'error' events.
 */
export class PodProcess extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdin: Writable | null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  private pendingSignal: NodeJS.Signals | undefined;
  private ended = 0;

  constructor(withStdin: boolean) {
    super();
    this.stdin = withStdin ? new PassThrough() : null;
  }

  /** 'close' comes once the child exited and its stdout and stderr both ended, as a ChildProcess's. */
  private outputEnded(): void {
    if (++this.ended === 2 && this.exited) this.emit('close', this.exitCode, this.signalCode);
  }

  private get exited(): boolean {
    return this.exitCode !== null || this.signalCode !== null;
  }

  /** Sends a signal now, or once the pid is known; false once the child has exited. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exited) return false;
    if (this.pid === undefined) {
      this.pendingSignal = signal;
      return true;
    }
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** @internal the helper's answers for this child. */
  receive(reply: SpawnReply, handle: unknown): void {
    if ('pid' in reply) {
      this.pid = reply.pid;
      this.emit('spawn');
      if (this.pendingSignal) this.kill(this.pendingSignal);
    } else if ('stream' in reply) {
      const mine = reply.stream === 'stdin' ? this.stdin : reply.stream === 'stdout' ? this.stdout : this.stderr;
      const pipe = handle as (Readable & Writable) | undefined;
      // No handle: the pipe closed before it could be handed over (the child is gone).
      if (!pipe) {
        if (mine === this.stdin) return void mine?.destroy();
        mine?.end();
        return this.outputEnded();
      }
      pipe.on('error', () => {}); // a child gone mid-write: its exit says what happened
      if (mine === this.stdin) return void this.stdin?.pipe(pipe);
      pipe.once('end', () => this.outputEnded());
      pipe.pipe(mine as PassThrough);
    } else if ('error' in reply) {
      this.stdin?.destroy();
      this.stdout.end();
      this.stderr.end();
      this.emit('error', Object.assign(new Error(reply.error), { code: reply.code }));
      this.emit('close', null, null); // as a ChildProcess that never started: 'error', then 'close', no 'exit'
    } else {
      this.exitCode = reply.exit;
      this.signalCode = reply.signal;
      this.emit('exit', reply.exit, reply.signal);
      if (this.ended === 2) this.emit('close', this.exitCode, this.signalCode);
    }
  }
}

export interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  stdin?: boolean;
  /** Niceness added to this process's own (0: none). */
  niceness: number;
}

function ignoreSendError(): void {}

export class PodSpawner {
  /** `onPriorityError`: told when a child's priority could not be lowered. */
  constructor(private readonly onPriorityError: (error: string) => void = () => {}) {}

  private helper: ChildProcess | undefined;
  private readonly children = new Map<number, PodProcess>();
  private nextId = 1;
  private closed = false;

  spawn(file: string, args: string[], o: SpawnOptions): PodProcess {
    const child = new PodProcess(o.stdin ?? false);
    if (this.closed) {
      setImmediate(() => child.receive({ id: 0, error: 'the pod runtime is closed' }, undefined));
      return child;
    }
    const id = this.nextId++;
    const helper = this.started();
    this.children.set(id, child);
    // Like a ChildProcess, a child keeps this process alive until it exits; the idle helper does not.
    helper.channel?.ref();
    const gone = () => {
      this.children.delete(id);
      if (this.children.size === 0) helper.channel?.unref();
    };
    child.once('exit', gone);
    child.once('error', gone);
    const request: SpawnRequest = {
      id,
      file,
      args,
      env: o.env,
      cwd: o.cwd,
      stdin: o.stdin ?? false,
      niceness: o.niceness,
    };
    // A helper that just died reports it on the next send (EPIPE): this child will not start.
    helper.send(request, (err: Error | null) => {
      if (err && this.children.has(id))
        child.receive({ id, error: `the pod spawner is gone: ${err.message}` }, undefined);
    });
    return child;
  }

  private started(): ChildProcess {
    if (this.helper) return this.helper;
    const helper = fork(nodeEntryArgs('runtime', 'spawner-main', import.meta.url).at(-1)!, [], {
      execArgv: nodeEntryArgs('runtime', 'spawner-main', import.meta.url).slice(0, -1),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    helper.on('message', (reply: SpawnReply, handle: unknown) => {
      if ('priorityError' in reply && reply.priorityError) this.onPriorityError(reply.priorityError);
      this.children.get(reply.id)?.receive(reply, handle);
    });
    helper.once('exit', (code, signal) => {
      if (this.helper === helper) this.helper = undefined;
      // Children it had not yet started never will; those it started keep running, their exit unknown.
      for (const [id, child] of this.children)
        if (child.pid === undefined)
          child.receive({ id, error: `the pod spawner exited (${signal ?? `code ${code}`})` }, undefined);
    });
    helper.unref();
    return (this.helper = helper);
  }

  /** Ends the helper; children still running get SIGKILL from it (nothing would manage them). */
  close(): void {
    this.closed = true;
    // A message rather than disconnect(): the helper cannot see a disconnect while a pipe it handed over waits for
    // this side's acknowledgement, as it does right after a spawn.
    // Its pipe may already be broken (the helper exiting): then there is nothing left to stop.
    if (this.helper?.connected) this.helper.send({ stop: true }, ignoreSendError);
  }
}
