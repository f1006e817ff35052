// A small in-process stand-in for kube-apiserver, enough for the controller's suite: create, get,
// replace, delete, list and watch (with resourceVersion) of any kind by its URL, the status
// subresource of KIngresses (a main-resource write keeps status, a status write keeps spec, a spec
// change bumps metadata.generation), optimistic concurrency (409), and the failure modes a
// controller must survive: dropped watches and 410 Gone once history is compacted. It is held
// honest by running the same suite against the real kube-apiserver (README).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type Obj = {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    creationTimestamp?: string;
  };
} & Record<string, unknown>;

interface Event {
  rv: number;
  plural: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
}

/** Kinds whose status is only written through /status (their CRD or type declares the subresource). */
const STATUS_SUBRESOURCE = new Set(['ingresses']);
const KIND_OF: Record<string, string> = {
  ingresses: 'Ingress',
  services: 'Service',
  endpointslices: 'EndpointSlice',
  leases: 'Lease',
  secrets: 'Secret',
};

/** A fieldSelector of `path=value` terms (what the controller uses: Secrets by `type`); undefined = everything. */
function fieldFilter(selector: string | null): (o: Obj) => boolean {
  if (!selector) return () => true;
  const terms = selector.split(',').map((t) => {
    const [field, value] = t.split('=') as [string, string];
    return (o: Obj) =>
      String(field.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o) ?? '') ===
      value;
  });
  return (o) => terms.every((t) => t(o));
}

interface Parsed {
  apiVersion: string;
  plural: string;
  namespace: string | undefined;
  name: string | undefined;
  status: boolean;
}

function parsePath(pathname: string): Parsed | undefined {
  const parts = pathname.split('/').filter(Boolean);
  let apiVersion: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1] === 'v1') [apiVersion, rest] = ['v1', parts.slice(2)];
  else if (parts[0] === 'apis' && parts.length >= 3) [apiVersion, rest] = [`${parts[1]}/${parts[2]}`, parts.slice(3)];
  else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) [namespace, rest] = [rest[1], rest.slice(2)];
  const [plural, name, sub] = rest;
  if (!plural || rest.length > 3 || (sub !== undefined && sub !== 'status')) return undefined;
  return { apiVersion, plural, namespace, name, status: sub === 'status' };
}

function statusBody(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class FakeApiServer {
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  private readonly store = new Map<string, Map<string, Obj>>();
  private events: Event[] = [];
  /** Watches asking for a resourceVersion older than this get 410 Gone. */
  private oldestRv = 0;
  private rv = 1;
  private readonly watches = new Set<{
    plural: string;
    namespace: string | undefined;
    selects: (o: Obj) => boolean;
    res: http.ServerResponse;
  }>();
  port = 0;
  /** Requests seen, by method and path (for tests that check what the controller asked). */
  readonly requests: string[] = [];

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Ends every open watch, as an API server restart or a watch timeout does. */
  dropWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  /** Forgets the event history: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    // As if other writes had happened since anyone's last event (etcd's revision is global).
    this.rv += 10;
    this.oldestRv = this.rv;
    this.events = [];
  }

  async close(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private bucket(plural: string): Map<string, Obj> {
    let b = this.store.get(plural);
    if (!b) this.store.set(plural, (b = new Map()));
    return b;
  }

  private record(plural: string, type: Event['type'], object: Obj): void {
    const event: Event = { rv: Number(object.metadata.resourceVersion), plural, type, object };
    this.events.push(event);
    for (const w of this.watches)
      if (
        w.plural === plural &&
        (w.namespace === undefined || w.namespace === object.metadata.namespace) &&
        w.selects(object)
      )
        w.res.write(JSON.stringify({ type, object }) + '\n');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}${url.searchParams.get('watch') === 'true' ? '?watch' : ''}`);
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const p = parsePath(url.pathname);
    if (!p)
      return send(404, statusBody(404, 'NotFound', `the server could not find the requested resource ${url.pathname}`));
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Obj | undefined;
    if (chunks.length > 0) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString()) as Obj;
      } catch {
        return send(400, statusBody(400, 'BadRequest', 'body is not JSON'));
      }
    }
    // As the real server: a Lease's times are MicroTime, six fractional digits exactly.
    if (p.plural === 'leases' && body) {
      const spec = (body.spec ?? {}) as Record<string, unknown>;
      for (const field of ['acquireTime', 'renewTime']) {
        const v = spec[field];
        if (
          v !== undefined &&
          v !== null &&
          !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/.test(String(v))
        ) {
          return send(
            400,
            statusBody(
              400,
              'BadRequest',
              `Lease cannot be handled as a Lease: parsing time ` +
                `${JSON.stringify(v)} as "2006-01-02T15:04:05.000000Z07:00"`,
            ),
          );
        }
      }
    }
    const bucket = this.bucket(p.plural);
    const key = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;
    const notFound = (name: string) => send(404, statusBody(404, 'NotFound', `${p.plural} "${name}" not found`));
    if (req.method === 'GET' && p.name === undefined) {
      const selects = fieldFilter(url.searchParams.get('fieldSelector'));
      const inScope = (o: Obj) => (p.namespace === undefined || o.metadata.namespace === p.namespace) && selects(o);
      if (url.searchParams.get('watch') === 'true')
        return this.watch(p, url.searchParams.get('resourceVersion') ?? '', selects, res);
      const items = [...bucket.values()].filter(inScope);
      return send(200, {
        kind: `${KIND_OF[p.plural] ?? 'Object'}List`,
        apiVersion: p.apiVersion,
        metadata: { resourceVersion: String(this.rv) },
        items,
      });
    }
    if (p.name === undefined && req.method === 'POST') {
      if (!body?.metadata?.name) return send(422, statusBody(422, 'Invalid', 'metadata.name: Required value'));
      const k = key(p.namespace, body.metadata.name);
      if (bucket.has(k))
        return send(409, statusBody(409, 'AlreadyExists', `${p.plural} "${body.metadata.name}" already exists`));
      const obj: Obj = {
        ...body,
        metadata: {
          ...body.metadata,
          namespace: p.namespace,
          uid: randomUUID(),
          resourceVersion: String(++this.rv),
          generation: 1,
          creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        },
      };
      if (STATUS_SUBRESOURCE.has(p.plural)) delete obj.status;
      bucket.set(k, obj);
      this.record(p.plural, 'ADDED', obj);
      return send(201, obj);
    }
    if (p.name === undefined)
      return send(405, statusBody(405, 'MethodNotAllowed', `${req.method} is not supported on a collection here`));
    const k = key(p.namespace, p.name);
    const current = bucket.get(k);
    if (req.method === 'GET') return current ? send(200, current) : notFound(p.name);
    if (req.method === 'DELETE') {
      if (!current) return notFound(p.name);
      bucket.delete(k);
      const gone = { ...current, metadata: { ...current.metadata, resourceVersion: String(++this.rv) } };
      this.record(p.plural, 'DELETED', gone);
      return send(200, gone);
    }
    if (req.method === 'PUT') {
      if (!current) return notFound(p.name);
      if (!body) return send(400, statusBody(400, 'BadRequest', 'a body is required'));
      if (body.metadata?.resourceVersion && body.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return send(
          409,
          statusBody(
            409,
            'Conflict',
            `Operation cannot be fulfilled on ${p.plural} "${p.name}": the object has ` +
              `been modified; please apply your changes to the latest version and try again`,
          ),
        );
      }
      let next: Obj;
      if (p.status) next = { ...current, status: body.status };
      else if (STATUS_SUBRESOURCE.has(p.plural)) next = { ...body, status: current.status };
      else next = body;
      const specChanged =
        JSON.stringify((next as { spec?: unknown }).spec) !== JSON.stringify((current as { spec?: unknown }).spec);
      const generation = (current.metadata.generation ?? 1) + (!p.status && specChanged ? 1 : 0);
      next = {
        ...next,
        metadata: {
          ...current.metadata,
          ...(p.status ? {} : next.metadata),
          namespace: p.namespace,
          uid: current.metadata.uid,
          generation,
          resourceVersion: String(++this.rv),
        },
      };
      bucket.set(k, next);
      this.record(p.plural, 'MODIFIED', next);
      return send(200, next);
    }
    return send(405, statusBody(405, 'MethodNotAllowed', `${req.method} is not supported here`));
  }

  private watch(p: Parsed, fromRv: string, selects: (o: Obj) => boolean, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // The real server answers a watch at once; Node would hold the headers until the first event.
    res.flushHeaders();
    const from = Number(fromRv || 0);
    if (from > 0 && from < this.oldestRv) {
      res.end(
        JSON.stringify({
          type: 'ERROR',
          object: statusBody(410, 'Expired', `too old resource version: ${from} (${this.oldestRv})`),
        }) + '\n',
      );
      return;
    }
    for (const e of this.events) {
      if (
        e.plural !== p.plural ||
        e.rv <= from ||
        (p.namespace !== undefined && e.object.metadata.namespace !== p.namespace) ||
        !selects(e.object)
      )
        continue;
      res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n');
    }
    const w = { plural: p.plural, namespace: p.namespace, selects, res };
    this.watches.add(w);
    res.on('close', () => this.watches.delete(w));
  }
}
