// Request → (scope →) virtual host → route → weighted target, the way Envoy looks them up. Pure.
import { firstHeaderValue } from '../http/forward-headers.js';
import type { ListenerConfig } from './compile-listener.js';
import type {
  HeaderMatcher,
  HeaderMutation,
  RouteEntry,
  RouteTable,
  VirtualHostEntry,
  WeightedTarget,
} from './compile-routes.js';
import { scopeKeyOf, type ScopeKeyFragmentBuilder, type ScopeSet } from './compile-scopes.js';

/** Envoy's order: exact domain, then the longest `*suffix`, then the longest `prefix*`, then `*`. */
export function findVirtualHost(table: RouteTable, host: string): VirtualHostEntry | undefined {
  const exact = table.exact.get(host);
  if (exact) return exact;
  // A wildcard never matches the empty label: "*.example.com" does not match ".example.com".
  for (const [suffix, vh] of table.suffixes) if (host.length > suffix.length && host.endsWith(suffix)) return vh;
  for (const [prefix, vh] of table.prefixes) if (host.length > prefix.length && host.startsWith(prefix)) return vh;
  return table.catchAll;
}

/** The Host (or :authority) header as routes see it: lower-case, port removed when asked. */
export function routingHost(raw: string | undefined, stripPort: boolean): string {
  const host = asciiLowerCase(raw ?? '');
  return stripPort ? stripHostPort(host) : host;
}

/** strip_any_host_port: removes a trailing `:port`, keeping IPv6 literals ("[::1]") whole. */
export function stripHostPort(host: string): string {
  const colon = host.lastIndexOf(':');
  return colon > host.lastIndexOf(']') ? host.slice(0, colon) : host;
}

export type Headers = Record<string, string | string[] | undefined>;

/** A copy of a flat header list with the first `lowerName` header's value replaced; undefined when it has none. */
function withFirstValue(flat: readonly string[], lowerName: string, value: string): string[] | undefined {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i]!.toLowerCase() !== lowerName) continue;
    const out = [...flat];
    out[i + 1] = value;
    return out;
  }
  return undefined;
}

/** The header list with its authority (Host, else :authority, as requestAuthority reads it) set to `value`. */
function withAuthority(flat: readonly string[], value: string): string[] {
  return withFirstValue(flat, 'host', value) ?? withFirstValue(flat, ':authority', value) ?? (flat as string[]);
}

/** Lower-cases A–Z only, as Envoy (absl::AsciiStrToLower, Lua's string.lower in the C locale) does. */
export function asciiLowerCase(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/** The authority as Envoy sees it: Host for HTTP/1, :authority for HTTP/2 (Host when it has none). */
export function requestAuthority(flat: readonly string[]): string | undefined {
  return firstHeaderValue(flat, 'host') ?? firstHeaderValue(flat, ':authority');
}

/**
 * Envoy's scope key (ScopeKeyBuilder of header_value_extractors) for a request, as the lookup key of
 * a ScopeSet; undefined when a header is missing or has no such element (Envoy: no scope, so 404).
 * Only a header's first value counts. `authority` is the (normalized) :authority.
 */
export function computeScopeKey(
  builders: readonly ScopeKeyFragmentBuilder[],
  flat: readonly string[],
  authority: string | undefined,
): string | undefined {
  const fragments: string[] = [];
  for (const b of builders) {
    const value = b.header === ':authority' ? authority : firstHeaderValue(flat, b.header);
    if (value === undefined) return undefined;
    const fragment = extractFragment(b, value);
    if (fragment === undefined) return undefined;
    fragments.push(fragment);
  }
  return scopeKeyOf(fragments);
}

/** One fragment from one header value: the element at `index`, or the value of the `key<sep>value` element. */
export function extractFragment(b: ScopeKeyFragmentBuilder, value: string): string | undefined {
  const elements = b.elementSeparator === '' ? [value] : value.split(b.elementSeparator);
  if (b.element === undefined) return elements[b.index ?? 0];
  const { separator, key } = b.element;
  for (const element of elements) {
    const at = element.indexOf(separator);
    // An element without the separator is all key, with an empty value.
    if ((at === -1 ? element : element.slice(0, at)) === key)
      return at === -1 ? '' : element.slice(at + separator.length);
  }
  return undefined;
}

/** A flat header list with lower-case names (pseudo-headers kept), ready for header mutations. */
export function lowerCaseHeaders(raw: readonly string[]): string[] {
  const out = new Array<string>(raw.length);
  for (let i = 0; i < raw.length; i += 2) {
    out[i] = raw[i]!.toLowerCase();
    out[i + 1] = raw[i + 1]!;
  }
  return out;
}

/** A flat list as Node's header object (a name seen more than once gets an array). */
export function headerObject(flat: readonly string[]): Headers {
  const out: Headers = Object.create(null) as Headers;
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const prior = out[name];
    out[name] =
      prior === undefined ? flat[i + 1]! : Array.isArray(prior) ? [...prior, flat[i + 1]!] : [prior, flat[i + 1]!];
  }
  return out;
}

export interface RoutedRequest {
  table: RouteTable;
  vh: VirtualHostEntry;
  route: RouteEntry;
  /** The request's raw headers after the listener's early header mutations (the input list itself when it has none). */
  rawHeaders: string[];
  /** The same, as an object (the input object when there are no early mutations). */
  headers: Headers;
  /** Host, or :authority, after early mutations and strip_any_host_port. */
  authority: string | undefined;
}

/**
 * Early header mutations, then the route table (inline, RDS, or the scope's), then virtual host and
 * route. undefined = no route (Envoy answers 404). `srdsScopes` is the SRDS set every listener with
 * scoped_rds shares. `headers` is `rawHeaders` as Node's object, when the caller has it.
 */
export function routeRequest(
  listener: ListenerConfig,
  srdsScopes: ScopeSet,
  routeTables: ReadonlyMap<string, RouteTable>,
  rawHeaders: string[],
  url: string,
  headers?: Headers,
): RoutedRequest | undefined {
  let flat = rawHeaders;
  if (listener.earlyMutations.length > 0) {
    flat = applyMutations(lowerCaseHeaders(rawHeaders), listener.earlyMutations);
    headers = undefined;
  }
  const received = requestAuthority(flat);
  let authority = listener.stripAnyHostPort && received !== undefined ? stripHostPort(received) : received;
  // The Lua filter runs after Envoy's first route lookup, but changing the header looks the route
  // up again, so routing sees only the lower-cased host.
  if (listener.lowerCaseAuthority && authority !== undefined) authority = asciiLowerCase(authority);
  if (authority !== received) {
    // Envoy rewrites the header itself, so the upstream sees the host as routed too.
    flat = withAuthority(flat, authority!);
    headers = undefined;
  }
  let table: RouteTable | undefined;
  if (listener.scoped) {
    const key = computeScopeKey(listener.scoped.fragments, flat, authority);
    const scope = key === undefined ? undefined : (listener.scoped.inlineScopes ?? srdsScopes).byKey.get(key);
    table =
      scope &&
      (scope.inlineRoutes ??
        (scope.routeConfigName === undefined ? undefined : routeTables.get(scope.routeConfigName)));
  } else {
    table =
      listener.inlineRoutes ??
      (listener.routeConfigName === undefined ? undefined : routeTables.get(listener.routeConfigName));
  }
  if (!table) return undefined;
  const vh = findVirtualHost(table, routingHost(authority, false)); // any port is gone already
  if (!vh) return undefined;
  headers ??= headerObject(flat);
  const route = matchRoute(vh, url, headers);
  if (!route) return undefined;
  return { table, vh, route, rawHeaders: flat, headers, authority };
}

function headerMatches(m: HeaderMatcher, headers: Headers): boolean {
  const raw = headers[m.name];
  let result: boolean;
  if (raw === undefined) result = false;
  else {
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    switch (m.kind) {
      case 'present':
        result = true;
        break;
      case 'exact':
        result = value === m.value;
        break;
      case 'prefix':
        result = value.startsWith(m.value);
        break;
      case 'suffix':
        result = value.endsWith(m.value);
        break;
      case 'contains':
        result = value.includes(m.value);
        break;
    }
  }
  return result !== m.invert;
}

function headersMatch(matchers: readonly HeaderMatcher[], headers: Headers): boolean {
  for (const m of matchers) if (!headerMatches(m, headers)) return false;
  return true;
}

/** The first route whose path and headers match; the query string never takes part. */
export function matchRoute(vh: VirtualHostEntry, url: string, headers: Headers): RouteEntry | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  for (const route of vh.routes) {
    const p = route.caseSensitive ? path : path.toLowerCase();
    if (route.pathKind === 'prefix' ? !p.startsWith(route.pathValue) : p !== route.pathValue) continue;
    if (headersMatch(route.headers, headers)) return route;
  }
  return undefined;
}

/** `r` in [0, 1): the target whose share of the total weight contains r × total. */
export function pickTarget(route: RouteEntry, r: number): WeightedTarget {
  const targets = route.targets;
  if (targets.length === 1) return targets[0]!;
  const point = r * route.totalWeight;
  for (const t of targets) if (point < t.upTo) return t;
  return targets[targets.length - 1]!;
}

/**
 * Applies mutations to a flat [name, value, ...] list with lower-case names, in the order given
 * (Envoy: weighted cluster, route, virtual host, route configuration; later ones win on overwrite).
 * The list is changed in place (every request has its own) and returned.
 */
export function applyMutations(headers: string[], mutations: readonly HeaderMutation[]): string[] {
  for (const m of mutations) {
    for (const name of m.remove) removeAll(headers, name);
    for (const add of m.add) {
      switch (add.action) {
        case 'APPEND_IF_EXISTS_OR_ADD':
          headers.push(add.name, add.value);
          break;
        case 'ADD_IF_ABSENT':
          if (!has(headers, add.name)) headers.push(add.name, add.value);
          break;
        case 'OVERWRITE_IF_EXISTS_OR_ADD':
          removeAll(headers, add.name);
          headers.push(add.name, add.value);
          break;
        case 'OVERWRITE_IF_EXISTS':
          if (removeAll(headers, add.name)) headers.push(add.name, add.value);
          break;
      }
    }
  }
  return headers;
}

function has(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

/** Removes every `name` header in place, keeping the others' order; whether there was one. */
function removeAll(headers: string[], name: string): boolean {
  let to = 0;
  for (let from = 0; from < headers.length; from += 2) {
    if (headers[from] === name) continue;
    if (to !== from) {
      headers[to] = headers[from]!;
      headers[to + 1] = headers[from + 1]!;
    }
    to += 2;
  }
  const removed = to !== headers.length;
  headers.length = to;
  return removed;
}
