// undici's Pool alone. The package's entry point loads fetch, WebSocket, caches and more (about
// 150 ms at start-up); the queue-proxy starts with every cold start and needs only the Pool
// (about 50 ms). undici has no `exports` map, so the file is reachable; the version is pinned.
import { createRequire } from 'node:module';
import type { Pool as UndiciPool } from 'undici';

const require = createRequire(import.meta.url);

export const Pool: typeof UndiciPool = require('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
export type Pool = UndiciPool;
