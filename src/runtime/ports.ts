// Ports for local pods' apps. An app must be told its port before it listens, so the runtime picks one
// that is free now and the app binds it a few hundred milliseconds later. Picked from the kernel's
// ephemeral range (bind to port 0), that port could meanwhile go to any socket that binds port 0 — a
// queue-proxy's metrics listener, say, which then passes the app's TCP readiness probe and answers its
// requests with 404 — or to an outgoing connection. So app ports come from just below that range,
// where the kernel never picks on its own, handed out in turn so that no port goes to two apps at once.
import { readFileSync } from 'node:fs';
import net from 'node:net';

export interface PortRange {
  first: number;
  last: number;
}

/** At most this many app ports, right below the ephemeral range. */
const APP_PORT_SPAN = 16_384;
/** Kubernetes' NodePorts start here (30000–32767): kube-proxy on this host may take their traffic. */
const NODE_PORTS_FIRST = 30_000;
/** Fewer free ports than this below the ephemeral range (it was widened): app ports come from port 0 instead. */
const MIN_APP_PORT_SPAN = 1024;
/** Taken ports skipped before giving up on the range for this pick. */
const MAX_TRIES = 64;

/** Linux's ephemeral port range ("32768\t60999"); undefined where it is not readable. */
export function ephemeralPortRange(read = () => readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')) {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const [first, last] = text.trim().split(/\s+/).map(Number);
  return Number.isInteger(first) && Number.isInteger(last) ? { first: first!, last: last! } : undefined;
}

/**
 * The ports right below the ephemeral range and below Kubernetes' NodePorts, above the privileged ones; undefined
 * when too few are left.
 */
export function appPortRange(ephemeral: PortRange | undefined): PortRange | undefined {
  if (!ephemeral) return undefined;
  const last = Math.min(ephemeral.first, NODE_PORTS_FIRST) - 1;
  const first = Math.max(1024, last - APP_PORT_SPAN + 1);
  return last - first + 1 >= MIN_APP_PORT_SPAN ? { first, last } : undefined;
}

/**
 * Whether the port is free on every address, as an app's `listen(PORT)` wants it (all of IPv6 and IPv4): a
 * listener on [::1] or on another interface makes it taken, not only one on 127.0.0.1.
 */
export function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** A free loopback port chosen by the kernel (bind to port 0, then release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Hands out app ports in turn through the range, from a random start (so two runtimes on one machine walk
 * different stretches), skipping ports something listens on. A port comes round again only after the whole
 * range, long after its app has bound it. Without a range (unreadable or too wide an ephemeral range) the
 * kernel picks; a child may then lose the race for its port, and is restarted like any crash.
 */
export class AppPorts {
  private cursor: number;

  constructor(
    private readonly range: PortRange | undefined = appPortRange(ephemeralPortRange()),
    private readonly isFree: (port: number) => Promise<boolean> = canListen,
    random: () => number = Math.random,
  ) {
    this.cursor = range ? Math.floor(random() * (range.last - range.first + 1)) : 0;
  }

  async take(): Promise<number> {
    const range = this.range;
    if (!range) return freePort();
    const size = range.last - range.first + 1;
    for (let i = 0; i < MAX_TRIES; i++) {
      const port = range.first + (this.cursor % size);
      this.cursor = (this.cursor + 1) % size;
      if (await this.isFree(port)) return port;
    }
    return freePort();
  }
}
