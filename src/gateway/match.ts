// Request → virtual host → route → weighted target, the way Envoy looks them up. Pure.
import type { HeaderMatcher, HeaderMutation, RouteEntry, RouteTable, VirtualHostEntry, WeightedTarget } from './compile.js';

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
  let host = (raw ?? '').toLowerCase();
  if (stripPort) {
    const colon = host.lastIndexOf(':');
    // Keep IPv6 literals ("[::1]") whole; strip only a trailing :port.
    if (colon > host.lastIndexOf(']')) host = host.slice(0, colon);
  }
  return host;
}

type Headers = Record<string, string | string[] | undefined>;

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

/** The first route whose path and headers match; the query string never takes part. */
export function matchRoute(vh: VirtualHostEntry, url: string, headers: Headers): RouteEntry | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  for (const route of vh.routes) {
    const p = route.caseSensitive ? path : path.toLowerCase();
    if (route.pathKind === 'prefix' ? !p.startsWith(route.pathValue) : p !== route.pathValue) continue;
    if (route.headers.every((m) => headerMatches(m, headers))) return route;
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
 */
export function applyMutations(headers: string[], mutations: readonly HeaderMutation[]): string[] {
  let out = headers;
  for (const m of mutations) {
    if (m.remove.length > 0) out = without(out, new Set(m.remove));
    for (const add of m.add) {
      const present = indexOf(out, add.name) !== -1;
      switch (add.action) {
        case 'APPEND_IF_EXISTS_OR_ADD':
          out.push(add.name, add.value);
          break;
        case 'ADD_IF_ABSENT':
          if (!present) out.push(add.name, add.value);
          break;
        case 'OVERWRITE_IF_EXISTS_OR_ADD':
          if (present) out = without(out, new Set([add.name]));
          out.push(add.name, add.value);
          break;
        case 'OVERWRITE_IF_EXISTS':
          if (present) {
            out = without(out, new Set([add.name]));
            out.push(add.name, add.value);
          }
          break;
      }
    }
  }
  return out;
}

function indexOf(headers: string[], name: string): number {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return i;
  return -1;
}

function without(headers: string[], names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!names.has(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  return out;
}
