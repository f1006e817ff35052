#!/usr/bin/env node
// The bundled example app: one port that speaks HTTP/1.1, WebSocket and HTTP/2 cleartext
// (prior knowledge, including a gRPC echo with trailers). Used by tests, benchmarks and `gatehouse up`.
//
// Environment (Knative runtime contract plus knobs for testing):
//   PORT                 listen port (default 8080; 0 picks a free one and prints it)
//   HOST                 listen address (default 127.0.0.1)
//   STARTUP_DELAY_MS     wait this long before listening (a slow boot)
//   READY_DELAY_MS       /healthz answers 503 until this long after listening
//   RESPONSE_DELAY_MS    default delay before each response
//   BODY_SIZE            default response body size in bytes (0 = a greeting line)
//   TARGET               who to greet (default K_REVISION, else "World")
// Per request, query parameters override: ?delay=MS&size=BYTES&status=CODE&chunks=N
// Paths: /healthz, /echo (echoes the body), /headers (request headers as JSON), /crash (exits 1).
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { WebSocketServer } from 'ws';

const env = process.env;
const port = Number(env.PORT ?? 8080);
const host = env.HOST ?? '127.0.0.1';
const startupDelay = Number(env.STARTUP_DELAY_MS ?? 0);
const readyDelay = Number(env.READY_DELAY_MS ?? 0);
const defaultDelay = Number(env.RESPONSE_DELAY_MS ?? 0);
const defaultSize = Number(env.BODY_SIZE ?? 0);
const target = env.TARGET ?? env.K_REVISION ?? 'World';
let readyAt = Infinity;

function intParam(query, name, fallback) {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

function bodyOf(size) {
  return size > 0 ? Buffer.alloc(size, 'x') : Buffer.from(`Hello ${target}!\n`);
}

/** Shared by HTTP/1.1 and HTTP/2 (compat API): both give (req, res). */
function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://app');
  const q = url.searchParams;
  if (url.pathname === '/healthz') {
    const ready = Date.now() >= readyAt;
    res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ready ? 'ok\n' : 'not ready\n');
    return;
  }
  if (url.pathname === '/crash') {
    res.writeHead(200);
    res.end('crashing\n', () => process.exit(1));
    return;
  }
  if (url.pathname === '/echo') {
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' });
    req.pipe(res);
    return;
  }
  if (url.pathname === '/headers') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.headers));
    return;
  }
  const delay = intParam(q, 'delay', defaultDelay);
  const size = intParam(q, 'size', defaultSize);
  const status = intParam(q, 'status', 200);
  const chunks = intParam(q, 'chunks', 0);
  req.resume();
  const respond = () => {
    if (res.destroyed) return;
    const headers = { 'content-type': 'text/plain', 'x-revision': env.K_REVISION ?? '' };
    if (chunks > 0) {
      res.writeHead(status, headers);
      let sent = 0;
      const tick = setInterval(() => {
        if (res.destroyed) return clearInterval(tick);
        res.write(`chunk ${sent}\n`);
        if (++sent === chunks) {
          clearInterval(tick);
          res.end();
        }
      }, 20);
      return;
    }
    const body = bodyOf(size);
    headers['content-length'] = String(body.length);
    res.writeHead(status, headers);
    res.end(body);
  };
  if (delay > 0) setTimeout(respond, delay);
  else respond();
}

/** gRPC over h2: echoes the request's length-prefixed messages back, then OK trailers. */
function handleGrpc(req, res) {
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    const delay = Number(req.headers['x-delay-ms'] ?? 0);
    setTimeout(() => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '0', 'grpc-message': '' });
      res.end(Buffer.concat(parts));
    }, delay);
  });
}

const h1 = http.createServer({ keepAliveTimeout: 65_000 }, handle);
const h2 = http2.createServer({}, (req, res) => {
  const type = req.headers['content-type'];
  if (typeof type === 'string' && type.startsWith('application/grpc')) handleGrpc(req, res);
  else handle(req, res);
});

const wss = new WebSocketServer({ noServer: true });
h1.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
});

// One port for both protocols: an HTTP/2 client with prior knowledge opens with "PRI * HTTP/2.0".
const preface = Buffer.from('PRI * HTTP/2.0');
const front = net.createServer((socket) => {
  socket.once('readable', () => {
    const first = socket.read(preface.length) ?? socket.read();
    if (first === null) return socket.destroy();
    socket.unshift(first);
    if (first.length >= 3 && first.subarray(0, 3).equals(preface.subarray(0, 3))) h2.emit('connection', socket);
    else h1.emit('connection', socket);
  });
});

function listen() {
  front.listen(port, host, () => {
    const addr = front.address();
    readyAt = Date.now() + readyDelay;
    process.stdout.write(JSON.stringify({ level: 'info', msg: 'example app listening', port: addr.port, host }) + '\n');
  });
}

process.on('SIGTERM', () => {
  front.close();
  h1.closeIdleConnections?.();
  setTimeout(() => process.exit(0), 50).unref();
});

if (startupDelay > 0) setTimeout(listen, startupDelay);
else listen();
