// Scoped routes (SRDS): the listener's scope key builder, and each ScopedRouteConfiguration's key
// and route table. A request's key (from its headers) picks the scope, then its routes.
import type * as envoy from '../envoy/envoy-types.js';
import { ConfigErrors, isSet, memoized } from './compile-errors.js';
import { compileRouteConfiguration, type RouteTable } from './compile-routes.js';

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
  /** Every scope by name, including any no request can reach (a NUL in a key fragment). */
  byName: ReadonlyMap<string, ScopeEntry>;
}

export const EMPTY_SCOPES: ScopeSet = { byKey: new Map(), byName: new Map() };

/** The lookup key of a scope or of a request: fragments joined with NUL, which no header value can hold. */
export function scopeKeyOf(fragments: readonly string[]): string {
  return fragments.join('\u0000');
}

const CONFIG_SOURCE_FIELDS = [
  'ads',
  'resource_api_version',
  'initial_fetch_timeout',
] satisfies (keyof envoy.ConfigSource)[];

export function compileScopedRoutes(
  sr: envoy.ScopedRoutes,
  path: string,
  errors: ConfigErrors,
): ScopedRoutesConfig | undefined {
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
  const builder = sr.scope_key_builder;
  if (!builder) errors.add(`${path}.scope_key_builder`, 'is required');
  else {
    errors.unsupported(builder, `${path}.scope_key_builder`, ['fragments']);
    const raw = builder.fragments ?? [];
    if (raw.length === 0) errors.add(`${path}.scope_key_builder.fragments`, 'needs at least one fragment');
    raw.forEach((f, i) => {
      const fragment = compileFragmentBuilder(f, `${path}.scope_key_builder.fragments[${i}]`, errors);
      if (fragment) fragments.push(fragment);
    });
  }
  const hasRds = isSet(sr.scoped_rds);
  const hasList = isSet(sr.scoped_route_configurations_list);
  let inlineScopes: ScopeSet | undefined;
  if (hasRds === hasList) errors.add(path, 'needs exactly one of scoped_rds and scoped_route_configurations_list');
  else if (hasRds) {
    const srds = sr.scoped_rds!;
    errors.unsupported(srds, `${path}.scoped_rds`, ['scoped_rds_config_source']);
    if (!srds.scoped_rds_config_source) errors.add(`${path}.scoped_rds.scoped_rds_config_source`, 'is required');
    else adsConfigSource(srds.scoped_rds_config_source, `${path}.scoped_rds.scoped_rds_config_source`, errors);
  } else {
    const list = sr.scoped_route_configurations_list!;
    errors.unsupported(list, `${path}.scoped_route_configurations_list`, ['scoped_route_configurations']);
    const scopes = list.scoped_route_configurations ?? [];
    if (scopes.length === 0)
      errors.add(`${path}.scoped_route_configurations_list.scoped_route_configurations`, 'needs at least one scope');
    inlineScopes = compileScopes(scopes, errors);
  }
  return { name: String(sr.name ?? ''), fragments, inlineScopes };
}

/** The gateway has one xDS connection: config sources must be ADS. */
function adsConfigSource(source: envoy.ConfigSource, path: string, errors: ConfigErrors): void {
  errors.unsupported(source, path, CONFIG_SOURCE_FIELDS);
  if (!source.ads)
    errors.add(`${path}.ads`, 'is required: the embedded gateway fetches everything over its one ADS stream');
}

function compileFragmentBuilder(
  f: envoy.FragmentBuilder,
  path: string,
  errors: ConfigErrors,
): ScopeKeyFragmentBuilder | undefined {
  errors.unsupported(f, path, ['header_value_extractor']);
  const x = f.header_value_extractor;
  if (!x) {
    errors.add(`${path}.header_value_extractor`, 'is required (it is the only fragment builder)');
    return undefined;
  }
  const xPath = `${path}.header_value_extractor`;
  errors.unsupported(x, xPath, ['name', 'element_separator', 'index', 'element']);
  const header = String(x.name ?? '').toLowerCase();
  if (header === '') errors.add(`${xPath}.name`, 'is required');
  const elementSeparator = String(x.element_separator ?? '');
  const hasIndex = isSet(x.index);
  const hasElement = isSet(x.element);
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
  const element = x.element!;
  errors.unsupported(element, `${xPath}.element`, ['separator', 'key']);
  const separator = String(element.separator ?? '');
  const key = String(element.key ?? '');
  if (separator === '') errors.add(`${xPath}.element.separator`, 'is required');
  if (key === '') errors.add(`${xPath}.element.key`, 'is required');
  return { header, elementSeparator, index: undefined, element: { separator, key } };
}

/** One ScopedRouteConfiguration, compiled once per decoded object. */
export function compileScopedRouteConfiguration(
  s: envoy.ScopedRouteConfiguration,
  errors: ConfigErrors,
): ScopeEntry | undefined {
  return compileScopeOnce(s, scopePath, errors);
}

const scopePath = (s: envoy.ScopedRouteConfiguration): string => `ScopedRouteConfiguration ${s.name}`;

const compileScopeOnce = memoized(
  (s: envoy.ScopedRouteConfiguration, path: string, errors: ConfigErrors): ScopeEntry | undefined => {
    errors.unsupported(s, path, ['name', 'key', 'route_configuration_name', 'route_configuration', 'on_demand']);
    const name = String(s.name ?? '');
    if (name === '') errors.add(`${path}.name`, 'is required');
    const key = s.key;
    if (!key) {
      errors.add(`${path}.key`, 'is required');
      return undefined;
    }
    errors.unsupported(key, `${path}.key`, ['fragments']);
    const raw = key.fragments ?? [];
    if (raw.length === 0) errors.add(`${path}.key.fragments`, 'needs at least one fragment');
    const fragments: string[] = [];
    raw.forEach((f, i) => {
      errors.unsupported(f, `${path}.key.fragments[${i}]`, ['string_key']);
      if (f.string_key === undefined || f.string_key === null)
        errors.add(`${path}.key.fragments[${i}].string_key`, 'is required');
      else fragments.push(String(f.string_key));
    });
    const hasName = typeof s.route_configuration_name === 'string' && s.route_configuration_name !== '';
    const inline = s.route_configuration;
    if (hasName === isSet(inline))
      errors.add(path, 'needs exactly one of route_configuration_name and route_configuration');
    const inlineRoutes = isSet(inline) && !hasName ? compileRouteConfiguration(inline, errors) : undefined;
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
  },
);

/** A set of scopes from a list (an inline scoped_route_configurations_list). */
export function compileScopes(resources: readonly envoy.ScopedRouteConfiguration[], errors: ConfigErrors): ScopeSet {
  const index = new ScopeIndex();
  index.apply(
    resources.map((r) => [String(r.name ?? ''), r]),
    [],
    errors,
  );
  return index;
}

/** A scope's place in its table: its key, or for one no request can reach its fragments spelt out. */
const tableKey = (scope: ScopeEntry): string => (scope.reachable ? scope.key : JSON.stringify(scope.fragments));

/**
 * The SRDS scopes a gateway holds, changed in place by each update at the cost of what it changes.
 * Two scopes with the same name or the same key are refused, as Envoy refuses them.
 */
export class ScopeIndex implements ScopeSet {
  readonly byKey = new Map<string, ScopeEntry>();
  readonly byName = new Map<string, ScopeEntry>();
  /** A NUL cannot be in a header value, so such a key matches no request; its conflicts are still checked. */
  private readonly unreachable = new Map<string, ScopeEntry>();

  /**
   * Replaces or adds `changed` (name → resource) and drops `removed`, or with errors changes
   * nothing. Returns the scopes that left (replaced or removed) and the ones that came.
   */
  apply(
    changed: Iterable<readonly [string, envoy.ScopedRouteConfiguration]>,
    removed: readonly string[],
    errors: ConfigErrors,
  ): { left: ScopeEntry[]; came: ScopeEntry[] } {
    const errorsBefore = errors.messages.length;
    const leaving = new Set(removed);
    const came: ScopeEntry[] = [];
    const names = new Set<string>();
    const claimed = new Map<string, ScopeEntry>();
    for (const [name, r] of changed) {
      const scope = compileScopedRouteConfiguration(r, errors);
      if (!scope) continue;
      const path = `ScopedRouteConfiguration ${scope.name}`;
      if (names.has(name)) {
        errors.add(path, `duplicate scoped route configuration '${scope.name}' found`);
        continue;
      }
      if (scope.name !== name) errors.add(`${path}.name`, `differs from the name '${name}' it was sent under`);
      names.add(name);
      leaving.add(name);
      came.push(scope);
    }
    for (const scope of came) {
      const key = tableKey(scope);
      const held = (scope.reachable ? this.byKey : this.unreachable).get(key);
      const first = claimed.get(key) ?? (held && !leaving.has(held.name) ? held : undefined);
      if (first)
        errors.add(
          `ScopedRouteConfiguration ${scope.name}.key`,
          `scope key conflict found, first scope is '${first.name}', second scope is '${scope.name}'`,
        );
      else claimed.set(key, scope);
    }
    if (errors.messages.length > errorsBefore) return { left: [], came: [] };
    const left: ScopeEntry[] = [];
    for (const name of leaving) {
      const scope = this.byName.get(name);
      if (!scope) continue;
      left.push(scope);
      this.byName.delete(name);
      const table = scope.reachable ? this.byKey : this.unreachable;
      if (table.get(tableKey(scope)) === scope) table.delete(tableKey(scope));
    }
    for (const scope of came) {
      this.byName.set(scope.name, scope);
      (scope.reachable ? this.byKey : this.unreachable).set(tableKey(scope), scope);
    }
    return { left, came };
  }
}
