// RouteConfigurations (RDS, or inline in a listener or scope) → the embedded gateway's lookup tables:
// virtual hosts by domain, routes in order, weighted targets, header mutations, redirects.
import type * as envoy from '../envoy/envoy-types.js';
import { ConfigErrors, durationMs, memoized } from './compile-errors.js';

type EnvoyRoute = envoy.envoy_config_route_v3_Route;

export type AppendAction = envoy.HeaderAppendAction;

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

const REDIRECT_STATUS: Record<envoy.RedirectResponseCode, number> = {
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
  /** retry_policy: how many more times to try a request that failed to connect or was not processed (0 = none). */
  retries: number;
  /** retry_policy connect-failure or refused-stream: a request no endpoint took is retried. */
  retryConnectFailure: boolean;
  /** retry_policy retriable-headers: an answer with one of these headers (present_match) is retried. */
  retriableHeaders: ReadonlySet<string>;
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

export function headerMutation(
  add: envoy.HeaderValueOption[] | undefined,
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
    let action: AppendAction = h.append_action ?? 'APPEND_IF_EXISTS_OR_ADD';
    if (h.append !== undefined && h.append_action === undefined)
      action = h.append.value === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD';
    mutation.add.push({ name, value: String(h.header?.value ?? ''), action });
  });
  return mutation;
}

function compileHeaderMatcher(h: envoy.HeaderMatcher, path: string, errors: ConfigErrors): HeaderMatcher | undefined {
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
  const sm = h.string_match;
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
  r: EnvoyRoute,
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
  const match = r.match ?? {};
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
  (match.headers ?? []).forEach((h, i) => {
    const m = compileHeaderMatcher(h, `${path}.match.headers[${i}]`, errors);
    if (m) headers.push(m);
  });
  const action = r.route;
  if (r.redirect && action) {
    errors.add(path, 'sets route and redirect; the action is a oneof, set one');
    return undefined;
  }
  if (r.redirect) {
    const redirect = compileRedirect(r.redirect, `${path}.redirect`, errors);
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
  let retries = 0;
  let retryConnectFailure = false;
  const retriableHeaders = new Set<string>();
  if (action.retry_policy) {
    const policy = action.retry_policy;
    const policyPath = `${path}.route.retry_policy`;
    errors.unsupported(policy, policyPath, ['retry_on', 'num_retries', 'retriable_headers']);
    const conditions = String(policy.retry_on ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '');
    for (const c of conditions)
      if (!RETRY_CONDITIONS.has(c))
        errors.add(
          `${policyPath}.retry_on`,
          `"${c}" is not supported; the embedded gateway retries ${[...RETRY_CONDITIONS].join(', ')}`,
        );
    (policy.retriable_headers ?? []).forEach((m, i) => {
      const mPath = `${policyPath}.retriable_headers[${i}]`;
      errors.unsupported(m, mPath, ['name', 'present_match']);
      if (m.present_match !== true || !m.name)
        errors.add(
          mPath,
          'the embedded gateway retries on a header by its name only: give name and present_match: true',
        );
      else retriableHeaders.add(String(m.name).toLowerCase());
    });
    if (retriableHeaders.size > 0 && !conditions.includes('retriable-headers'))
      errors.add(`${policyPath}.retriable_headers`, 'is only used with "retriable-headers" in retry_on');
    if (conditions.length > 0) retries = Number(policy.num_retries?.value ?? 1); // Envoy's default is 1
    retryConnectFailure = conditions.includes('connect-failure') || conditions.includes('refused-stream');
  }
  const targets: WeightedTarget[] = [];
  let total = 0;
  if (action.cluster !== undefined) {
    total = 1;
    targets.push({ cluster: String(action.cluster), upTo: 1, requestHeaders: { remove: [], add: [] } });
  } else if (action.weighted_clusters) {
    const wc = action.weighted_clusters;
    errors.unsupported(wc, `${path}.route.weighted_clusters`, ['clusters', 'total_weight']);
    (wc.clusters ?? []).forEach((c, i) => {
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
    for (const u of action.upgrade_configs)
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
    retries,
    retryConnectFailure,
    retriableHeaders,
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

/** The retry_on conditions the embedded gateway acts on (and Knative's routes use). */
const RETRY_CONDITIONS: ReadonlySet<string> = new Set(['connect-failure', 'refused-stream', 'retriable-headers']);

/** What a redirect route has instead of an upstream: no targets, no retries, no headers sent anywhere. */
const PASSIVE_ROUTE = {
  targets: [],
  totalWeight: 0,
  timeoutMs: 0,
  upgradeTypes: undefined,
  retries: 0,
  retryConnectFailure: false,
  retriableHeaders: new Set(),
  hostRewrite: undefined,
  requestHeaders: { remove: [], add: [] },
} satisfies Partial<RouteEntry>;

/** The scheme swaps Knative's httpOption Redirected needs; host, port and path rewrites are refused. */
function compileRedirect(redirect: envoy.RedirectAction, path: string, errors: ConfigErrors): RedirectEntry {
  errors.unsupported(redirect, path, ['https_redirect', 'scheme_redirect', 'response_code', 'strip_query']);
  const code = String(redirect.response_code ?? 'MOVED_PERMANENTLY');
  // An enum number the protos do not know arrives as a number: refused below.
  const status = (REDIRECT_STATUS as Partial<Record<string, number>>)[code];
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
const compileVirtualHost = memoized(
  (vh: envoy.VirtualHost, vPath: string, errors: ConfigErrors): { entry: VirtualHostEntry; clusters: Set<string> } => {
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
    (vh.routes ?? []).forEach((r, i) => {
      const route = compileRoute(r, `${vPath}.routes[${i}]`, errors, clusters);
      if (route) entry.routes.push(route);
    });
    return { entry, clusters };
  },
);

/** Compiled once per decoded object (Delta hands unchanged RouteConfigurations back as the same object). */
export function compileRouteConfiguration(rc: envoy.RouteConfiguration, errors: ConfigErrors): RouteTable {
  return compileRouteConfigurationOnce(rc, routeConfigurationPath, errors);
}

const routeConfigurationPath = (rc: envoy.RouteConfiguration): string => `RouteConfiguration ${rc.name}`;

const compileRouteConfigurationOnce = memoized(
  (rc: envoy.RouteConfiguration, path: string, errors: ConfigErrors): RouteTable => {
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
    (rc.virtual_hosts ?? []).forEach((vh, v) => {
      const vPath = `${path}.virtual_hosts[${v}] (${vh.name})`;
      const { entry, clusters } = compileVirtualHost(vh, vPath, errors);
      for (const c of clusters) table.clusters.add(c);
      for (const raw of vh.domains ?? []) {
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
