// A one-shot HTTP GET for probes (kubelet, activator, runtime), on node:http with no connection
// reuse. Not global fetch: its first use in a process loads Node's bundled undici, which on a cold
// start costs tens of milliseconds at exactly the wrong moment.
import http from 'node:http';
import type { Endpoint } from '../model/desired.js';

const MAX_BODY = 4096;

/** Status and (up to 4 KiB of) body, or undefined when nothing answered within timeoutMs. */
export function probeGet(
  e: Endpoint,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: e.host, port: e.port, path: '/', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < MAX_BODY) body += chunk;
      });
      res.once('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.once('error', () => resolve(undefined));
    });
    const timer = setTimeout(() => req.destroy(), timeoutMs);
    req.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}
