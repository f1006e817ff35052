// Listeners (LDS) → what the embedded gateway binds: its address, TLS, the one HTTP connection
// manager's settings, and where its routes come from (RDS, inline, or scoped routes).
import type * as envoy from '../envoy/envoy-types.js';
import { TYPE_URL } from '../envoy/protos.js';
import { LOWER_CASE_AUTHORITY_LUA } from '../translate/listener.js';
import type { EdgePolicy } from './edge-headers.js';
import { ConfigErrors, isSet, messageName, unpack } from './compile-errors.js';
import { compileRouteConfiguration, headerMutation, type HeaderMutation, type RouteTable } from './compile-routes.js';
import { compileScopedRoutes, type ScopedRoutesConfig } from './compile-scopes.js';
import { compileFilterChains, compileListenerFilters, type ListenerTls } from './compile-tls.js';

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

const HCM = messageName(TYPE_URL.httpConnectionManager);
const ROUTER = messageName(TYPE_URL.router);
const EARLY_HEADER_MUTATION = messageName(TYPE_URL.earlyHeaderMutation);

/** undefined for listeners the gateway does not bind (api_listener: proxyless gRPC clients only). */
export function compileListener(l: envoy.Listener, errors: ConfigErrors): ListenerConfig | undefined {
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
  const chains = compileFilterChains(l.filter_chains ?? [], path, errors);
  if (!chains) return undefined;
  const filters = chains.filters;
  const hcm = unpack<envoy.HttpConnectionManager>(filters[0]?.typed_config, TYPE_URL.httpConnectionManager);
  if (filters.length !== 1 || !hcm) {
    errors.add(`${path}.filter_chains[0].filters`, `must be exactly one ${HCM}`);
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
  const lowerCaseAuthority = compileHttpFilters(hcm.http_filters ?? [], `${hcmPath}.http_filters`, errors);
  const upgradeTypes = new Set<string>();
  for (const u of hcm.upgrade_configs ?? [])
    if (u.enabled?.value !== false) upgradeTypes.add(String(u.upgrade_type).toLowerCase());
  // route_specifier is a oneof: exactly one of the three.
  const specifiers = (['rds', 'route_config', 'scoped_routes'] as const).filter((k) => isSet(hcm[k]));
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
function compileHttpFilters(filters: envoy.HttpFilter[], path: string, errors: ConfigErrors): boolean {
  const isRouter = (f: envoy.HttpFilter) =>
    messageName(f.typed_config?.['@type']) === ROUTER || f.name === 'envoy.filters.http.router';
  let lowerCase = false;
  filters.forEach((f, i) => {
    const last = i === filters.length - 1;
    if (isRouter(f) !== last)
      errors.add(
        `${path}[${i}]`,
        last ? 'the last HTTP filter must be the router' : 'the router filter must be the last HTTP filter',
      );
    if (isRouter(f)) return;
    const lua = unpack<envoy.Lua>(f.typed_config, TYPE_URL.lua);
    if (!lua) {
      errors.add(
        `${path}[${i}]`,
        `${f.name} is not supported; only the router filter and gatehouse's host lower-casing Lua filter are`,
      );
      return;
    }
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
  extensions: envoy.envoy_config_core_v3_TypedExtensionConfig[] | undefined,
  path: string,
  errors: ConfigErrors,
): HeaderMutation[] {
  const out: HeaderMutation[] = [];
  (extensions ?? []).forEach((ext, e) => {
    const ePath = `${path}[${e}]`;
    errors.unsupported(ext, ePath, ['name', 'typed_config']);
    const typed = unpack<envoy.HeaderMutation>(ext.typed_config, TYPE_URL.earlyHeaderMutation);
    if (!typed) {
      const given = messageName(ext.typed_config?.['@type']) || 'an empty type';
      errors.add(`${ePath}.typed_config`, `${given} is not supported; only ${EARLY_HEADER_MUTATION} is`);
      return;
    }
    errors.unsupported(typed, `${ePath}.typed_config`, ['mutations']);
    const mutations = typed.mutations ?? [];
    if (mutations.length === 0) errors.add(`${ePath}.typed_config.mutations`, 'needs at least one mutation');
    mutations.forEach((m, i) => {
      const mPath = `${ePath}.typed_config.mutations[${i}]`;
      errors.unsupported(m, mPath, ['remove', 'append']);
      const { remove, append } = m;
      if (isSet(remove) === isSet(append)) return errors.add(mPath, 'needs exactly one of remove and append');
      if (isSet(remove)) {
        if (remove === '') return errors.add(`${mPath}.remove`, 'is empty');
        out.push({ remove: [remove.toLowerCase()], add: [] });
      } else if (isSet(append)) out.push(headerMutation([append], undefined, `${mPath}.append`, errors, false));
    });
  });
  return out;
}
