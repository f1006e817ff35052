// Header handling shared by both upstream paths: drop hop-by-hop headers (RFC 9110 §7.6.1) and any
// named in Connection, in one pass over the raw name/value list.

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Header names a Connection value lists beyond the hop-by-hop ones, added to `tokens`. */
function connectionTokens(value: string, tokens: Set<string> | undefined): Set<string> | undefined {
  // The usual values name only hop-by-hop headers, which go anyway: no split, no set.
  if (value.length === 10 && value.toLowerCase() === 'keep-alive') return tokens;
  if (value.length === 5 && value.toLowerCase() === 'close') return tokens;
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && !HOP_BY_HOP.has(t)) (tokens ??= new Set()).add(t);
  }
  return tokens;
}

function requestConnectionTokens(raw: string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') tokens = connectionTokens(raw[i + 1]!, tokens);
  }
  return tokens;
}

/** Raw request headers → a flat [name, value, ...] list for the app, plus X-Forwarded-For. */
export function upstreamRequestHeaders(
  raw: string[],
  clientAddress: string | undefined,
  keepTeTrailers: boolean,
  lowerNames = false,
): string[] {
  const extra = requestConnectionTokens(raw);
  const out: string[] = [];
  let forwardedFor: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* ':' */) continue; // h2 pseudo-headers
    const lower = name.toLowerCase();
    // Expect: 100-continue is answered here (Node sends the 100 itself), as Envoy does without
    // proxy_100_continue; passed on, undici would refuse the request.
    if (HOP_BY_HOP.has(lower) || extra?.has(lower) || lower === 'expect') {
      if (keepTeTrailers && lower === 'te' && raw[i + 1]!.trim().toLowerCase() === 'trailers')
        out.push('te', 'trailers');
      continue;
    }
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? raw[i + 1]! : `${forwardedFor}, ${raw[i + 1]!}`;
      continue;
    }
    out.push(lowerNames ? lower : name, raw[i + 1]!);
  }
  if (clientAddress !== undefined) {
    const client = clientAddress.startsWith('::ffff:') ? clientAddress.slice(7) : clientAddress;
    forwardedFor = forwardedFor === undefined ? client : `${forwardedFor}, ${client}`;
  }
  if (forwardedFor !== undefined) out.push('x-forwarded-for', forwardedFor);
  return out;
}

/**
 * Response headers or trailers from the app (object form, lower-case names) → a flat list without pseudo- and
 * hop-by-hop names.
 */
export function downstreamResponseHeaders(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  const connection = headers.connection;
  const extra = connection === undefined ? undefined : connectionTokens(String(connection), undefined);
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */ || HOP_BY_HOP.has(name) || extra?.has(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}

/** The first value of a header in a flat [name, value, ...] list; names compare case-insensitively. */
export function firstHeaderValue(flat: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    if (name.length === lowerName.length && (name === lowerName || name.toLowerCase() === lowerName))
      return flat[i + 1];
  }
  return undefined;
}

/** The request line and headers of an HTTP/1.1 request as bytes to write on a raw connection (Upgrade). */
export function rawRequestHead(
  method: string | undefined,
  url: string | undefined,
  headers: readonly string[],
): string {
  let head = `${method} ${url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return head + '\r\n';
}
