// The fixed ports `gatehouse up` serves on, checked before anything starts, and — when one is
// taken — which process holds it (Linux, best effort: /proc/net/tcp{,6} and /proc/*/fd).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';

/** A port `up` will listen on, with the flag that moves it. */
export interface PortClaim {
  port: number;
  flag: string;
}

export interface PortProblem extends PortClaim {
  /** 'in use': the bind failed; 'answers': something else accepts connections for `localhost` there. */
  kind: 'in use' | 'answers';
  address: string;
  holder?: string;
}

export class PortInUseError extends Error {
  constructor(readonly problems: PortProblem[]) {
    super(problems.map(portProblemMessage).join('\n'));
  }
}

export function portProblemMessage(p: PortProblem): string {
  const by = p.holder ? ` by ${p.holder}` : '';
  const what =
    p.kind === 'in use'
      ? `port ${p.port} is already in use on ${p.address}${by}`
      : `another process${by} answers on ${p.address} port ${p.port}, ` +
        `so clients of localhost:${p.port} would reach it instead`;
  return `${what}; stop it, or move gatehouse with ${p.flag} <port>`;
}

/**
 * Throws PortInUseError naming every claimed port that cannot be bound on `host`, or on which
 * something already answers at the IPv6 loopback (where `localhost` may resolve). Port 0 is skipped.
 */
export async function checkPortsFree(claims: PortClaim[], host = '127.0.0.1'): Promise<void> {
  const found = await Promise.all(
    claims
      .filter((c) => c.port !== 0)
      .map(async (c): Promise<PortProblem | undefined> => {
        const bindError = await tryBind(c.port, host);
        if (bindError === 'EADDRINUSE' || bindError === 'EACCES') return portInUse(c, host);
        if (await answers(c.port, '::1')) return { ...c, kind: 'answers', address: '[::1]', ...holderField(c.port) };
        return undefined;
      }),
  );
  const problems = found.filter((p) => p !== undefined);
  if (problems.length > 0) throw new PortInUseError(problems);
}

/** The problem for a claim whose port could not be bound, with what holds it when that can be found. */
export function portInUse(claim: PortClaim, address = '127.0.0.1'): PortProblem {
  return { ...claim, kind: 'in use', address, ...holderField(claim.port) };
}

function holderField(port: number): { holder?: string } {
  const holder = portHolder(port);
  return holder ? { holder } : {};
}

function tryBind(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** Whether a TCP connection to host:port is accepted within 300 ms. */
function answers(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(300, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Listening sockets in /proc/net/tcp or tcp6 text: local port and socket inode. */
export function parseProcNetTcp(text: string): Array<{ port: number; inode: string }> {
  const out: Array<{ port: number; inode: string }> = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (f.length < 10 || f[3] !== '0A') continue; // 0A: TCP_LISTEN
    const port = parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16);
    if (Number.isInteger(port)) out.push({ port, inode: f[9]! });
  }
  return out;
}

/** "pid 123 (python3 -m http.server 8080)" for the process listening on port, when this user can see it. */
export function portHolder(port: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const l of parseProcNetTcp(readFileSync(file, 'utf8'))) if (l.port === port) inodes.add(l.inode);
    } catch {
      // no such table (IPv6 off)
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) return `pid ${pid} (${commandLine(pid)})`;
    }
  }
  return undefined;
}

function commandLine(pid: string): string {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const line = args.join(' ');
    return line.length > 120 ? `${line.slice(0, 117)}...` : line;
  } catch {
    return 'unknown command';
  }
}
