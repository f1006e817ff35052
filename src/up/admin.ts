// The loopback admin API of `gatehouse up`: /status (what `gatehouse status` reads), the status
// page (static files from the package, no build step), and /events, a server-sent event stream
// of the status and its history, pushed each second and soon after any change. The history is
// sampled always, from the revisions alone (the whole status costs a walk over every service and
// route); the whole status is built and pods' load scraped only while a page is watching.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { ServerResponse } from 'node:http';
import { closeServer, listen, plain } from '../http/auto-codec.js';
import type { Logger } from '../log/logger.js';
import type { Endpoint } from '../model/desired.js';
import { packagePath } from '../package-root.js';
import { parsePodLoad, type History, type PodLoad } from './history.js';
import type { UpStatus } from './status.js';
import { revisionKey } from '../model/names.js';

export interface AdminOptions {
  port: number;
  status(): UpStatus;
  /** The revisions' part of status(), for the history. */
  revisions(): UpStatus['revisions'];
  history: History;
  /** The metrics endpoints of a revision's ready pods. */
  podMetrics(revision: string): Endpoint[];
  log: Logger;
}

export interface Admin {
  port: number;
  /** Something changed: watchers get a fresh status soon, not at the next second. */
  changed(): void;
  close(): Promise<void>;
}

const PAGE_FILES: Record<string, string> = {
  '/': 'index.html',
  '/page.js': 'page.js',
  '/page.css': 'page.css',
};
const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};
const SAMPLE_MS = 1000;
const CHANGE_PUSH_MS = 100;

export async function startAdmin(o: AdminOptions): Promise<Admin> {
  const { history } = o;
  const watchers = new Set<ServerResponse>();
  let pushTimer: NodeJS.Timeout | undefined;

  const event = (status = o.status()): string =>
    `data: ${JSON.stringify({ status, history: history.snapshot(), at: Date.now() })}\n\n`;
  const push = (status?: UpStatus): void => {
    clearTimeout(pushTimer);
    pushTimer = undefined;
    if (watchers.size === 0) return;
    const data = event(status);
    for (const w of watchers) w.write(data);
  };

  let sampling = false;
  const sample = async (): Promise<void> => {
    if (sampling) return;
    sampling = true;
    try {
      const now = Date.now();
      const status = watchers.size > 0 ? o.status() : undefined;
      history.sample(status?.revisions ?? o.revisions(), now);
      if (status) {
        await Promise.all(
          status.revisions.map(async (r) => {
            const key = revisionKey(r.namespace, r.name);
            const loads = await Promise.all(o.podMetrics(key).map(scrapeLoad));
            history.recordTraffic(
              key,
              loads.filter((l): l is PodLoad => l !== undefined),
              now,
            );
          }),
        );
      }
      if (status) push(status);
    } finally {
      sampling = false;
    }
  };
  const sampler = setInterval(() => void sample(), SAMPLE_MS);
  sampler.unref();

  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0]!;
    if (url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(o.status(), null, 2) + '\n');
      return;
    }
    if (url === '/healthz') return plain(res, 200, 'ok\n');
    if (url === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write('retry: 1000\n');
      res.write(event());
      watchers.add(res);
      req.once('close', () => watchers.delete(res));
      return;
    }
    const file = PAGE_FILES[url];
    if (file && req.method === 'GET') {
      let body: Buffer;
      try {
        body = readFileSync(packagePath('src', 'up', 'page', file));
      } catch (err) {
        return plain(res, 500, `the status page's ${file} is missing from the package: ${(err as Error).message}\n`);
      }
      res.writeHead(200, {
        'content-type': CONTENT_TYPES[file.slice(file.lastIndexOf('.') + 1)]!,
        'content-length': String(body.length),
        'cache-control': 'no-cache',
      });
      res.end(body);
      return;
    }
    plain(res, 404, 'not found; the admin API serves / (the status page), /status, /events and /healthz\n');
  });
  const port = await listen(server, o.port, '127.0.0.1');
  o.log.debug('admin API listening', { port });

  return {
    port,
    changed() {
      if (watchers.size > 0 && pushTimer === undefined) pushTimer = setTimeout(() => push(), CHANGE_PUSH_MS);
    },
    async close() {
      clearInterval(sampler);
      clearTimeout(pushTimer);
      for (const w of watchers) w.end();
      watchers.clear();
      await closeServer(server);
    },
  };
}

/** One pod's load for the last second, from its queue-proxy's Prometheus text (undefined if it does not answer). */
function scrapeLoad(e: Endpoint): Promise<PodLoad | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: e.host, port: e.port, path: '/metrics', agent: false, timeout: 500 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('end', () => resolve(res.statusCode === 200 ? parsePodLoad(text) : undefined));
      res.once('error', () => resolve(undefined));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
  });
}
