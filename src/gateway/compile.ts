// Envoy resources (decoded from xDS) → the embedded gateway's immutable, ready-to-look-up config.
// Pure. The gateway implements the subset of Envoy that translate emits plus the matchers people
// write by hand; anything else is refused with the field path, so the update is NACKed instead of
// being served differently from how Envoy would serve it.
import type { DecodedResource } from '../xds/client/ads-client.js';
import type { EdgePolicy } from './edge-headers.js';
import { LOWER_CASE_AUTHORITY_LUA } from '../translate/listener.js';
import { TYPE_URL } from '../envoy/protos.js';
import { compileFilterChains, compileListenerFilters, type ListenerTls } from './compile-tls.js';

export class ConfigErrors {
  readonly messages: string[] = [];
  add(path: string, message: string): void {
    this.messages.push(`${path}: ${message}`);
  }
  unsupported(object: Record<string, unknown> | undefined, path: string, supported: readonly string[]): void {
    if (!object) return;
    for (const key of Object.keys(object)) {
      if (key === '@type' || supported.includes(key)) continue;
      this.add(`${path}.${key}`, 'is not supported by the embedded gateway (use Envoy for this resource)');
    }
  }
  get empty(): boolean {
    return this.messages.length === 0;
  }
  toString(): string {
    return this.messages.join('; ');
  }
}

// ---------- Listeners ----------

export interface ListenerConfig {
  name: string;
  address: string;
  port: number;
  /** RDS name, or the inline route table, or scoped routes: exactly one is set. */
  routeConfigName: string | undefined;
  inlineRoutes: RouteTable | undefined;
  scoped: ScopedRoutesConfig | undefined;
  /** early_header_mutation_extensions, in order: applied to the request before anything else. */
  earlyMutations: HeaderMutation[];
  upgradeTypes: ReadonlySet<string>;
  stripAnyHostPort: boolean;
  /** use_remote_address, xff_num_trusted_hops, preserve_external_request_id. */
  edge: EdgePolicy;
  /**
   * gatehouse's Lua filter (LOWER_CASE_AUTHORITY_LUA) runs before the router: the host is lower-cased and the route
   * looked up again.
   */
  lowerCaseAuthority: boolean;
  /** TLS terminated with a certificate chosen by SNI (transport_socket on the filter chains), or plain. */
  tls: ListenerTls | undefined;
}

const HCM_URL = TYPE_URL.httpConnectionManager.slice(TYPE_URL.httpConnectionManager.lastIndexOf('/') + 1);
const ROUTER_URL = TYPE_URL.router.slice(TYPE_URL.router.lastIndexOf('/') + 1);
const LUA_URL = TYPE_URL.lua.slice(TYPE_URL.lua.lastIndexOf('/') + 1);
const EARLY_HEADER_MUTATION_URL = TYPE_URL.earlyHeaderMutation.slice(TYPE_URL.earlyHeaderMutation.lastIndexOf('/') + 1);

function typeName(typed: Record<string, unknown> | undefined): string {
  const url = String(typed?.['@type'] ?? '');
  return url.slice(url.lastIndexOf('/') + 1);
}

/** undefined for listeners the gateway does not bind (api_listener: proxyless gRPC clients only). */
export function compileListener(l: DecodedResource, errors: ConfigErrors): ListenerConfig | undefined {
  const path = `Listener ${l.name}`;
  if (l.api_listener) return undefined;
  errors.unsupported(l, path, [
    'name',
    'address',
    'filter_chains',
    'listener_filters',
    'stat_prefix',
    'traffic_direction',
  ]);
  const socket = l.address?.socket_address;
  if (!socket) {
    errors.add(`${path}.address.socket_address`, 'is required');
    return undefined;
  }
  compileListenerFilters(l.listener_filters, `${path}.listener_filters`, errors);
  const chains = compileFilterChains((l.filter_chains ?? []) as DecodedResource[], path, errors);
  if (!chains) return undefined;
  const filters = chains.filters;
  const hcm = filters[0]?.typed_config;
  if (filters.length !== 1 || typeName(hcm) !== HCM_URL) {
    errors.add(`${path}.filter_chains[0].filters`, `must be exactly one ${HCM_URL}`);
    return undefined;
  }
  const hcmPath = `${path}.filter_chains[0].filters[0].typed_config`;
  errors.unsupported(hcm, hcmPath, [
    'stat_prefix',
    'codec_type',
    'strip_any_host_port',
    'rds',
    'route_config',
    'scoped_routes',
    'early_header_mutation_extensions',
    'upgrade_configs',
    'http_filters',
    'use_remote_address',
    'xff_num_trusted_hops',
    'preserve_external_request_id',
  ]);
  const lowerCaseAuthority = compileHttpFilters(
    (hcm.http_filters ?? []) as DecodedResource[],
    `${hcmPath}.http_filters`,
    errors,
  );
  const upgradeTypes = new Set<string>();
  for (const u of (hcm.upgrade_configs ?? []) as DecodedResource[])
    if (u.enabled?.value !== false) upgradeTypes.add(String(u.upgrade_type).toLowerCase());
  // route_specifier is a oneof: exactly one of the three.
  const specifiers = (['rds', 'route_config', 'scoped_routes'] as const).filter(
    (k) => hcm[k] !== undefined && hcm[k] !== null,
  );
  let inlineRoutes: RouteTable | undefined;
  let scoped: ScopedRoutesConfig | undefined;
  if (specifiers.length > 1)
    errors.add(hcmPath, `sets ${specifiers.join(' and ')}; set exactly one of rds, route_config and scoped_routes`);
  else if (hcm.route_config) inlineRoutes = compileRouteConfiguration(hcm.route_config, errors);
  else if (hcm.scoped_routes) scoped = compileScopedRoutes(hcm.scoped_routes, `${hcmPath}.scoped_routes`, errors);
  else if (!hcm.rds?.route_config_name)
    errors.add(`${hcmPath}.rds.route_config_name`, 'is required when neither route_config nor scoped_routes is set');
  const earlyMutations = compileEarlyHeaderMutations(
    hcm.early_header_mutation_extensions,
    `${hcmPath}.early_header_mutation_extensions`,
    errors,
  );
  return {
    name: String(l.name),
    address: String(socket.address ?? '0.0.0.0'),
    port: Number(socket.port_value ?? 0),
    routeConfigName: specifiers.length === 1 && hcm.rds ? hcm.rds.route_config_name : undefined,
    inlineRoutes,
    scoped,
    earlyMutations,
    upgradeTypes,
    stripAnyHostPort: hcm.strip_any_host_port === true,
    edge: {
      useRemoteAddress: hcm.use_remote_address?.value === true,
      xffNumTrustedHops: Number(hcm.xff_num_trusted_hops ?? 0),
      preserveExternalRequestId: hcm.preserve_external_request_id === true,
    },
    lowerCaseAuthority,
    tls: chains.tls,
  };
}

/**
 * The router, last, optionally preceded by gatehouse's host lower-casing Lua filter: the only Lua
 * code the gateway runs, because it implements that script rather than Lua. Returns whether it is there.
 */
function compileHttpFilters(filters: DecodedResource[], path: string, errors: ConfigErrors): boolean {
  const isRouter = (f: DecodedResource) =>
    typeName(f.typed_config) === ROUTER_URL || f.name === 'envoy.filters.http.router';
  let lowerCase = false;
  filters.forEach((f, i) => {
    const last = i === filters.length - 1;
    if (isRouter(f) !== last)
      errors.add(
        `${path}[${i}]`,
        last ? 'the last HTTP filter must be the router' : 'the router filter must be the last HTTP filter',
      );
    if (isRouter(f)) return;
    if (typeName(f.typed_config) !== LUA_URL) {
      errors.add(
        `${path}[${i}]`,
        `${f.name} is not supported; only the router filter and gatehouse's host lower-casing Lua filter are`,
      );
      return;
    }
    const lua = f.typed_config as DecodedResource;
    if (
      (lua.default_source_code?.inline_string ?? lua.inline_code) === LOWER_CASE_AUTHORITY_LUA &&
      Object.keys(lua.source_codes ?? {}).length === 0
    )
      lowerCase = true;
    else
      errors.add(
        `${path}[${i}]`,
        'runs Lua code the embedded gateway does not implement; it runs only the ' +
          'host lower-casing script gatehouse emits (LOWER_CASE_AUTHORITY_LUA)',
      );
  });
  return lowerCase;
}

/**
 * Envoy's early header mutation extension (header_mutation): each mutation is one remove or one append, applied in
 * order.
 */
function compileEarlyHeaderMutations(
  extensions: DecodedResource[] | undefined,
  path: string,
  errors: ConfigErrors,
): HeaderMutation[] {
  const out: HeaderMutation[] = [];
  (extensions ?? []).forEach((ext, e) => {
    const ePath = `${path}[${e}]`;
    errors.unsupported(ext, ePath, ['name', 'typed_config']);
    const typed = ext.typed_config as DecodedResource | undefined;
    if (typeName(typed) !== EARLY_HEADER_MUTATION_URL) {
      errors.add(
        `${ePath}.typed_config`,
        `${typeName(typed) || 'an empty type'} is not supported; only ${EARLY_HEADER_MUTATION_URL} is`,
      );
      return;
    }
    errors.unsupported(typed, `${ePath}.typed_config`, ['mutations']);
    const mutations = (typed!.mutations ?? []) as DecodedResource[];
    if (mutations.length === 0) errors.add(`${ePath}.typed_config.mutations`, 'needs at least one mutation');
    mutations.forEach((m, i) => {
      const mPath = `${ePath}.typed_config.mutations[${i}]`;
      errors.unsupported(m, mPath, ['remove', 'append']);
      const hasRemove = m.remove !== undefined && m.remove !== null;
      const hasAppend = m.append !== undefined && m.append !== null;
      if (hasRemove === hasAppend) return errors.add(mPath, 'needs exactly one of remove and append');
      if (hasRemove) {
        if (String(m.remove) === '') return errors.add(`${mPath}.remove`, 'is empty');
        out.push({ remove: [String(m.remove).toLowerCase()], add: [] });
      } else out.push(headerMutation([m.append], undefined, `${mPath}.append`, errors, false));
    });
  });
  return out;
}

// ---------- Scoped routes (SRDS) ----------

/** One fragment of the scope key: a header's value, or one element of it. */
export interface ScopeKeyFragmentBuilder {
  /** Lower-case header name; ":authority" is the Host header of an HTTP/1 request. */
  header: string;
  /** '' = the whole value is the element. */
  elementSeparator: string;
  /** Take the element at this index... */
  index: number | undefined;
  /** ...or the value of the `key<separator>value` element with this key. */
  element: { separator: string; key: string } | undefined;
}

export interface ScopedRoutesConfig {
  name: string;
  fragments: ScopeKeyFragmentBuilder[];
  /** scoped_route_configurations_list, or undefined for scoped_rds (the SRDS set shared by all listeners). */
  inlineScopes: ScopeSet | undefined;
}

export interface ScopeEntry {
  name: string;
  fragments: string[];
  /** The fragments joined with NUL: the lookup key. */
  key: string;
  /** false when a fragment holds a NUL, which no request header can: then no request reaches it. */
  reachable: boolean;
  /** RDS name, or the inline route table. */
  routeConfigName: string | undefined;
  inlineRoutes: RouteTable | undefined;
}

export interface ScopeSet {
  /** Scope key (fragments joined with NUL) → scope. */
  byKey: ReadonlyMap<string, ScopeEntry>;
  /** Every scope, including any no request can reach (a NUL in a key fragment). */
  all: readonly ScopeEntry[];
}

export const EMPTY_SCOPES: ScopeSet = { byKey: new Map(), all: [] };

/** The lookup key of a scope or of a request: fragments joined with NUL, which no header value can hold. */
export function scopeKeyOf(fragments: readonly string[]): string {
  return fragments.join('\u0000');
}

const CONFIG_SOURCE_FIELDS = ['ads', 'resource_api_version', 'initial_fetch_timeout'];

function compileScopedRoutes(sr: DecodedResource, path: string, errors: ConfigErrors): ScopedRoutesConfig | undefined {
  errors.unsupported(sr, path, [
    'name',
    'scope_key_builder',
    'rds_config_source',
    'scoped_rds',
    'scoped_route_configurations_list',
  ]);
  if (!sr.name) errors.add(`${path}.name`, 'is required');
  if (sr.rds_config_source) adsConfigSource(sr.rds_config_source, `${path}.rds_config_source`, errors);
  const fragments: ScopeKeyFragmentBuilder[] = [];
  const builder = sr.scope_key_builder as DecodedResource | undefined;
  if (!builder) errors.add(`${path}.scope_key_builder`, 'is required');
  else {
    errors.unsupported(builder, `${path}.scope_key_builder`, ['fragments']);
    const raw = (builder.fragments ?? []) as DecodedResource[];
    if (raw.length === 0) errors.add(`${path}.scope_key_builder.fragments`, 'needs at least one fragment');
    raw.forEach((f, i) => {
      const fragment = compileFragmentBuilder(f, `${path}.scope_key_builder.fragments[${i}]`, errors);
      if (fragment) fragments.push(fragment);
    });
  }
  const hasRds = sr.scoped_rds !== undefined && sr.scoped_rds !== null;
  const hasList = sr.scoped_route_configurations_list !== undefined && sr.scoped_route_configurations_list !== null;
  let inlineScopes: ScopeSet | undefined;
  if (hasRds === hasList) errors.add(path, 'needs exactly one of scoped_rds and scoped_route_configurations_list');
  else if (hasRds) {
    const srds = sr.scoped_rds as DecodedResource;
    errors.unsupported(srds, `${path}.scoped_rds`, ['scoped_rds_config_source']);
    if (!srds.scoped_rds_config_source) errors.add(`${path}.scoped_rds.scoped_rds_config_source`, 'is required');
    else adsConfigSource(srds.scoped_rds_config_source, `${path}.scoped_rds.scoped_rds_config_source`, errors);
  } else {
    const list = sr.scoped_route_configurations_list as DecodedResource;
    errors.unsupported(list, `${path}.scoped_route_configurations_list`, ['scoped_route_configurations']);
    const scopes = (list.scoped_route_configurations ?? []) as DecodedResource[];
    if (scopes.length === 0)
      errors.add(`${path}.scoped_route_configurations_list.scoped_route_configurations`, 'needs at least one scope');
    inlineScopes = compileScopes(scopes, errors);
  }
  return { name: String(sr.name ?? ''), fragments, inlineScopes };
}

/** The gateway has one xDS connection: config sources must be ADS. */
function adsConfigSource(source: DecodedResource, path: string, errors: ConfigErrors): void {
  errors.unsupported(source, path, CONFIG_SOURCE_FIELDS);
  if (!source.ads)
    errors.add(`${path}.ads`, 'is required: the embedded gateway fetches everything over its one ADS stream');
}

function compileFragmentBuilder(
  f: DecodedResource,
  path: string,
  errors: ConfigErrors,
): ScopeKeyFragmentBuilder | undefined {
  errors.unsupported(f, path, ['header_value_extractor']);
  const x = f.header_value_extractor as DecodedResource | undefined;
  if (!x) {
    errors.add(`${path}.header_value_extractor`, 'is required (it is the only fragment builder)');
    return undefined;
  }
  const xPath = `${path}.header_value_extractor`;
  errors.unsupported(x, xPath, ['name', 'element_separator', 'index', 'element']);
  const header = String(x.name ?? '').toLowerCase();
  if (header === '') errors.add(`${xPath}.name`, 'is required');
  const elementSeparator = String(x.element_separator ?? '');
  const hasIndex = x.index !== undefined && x.index !== null;
  const hasElement = x.element !== undefined && x.element !== null;
  if (hasIndex === hasElement) {
    // Envoy: "HeaderValueExtractor extract_type not set." (extract_type is a oneof).
    errors.add(xPath, 'needs exactly one of index and element');
    return undefined;
  }
  if (hasIndex) {
    const index = Number(x.index);
    // Envoy: "Index > 0 for empty string element separator."
    if (index !== 0 && elementSeparator === '')
      errors.add(`${xPath}.index`, `is ${index}, but without an element_separator the only element is index 0`);
    return { header, elementSeparator, index, element: undefined };
  }
  const element = x.element as DecodedResource;
  errors.unsupported(element, `${xPath}.element`, ['separator', 'key']);
  const separator = String(element.separator ?? '');
  const key = String(element.key ?? '');
  if (separator === '') errors.add(`${xPath}.element.separator`, 'is required');
  if (key === '') errors.add(`${xPath}.element.key`, 'is required');
  return { header, elementSeparator, index: undefined, element: { separator, key } };
}

/** One ScopedRouteConfiguration, compiled once per decoded object. */
export function compileScopedRouteConfiguration(s: DecodedResource, errors: ConfigErrors): ScopeEntry | undefined {
  return compileScopeOnce(s, scopePath, errors);
}

const scopePath = (s: DecodedResource): string => `ScopedRouteConfiguration ${s.name}`;

const compileScopeOnce = memoized((s: DecodedResource, path: string, errors: ConfigErrors): ScopeEntry | undefined => {
  errors.unsupported(s, path, ['name', 'key', 'route_configuration_name', 'route_configuration', 'on_demand']);
  const name = String(s.name ?? '');
  if (name === '') errors.add(`${path}.name`, 'is required');
  const key = s.key as DecodedResource | undefined;
  if (!key) {
    errors.add(`${path}.key`, 'is required');
    return undefined;
  }
  errors.unsupported(key, `${path}.key`, ['fragments']);
  const raw = (key.fragments ?? []) as DecodedResource[];
  if (raw.length === 0) errors.add(`${path}.key.fragments`, 'needs at least one fragment');
  const fragments: string[] = [];
  raw.forEach((f, i) => {
    errors.unsupported(f, `${path}.key.fragments[${i}]`, ['string_key']);
    if (f.string_key === undefined || f.string_key === null)
      errors.add(`${path}.key.fragments[${i}].string_key`, 'is required');
    else fragments.push(String(f.string_key));
  });
  const hasName = typeof s.route_configuration_name === 'string' && s.route_configuration_name !== '';
  const hasInline = s.route_configuration !== undefined && s.route_configuration !== null;
  if (hasName === hasInline) errors.add(path, 'needs exactly one of route_configuration_name and route_configuration');
  const inlineRoutes = hasInline && !hasName ? compileRouteConfiguration(s.route_configuration, errors) : undefined;
  // on_demand is accepted: the gateway loads every scope's routes eagerly.
  const reachable = !fragments.some((f) => f.includes('\u0000'));
  return {
    name,
    fragments,
    key: scopeKeyOf(fragments),
    reachable,
    routeConfigName: hasName ? String(s.route_configuration_name) : undefined,
    inlineRoutes,
  };
});

/**
 * A set of scopes (an SRDS update, or an inline list). Two scopes with the same name or the same key
 * are refused, as Envoy refuses them.
 */
export function compileScopes(resources: readonly DecodedResource[], errors: ConfigErrors): ScopeSet {
  const byKey = new Map<string, ScopeEntry>();
  const all: ScopeEntry[] = [];
  const names = new Set<string>();
  // A NUL cannot be in a header value, so such a key matches no request; still check its conflicts.
  let unreachable: Map<string, ScopeEntry> | undefined;
  for (const r of resources) {
    const scope = compileScopedRouteConfiguration(r, errors);
    if (!scope) continue;
    if (names.has(scope.name)) {
      errors.add(
        `ScopedRouteConfiguration ${scope.name}`,
        `duplicate scoped route configuration '${scope.name}' found`,
      );
      continue;
    }
    names.add(scope.name);
    const table = scope.reachable ? byKey : (unreachable ??= new Map());
    const key = scope.reachable ? scope.key : JSON.stringify(scope.fragments);
    const first = table.get(key);
    if (first) {
      errors.add(
        `ScopedRouteConfiguration ${scope.name}.key`,
        `scope key conflict found, first scope is '${first.name}', second scope is '${scope.name}'`,
      );
      continue;
    }
    table.set(key, scope);
    all.push(scope);
  }
  return { byKey, all };
}

// ---------- Routes ----------

export type AppendAction =
  'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

export interface HeaderMutation {
  /** Lower-case names. */
  remove: string[];
  add: Array<{ name: string; value: string; action: AppendAction }>;
}

export interface HeaderMatcher {
  name: string;
  kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'present';
  value: string;
  invert: boolean;
}

export interface WeightedTarget {
  cluster: string;
  /** Exclusive upper bound of this target's share of [0, totalWeight). */
  upTo: number;
  requestHeaders: HeaderMutation;
}

/** RedirectAction: answer with a redirect instead of routing (scheme swaps as Envoy does them). */
export interface RedirectEntry {
  /** The new scheme, or undefined to keep the request's. */
  scheme: string | undefined;
  status: number;
  stripQuery: boolean;
}

const REDIRECT_STATUS: Record<string, number> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

export interface RouteEntry {
  name: string;
  /** Set for a redirect route, which has no targets. */
  redirect: RedirectEntry | undefined;
  pathKind: 'prefix' | 'path';
  pathValue: string;
  caseSensitive: boolean;
  headers: HeaderMatcher[];
  targets: WeightedTarget[];
  totalWeight: number;
  /** 0 = none. Envoy's default is 15 s. */
  timeoutMs: number;
  /** Route-level upgrade overrides (undefined = the listener's). */
  upgradeTypes: ReadonlySet<string> | undefined;
  /** retry_policy for connect failures: how many other endpoints to try (0 = none). */
  connectRetries: number;
  /** host_rewrite_literal: the Host sent upstream. */
  hostRewrite: string | undefined;
  requestHeaders: HeaderMutation;
  responseHeaders: HeaderMutation;
}

export interface VirtualHostEntry {
  name: string;
  routes: RouteEntry[];
  requestHeaders: HeaderMutation;
  responseHeaders: HeaderMutation;
}

export interface RouteTable {
  name: string;
  exact: Map<string, VirtualHostEntry>;
  /** `*.example.com` → ".example.com", longest first. */
  suffixes: Array<[string, VirtualHostEntry]>;
  /** `foo.*` → "foo.", longest first. */
  prefixes: Array<[string, VirtualHostEntry]>;
  catchAll: VirtualHostEntry | undefined;
  requestHeaders: HeaderMutation;
  responseHeaders: HeaderMutation;
  /** Every cluster a route can send to. */
  clusters: Set<string>;
}

const ENVOY_DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

function durationMs(d: { seconds?: number; nanos?: number } | undefined): number | undefined {
  if (d === undefined) return undefined;
  return Number(d.seconds ?? 0) * 1000 + Math.round(Number(d.nanos ?? 0) / 1e6);
}

function headerMutation(
  add: DecodedResource[] | undefined,
  remove: string[] | undefined,
  path: string,
  errors: ConfigErrors,
  indexed = true,
): HeaderMutation {
  const mutation: HeaderMutation = { remove: (remove ?? []).map((n) => n.toLowerCase()), add: [] };
  (add ?? []).forEach((h, i) => {
    const hPath = indexed ? `${path}[${i}]` : path;
    errors.unsupported(h, hPath, ['header', 'append_action', 'append', 'keep_empty_value']);
    const name = String(h.header?.key ?? '').toLowerCase();
    if (name === '') return errors.add(`${hPath}.header.key`, 'is required');
    let action = (h.append_action ?? 'APPEND_IF_EXISTS_OR_ADD') as AppendAction;
    if (h.append !== undefined && h.append_action === undefined)
      action = h.append.value === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD';
    mutation.add.push({ name, value: String(h.header?.value ?? ''), action });
  });
  return mutation;
}

function compileHeaderMatcher(h: DecodedResource, path: string, errors: ConfigErrors): HeaderMatcher | undefined {
  errors.unsupported(h, path, [
    'name',
    'string_match',
    'exact_match',
    'prefix_match',
    'suffix_match',
    'contains_match',
    'present_match',
    'invert_match',
  ]);
  const name = String(h.name ?? '').toLowerCase();
  const invert = h.invert_match === true;
  const sm = h.string_match as DecodedResource | undefined;
  if (sm) {
    errors.unsupported(sm, `${path}.string_match`, ['exact', 'prefix', 'suffix', 'contains']);
    for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const)
      if (sm[kind] !== undefined) return { name, kind, value: String(sm[kind]), invert };
  }
  if (h.exact_match !== undefined) return { name, kind: 'exact', value: String(h.exact_match), invert };
  if (h.prefix_match !== undefined) return { name, kind: 'prefix', value: String(h.prefix_match), invert };
  if (h.suffix_match !== undefined) return { name, kind: 'suffix', value: String(h.suffix_match), invert };
  if (h.contains_match !== undefined) return { name, kind: 'contains', value: String(h.contains_match), invert };
  if (h.present_match !== undefined)
    return { name, kind: 'present', value: '', invert: invert !== (h.present_match === false) };
  // No matcher at all means "present" in Envoy.
  return { name, kind: 'present', value: '', invert };
}

function compileRoute(
  r: DecodedResource,
  path: string,
  errors: ConfigErrors,
  clusters: Set<string>,
): RouteEntry | undefined {
  errors.unsupported(r, path, [
    'name',
    'match',
    'route',
    'redirect',
    'request_headers_to_add',
    'request_headers_to_remove',
    'response_headers_to_add',
    'response_headers_to_remove',
  ]);
  const match = (r.match ?? {}) as DecodedResource;
  errors.unsupported(match, `${path}.match`, ['prefix', 'path', 'case_sensitive', 'headers']);
  let pathKind: 'prefix' | 'path';
  let pathValue: string;
  if (match.path !== undefined) [pathKind, pathValue] = ['path', String(match.path)];
  else if (match.prefix !== undefined) [pathKind, pathValue] = ['prefix', String(match.prefix)];
  else {
    errors.add(`${path}.match`, 'needs prefix or path (regex and other matchers are not supported)');
    return undefined;
  }
  const caseSensitive = match.case_sensitive?.value !== false;
  const headers: HeaderMatcher[] = [];
  ((match.headers ?? []) as DecodedResource[]).forEach((h, i) => {
    const m = compileHeaderMatcher(h, `${path}.match.headers[${i}]`, errors);
    if (m) headers.push(m);
  });
  const action = r.route as DecodedResource | undefined;
  if (r.redirect && action) {
    errors.add(path, 'sets route and redirect; the action is a oneof, set one');
    return undefined;
  }
  if (r.redirect) {
    const redirect = compileRedirect(r.redirect as DecodedResource, `${path}.redirect`, errors);
    return {
      ...PASSIVE_ROUTE,
      name: String(r.name ?? ''),
      redirect,
      pathKind,
      pathValue: caseSensitive ? pathValue : pathValue.toLowerCase(),
      caseSensitive,
      headers,
      responseHeaders: headerMutation(
        r.response_headers_to_add,
        r.response_headers_to_remove,
        `${path}.response_headers_to_add`,
        errors,
      ),
    };
  }
  if (!action) {
    errors.add(`${path}.route`, 'is required (direct_response is not supported)');
    return undefined;
  }
  errors.unsupported(action, `${path}.route`, [
    'cluster',
    'weighted_clusters',
    'timeout',
    'upgrade_configs',
    'retry_policy',
    'host_rewrite_literal',
  ]);
  let connectRetries = 0;
  if (action.retry_policy) {
    const policy = action.retry_policy as DecodedResource;
    errors.unsupported(policy, `${path}.route.retry_policy`, ['retry_on', 'num_retries']);
    const conditions = String(policy.retry_on ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '');
    for (const c of conditions)
      if (c !== 'connect-failure' && c !== 'refused-stream')
        errors.add(
          `${path}.route.retry_policy.retry_on`,
          `"${c}" is not supported; the embedded gateway retries connect-failure and refused-stream`,
        );
    if (conditions.length > 0) connectRetries = Number(policy.num_retries?.value ?? 1); // Envoy's default is 1
  }
  const targets: WeightedTarget[] = [];
  let total = 0;
  if (action.cluster !== undefined) {
    total = 1;
    targets.push({ cluster: String(action.cluster), upTo: 1, requestHeaders: { remove: [], add: [] } });
  } else if (action.weighted_clusters) {
    const wc = action.weighted_clusters as DecodedResource;
    errors.unsupported(wc, `${path}.route.weighted_clusters`, ['clusters', 'total_weight']);
    ((wc.clusters ?? []) as DecodedResource[]).forEach((c, i) => {
      const cPath = `${path}.route.weighted_clusters.clusters[${i}]`;
      errors.unsupported(c, cPath, ['name', 'weight', 'request_headers_to_add', 'request_headers_to_remove']);
      const weight = Number(c.weight?.value ?? 0);
      if (weight === 0) return;
      total += weight;
      targets.push({
        cluster: String(c.name),
        upTo: total,
        requestHeaders: headerMutation(
          c.request_headers_to_add,
          c.request_headers_to_remove,
          `${cPath}.request_headers_to_add`,
          errors,
        ),
      });
    });
    if (total === 0) errors.add(`${path}.route.weighted_clusters.clusters`, 'the weights add up to 0');
  } else {
    errors.add(`${path}.route`, 'needs cluster or weighted_clusters (cluster_header and others are not supported)');
    return undefined;
  }
  for (const t of targets) clusters.add(t.cluster);
  let upgradeTypes: Set<string> | undefined;
  if (action.upgrade_configs) {
    upgradeTypes = new Set();
    for (const u of action.upgrade_configs as DecodedResource[])
      if (u.enabled?.value !== false) upgradeTypes.add(String(u.upgrade_type).toLowerCase());
  }
  return {
    name: String(r.name ?? ''),
    redirect: undefined,
    pathKind,
    pathValue: caseSensitive ? pathValue : pathValue.toLowerCase(),
    caseSensitive,
    headers,
    targets,
    totalWeight: total,
    timeoutMs: durationMs(action.timeout) ?? ENVOY_DEFAULT_ROUTE_TIMEOUT_MS,
    upgradeTypes,
    connectRetries,
    hostRewrite:
      typeof action.host_rewrite_literal === 'string' && action.host_rewrite_literal !== ''
        ? action.host_rewrite_literal
        : undefined,
    requestHeaders: headerMutation(
      r.request_headers_to_add,
      r.request_headers_to_remove,
      `${path}.request_headers_to_add`,
      errors,
    ),
    responseHeaders: headerMutation(
      r.response_headers_to_add,
      r.response_headers_to_remove,
      `${path}.response_headers_to_add`,
      errors,
    ),
  };
}

/** What a redirect route has instead of an upstream: no targets, no retries, no headers sent anywhere. */
const PASSIVE_ROUTE = {
  targets: [],
  totalWeight: 0,
  timeoutMs: 0,
  upgradeTypes: undefined,
  connectRetries: 0,
  hostRewrite: undefined,
  requestHeaders: { remove: [], add: [] },
} satisfies Partial<RouteEntry>;

/** The scheme swaps Knative's httpOption Redirected needs; host, port and path rewrites are refused. */
function compileRedirect(redirect: DecodedResource, path: string, errors: ConfigErrors): RedirectEntry {
  errors.unsupported(redirect, path, ['https_redirect', 'scheme_redirect', 'response_code', 'strip_query']);
  const code = String(redirect.response_code ?? 'MOVED_PERMANENTLY');
  const status = REDIRECT_STATUS[code];
  if (status === undefined) errors.add(`${path}.response_code`, `${code} is not a RedirectResponseCode`);
  const scheme =
    redirect.https_redirect === true
      ? 'https'
      : typeof redirect.scheme_redirect === 'string' && redirect.scheme_redirect !== ''
        ? redirect.scheme_redirect.toLowerCase()
        : undefined;
  return { scheme, status: status ?? 301, stripQuery: redirect.strip_query === true };
}

/**
 * Compiles a resource once per decoded object: the xDS client hands unchanged resources back as
 * the same object, so with thousands of them an update only compiles what changed. Only clean
 * results are kept; a resource with problems is compiled again so its errors name this update.
 */
function memoized<R extends object, T>(
  compile: (r: R, path: string, errors: ConfigErrors) => T,
): (r: R, path: string | ((r: R) => string), errors: ConfigErrors) => T {
  const memo = new WeakMap<R, T>();
  return (r, path, errors) => {
    const known = memo.get(r);
    if (known !== undefined || memo.has(r)) return known!;
    const own = new ConfigErrors();
    // A path given as a function is only built when the resource is compiled.
    const result = compile(r, typeof path === 'string' ? path : path(r), own);
    if (own.empty) memo.set(r, result);
    else errors.messages.push(...own.messages);
    return result;
  };
}

const compileVirtualHost = memoized(
  (vh: DecodedResource, vPath: string, errors: ConfigErrors): { entry: VirtualHostEntry; clusters: Set<string> } => {
    errors.unsupported(vh, vPath, [
      'name',
      'domains',
      'routes',
      'request_headers_to_add',
      'request_headers_to_remove',
      'response_headers_to_add',
      'response_headers_to_remove',
    ]);
    const clusters = new Set<string>();
    const entry: VirtualHostEntry = {
      name: String(vh.name ?? ''),
      routes: [],
      requestHeaders: headerMutation(
        vh.request_headers_to_add,
        vh.request_headers_to_remove,
        `${vPath}.request_headers_to_add`,
        errors,
      ),
      responseHeaders: headerMutation(
        vh.response_headers_to_add,
        vh.response_headers_to_remove,
        `${vPath}.response_headers_to_add`,
        errors,
      ),
    };
    ((vh.routes ?? []) as DecodedResource[]).forEach((r, i) => {
      const route = compileRoute(r, `${vPath}.routes[${i}]`, errors, clusters);
      if (route) entry.routes.push(route);
    });
    return { entry, clusters };
  },
);

/** Compiled once per decoded object (Delta hands unchanged RouteConfigurations back as the same object). */
export function compileRouteConfiguration(rc: DecodedResource, errors: ConfigErrors): RouteTable {
  return compileRouteConfigurationOnce(rc, routeConfigurationPath, errors);
}

const routeConfigurationPath = (rc: DecodedResource): string => `RouteConfiguration ${rc.name}`;

const compileRouteConfigurationOnce = memoized(
  (rc: DecodedResource, path: string, errors: ConfigErrors): RouteTable => {
    errors.unsupported(rc, path, [
      'name',
      'virtual_hosts',
      'request_headers_to_add',
      'request_headers_to_remove',
      'response_headers_to_add',
      'response_headers_to_remove',
    ]);
    const table: RouteTable = {
      name: String(rc.name ?? ''),
      exact: new Map(),
      suffixes: [],
      prefixes: [],
      catchAll: undefined,
      requestHeaders: headerMutation(
        rc.request_headers_to_add,
        rc.request_headers_to_remove,
        `${path}.request_headers_to_add`,
        errors,
      ),
      responseHeaders: headerMutation(
        rc.response_headers_to_add,
        rc.response_headers_to_remove,
        `${path}.response_headers_to_add`,
        errors,
      ),
      clusters: new Set(),
    };
    ((rc.virtual_hosts ?? []) as DecodedResource[]).forEach((vh, v) => {
      const vPath = `${path}.virtual_hosts[${v}] (${vh.name})`;
      const { entry, clusters } = compileVirtualHost(vh, vPath, errors);
      for (const c of clusters) table.clusters.add(c);
      for (const raw of (vh.domains ?? []) as string[]) {
        const domain = raw.toLowerCase();
        const duplicate = (taken: boolean) =>
          taken && errors.add(`${vPath}.domains`, `"${raw}" is already used by another virtual host`);
        if (domain === '*') {
          duplicate(table.catchAll !== undefined);
          table.catchAll = entry;
        } else if (domain.startsWith('*')) {
          duplicate(table.suffixes.some(([s]) => s === domain.slice(1)));
          table.suffixes.push([domain.slice(1), entry]);
        } else if (domain.endsWith('*')) {
          duplicate(table.prefixes.some(([p]) => p === domain.slice(0, -1)));
          table.prefixes.push([domain.slice(0, -1), entry]);
        } else {
          duplicate(table.exact.has(domain));
          table.exact.set(domain, entry);
        }
      }
    });
    table.suffixes.sort((a, b) => b[0].length - a[0].length);
    table.prefixes.sort((a, b) => b[0].length - a[0].length);
    return table;
  },
);

// ---------- Clusters and endpoints ----------

export interface ClusterConfig {
  name: string;
  /** The ClusterLoadAssignment name to subscribe to (EDS), or undefined for STATIC. */
  edsName: string | undefined;
  staticEndpoints: Endpoint[];
  h2c: boolean;
  connectTimeoutMs: number;
  lbPolicy: 'ROUND_ROBIN' | 'RANDOM' | 'LEAST_REQUEST';
}

export interface Endpoint {
  host: string;
  port: number;
}

const PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export function compileCluster(c: DecodedResource, errors: ConfigErrors): ClusterConfig | undefined {
  return compileClusterOnce(c, clusterPath, errors);
}

const clusterPath = (c: DecodedResource): string => `Cluster ${c.name}`;

const compileClusterOnce = memoized(
  (c: DecodedResource, path: string, errors: ConfigErrors): ClusterConfig | undefined => {
    errors.unsupported(c, path, [
      'name',
      'type',
      'eds_cluster_config',
      'connect_timeout',
      'lb_policy',
      'metadata',
      'typed_extension_protocol_options',
      'load_assignment',
    ]);
    const type = c.type ?? 'STATIC';
    if (type !== 'EDS' && type !== 'STATIC') {
      errors.add(`${path}.type`, `${type} is not supported; use EDS or STATIC`);
      return undefined;
    }
    const lbPolicy = c.lb_policy ?? 'ROUND_ROBIN';
    if (!['ROUND_ROBIN', 'RANDOM', 'LEAST_REQUEST'].includes(lbPolicy))
      errors.add(`${path}.lb_policy`, `${lbPolicy} is not supported; use ROUND_ROBIN, RANDOM or LEAST_REQUEST`);
    const options = c.typed_extension_protocol_options?.[PROTOCOL_OPTIONS_KEY] as DecodedResource | undefined;
    const extraOptions = Object.keys(c.typed_extension_protocol_options ?? {}).filter(
      (k) => k !== PROTOCOL_OPTIONS_KEY,
    );
    for (const k of extraOptions) errors.add(`${path}.typed_extension_protocol_options.${k}`, 'is not supported');
    if (options) errors.unsupported(options, `${path}.typed_extension_protocol_options`, ['explicit_http_config']);
    const h2c = options?.explicit_http_config?.http2_protocol_options !== undefined;
    return {
      name: String(c.name),
      edsName: type === 'EDS' ? String(c.eds_cluster_config?.service_name || c.name) : undefined,
      staticEndpoints: type === 'STATIC' ? assignmentEndpoints(c.load_assignment ?? {}) : [],
      h2c,
      connectTimeoutMs: durationMs(c.connect_timeout) ?? 5000,
      lbPolicy,
    };
  },
);

/** Endpoints that may get traffic: HEALTHY or UNKNOWN, as Envoy treats them without health checks. */
export function assignmentEndpoints(cla: DecodedResource): Endpoint[] {
  return assignmentEndpointsOnce(cla, '', new ConfigErrors());
}

const assignmentEndpointsOnce = memoized((cla: DecodedResource): Endpoint[] => {
  const out: Endpoint[] = [];
  for (const locality of (cla.endpoints ?? []) as DecodedResource[]) {
    for (const lb of (locality.lb_endpoints ?? []) as DecodedResource[]) {
      const status = lb.health_status ?? 'UNKNOWN';
      if (status !== 'HEALTHY' && status !== 'UNKNOWN') continue;
      const socket = lb.endpoint?.address?.socket_address;
      if (socket) out.push({ host: String(socket.address), port: Number(socket.port_value) });
    }
  }
  return out;
});
