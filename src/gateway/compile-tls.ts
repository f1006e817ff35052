// A Listener's filter chains → the embedded gateway's TLS settings. Pure apart from building each
// certificate's SecureContext (node:tls), which proves the PEM loads before the update is ACKed.
//
// The gateway serves one HTTP connection manager per listener, so every chain must carry the same
// filters; what may differ between chains is what Kourier's HTTPS listener varies: the SNI server
// names each chain matches (filter_chain_match.server_names) and its certificate (a
// DownstreamTlsContext transport socket). A listener has either TLS on every chain or one plain
// chain. Anything else is refused with the field path, as compile.ts does.
import { createSecureContext, type SecureContext } from 'node:tls';
import type * as envoy from '../envoy/envoy-types.js';
import { TYPE_URL } from '../envoy/protos.js';
import { canonicalJson } from '../translate/canonical.js';
import { messageName, unpack, type ConfigErrors } from './compile-errors.js';

export interface TlsCertificate {
  /** Lower-case; empty = the chain for any other name, and for clients that send none. */
  serverNames: string[];
  context: SecureContext;
  /** The PEM the context was made from (Node's default context, for clients without SNI, takes PEM). */
  pem: { cert: string; key: string };
  /** ALPN protocols offered, in preference order (Envoy: none means no ALPN). */
  alpn: string[];
}

export interface ListenerTls {
  certificates: TlsCertificate[];
  /** Exact server name → certificate. */
  exact: Map<string, TlsCertificate>;
  /** `*.example.com` → certificate, keyed ".example.com". */
  wildcard: Map<string, TlsCertificate>;
  fallback: TlsCertificate | undefined;
}

const TLS_CONTEXT = messageName(TYPE_URL.downstreamTlsContext);
const TLS_INSPECTOR = messageName(TYPE_URL.tlsInspector);

/** listener_filters: only the TLS inspector, which reads the SNI (the gateway always does). */
export function compileListenerFilters(
  filters: envoy.ListenerFilter[] | undefined,
  path: string,
  errors: ConfigErrors,
): void {
  (filters ?? []).forEach((f, i) => {
    const type = messageName(f.typed_config?.['@type']);
    if (type !== TLS_INSPECTOR && !(type === '' && f.name === 'envoy.filters.listener.tls_inspector')) {
      errors.add(
        `${path}[${i}]`,
        `${f.name ?? type} is not supported; the embedded gateway runs only envoy.filters.listener.tls_inspector`,
      );
    }
  });
}

/** The PEM text of a DataSource given inline (a file path would be read on the gateway's host: refused). */
function inlineText(source: envoy.DataSource | undefined, path: string, errors: ConfigErrors): string | undefined {
  if (!source) {
    errors.add(path, 'is required');
    return undefined;
  }
  errors.unsupported(source, path, ['inline_string', 'inline_bytes']);
  if (typeof source.inline_string === 'string' && source.inline_string !== '') return source.inline_string;
  const bytes = source.inline_bytes;
  if (bytes instanceof Uint8Array && bytes.length > 0) return Buffer.from(bytes).toString('utf8');
  if (typeof bytes === 'string' && bytes !== '') return Buffer.from(bytes, 'base64').toString('utf8');
  errors.add(
    path,
    'needs inline_string or inline_bytes (the embedded gateway takes certificates inline, as Kourier sends them)',
  );
  return undefined;
}

function compileTransportSocket(
  socket: envoy.TransportSocket,
  serverNames: string[],
  path: string,
  errors: ConfigErrors,
): TlsCertificate | undefined {
  errors.unsupported(socket, path, ['name', 'typed_config']);
  const ctx = unpack<envoy.DownstreamTlsContext>(socket.typed_config, TYPE_URL.downstreamTlsContext);
  if (!ctx) {
    errors.add(`${path}.typed_config`, `must be a ${TLS_CONTEXT}`);
    return undefined;
  }
  errors.unsupported(ctx, `${path}.typed_config`, ['common_tls_context']);
  const common = ctx.common_tls_context;
  const cPath = `${path}.typed_config.common_tls_context`;
  if (!common) {
    errors.add(cPath, 'is required');
    return undefined;
  }
  errors.unsupported(common, cPath, ['tls_certificates', 'alpn_protocols']);
  const certs = common.tls_certificates ?? [];
  if (certs.length !== 1) {
    errors.add(
      `${cPath}.tls_certificates`,
      `has ${certs.length} entries; the embedded gateway needs exactly one per filter chain`,
    );
    return undefined;
  }
  errors.unsupported(certs[0], `${cPath}.tls_certificates[0]`, ['certificate_chain', 'private_key']);
  const cert = inlineText(certs[0]!.certificate_chain, `${cPath}.tls_certificates[0].certificate_chain`, errors);
  const key = inlineText(certs[0]!.private_key, `${cPath}.tls_certificates[0].private_key`, errors);
  if (cert === undefined || key === undefined) return undefined;
  let context: SecureContext;
  try {
    context = createSecureContext({ cert, key });
  } catch (err) {
    // Envoy refuses such a listener too ("Failed to load certificate chain" / "private key").
    errors.add(`${cPath}.tls_certificates[0]`, `does not load: ${(err as Error).message}`);
    return undefined;
  }
  return { serverNames, context, pem: { cert, key }, alpn: common.alpn_protocols ?? [] };
}

/**
 * The filters every chain shares, and the TLS settings when the chains carry certificates.
 * undefined (with errors) when the chains are not a shape the gateway serves.
 */
export function compileFilterChains(
  chains: envoy.FilterChain[],
  path: string,
  errors: ConfigErrors,
): { filters: envoy.envoy_config_listener_v3_Filter[]; tls: ListenerTls | undefined } | undefined {
  if (chains.length === 0) {
    errors.add(`${path}.filter_chains`, 'needs at least one filter chain');
    return undefined;
  }
  const filters = chains[0]!.filters ?? [];
  const shared = canonicalJson(filters);
  const withTls = chains.filter((c) => c.transport_socket).length;
  if (withTls !== 0 && withTls !== chains.length) {
    errors.add(
      `${path}.filter_chains`,
      'mixes chains with and without transport_socket; the embedded gateway serves a listener either all TLS or plain',
    );
    return undefined;
  }
  if (withTls === 0 && chains.length !== 1) {
    errors.add(
      `${path}.filter_chains`,
      `has ${chains.length} plain entries; without TLS the embedded gateway needs exactly one`,
    );
    return undefined;
  }
  const tls: ListenerTls = { certificates: [], exact: new Map(), wildcard: new Map(), fallback: undefined };
  let ok = true;
  chains.forEach((chain, i) => {
    const cPath = `${path}.filter_chains[${i}]`;
    errors.unsupported(chain, cPath, ['filters', 'name', 'filter_chain_match', 'transport_socket']);
    if (i > 0 && canonicalJson(chain.filters ?? []) !== shared) {
      ok = false;
      errors.add(
        `${cPath}.filters`,
        'differ from filter_chains[0].filters; the embedded gateway runs one set of filters per listener',
      );
    }
    const match = chain.filter_chain_match;
    errors.unsupported(match, `${cPath}.filter_chain_match`, ['server_names']);
    const serverNames = (match?.server_names ?? []).map((n) => n.toLowerCase());
    if (!chain.transport_socket) {
      if (serverNames.length > 0)
        errors.add(`${cPath}.filter_chain_match.server_names`, 'needs a TLS transport_socket (SNI comes with TLS)');
      return;
    }
    const cert = compileTransportSocket(chain.transport_socket, serverNames, `${cPath}.transport_socket`, errors);
    if (!cert) return void (ok = false);
    tls.certificates.push(cert);
    // Envoy: "multiple filter chains with the same matching rules are defined".
    const duplicate = (name: string) =>
      errors.add(
        `${cPath}.filter_chain_match.server_names`,
        `"${name}" is matched by an earlier filter chain too (multiple ` +
          `filter chains with the same matching rules are defined)`,
      );
    if (serverNames.length === 0) {
      if (tls.fallback) duplicate('(any)');
      tls.fallback = cert;
    }
    for (const name of serverNames) {
      const table = name.startsWith('*.') ? tls.wildcard : tls.exact;
      const key = name.startsWith('*.') ? name.slice(1) : name;
      if (table.has(key)) duplicate(name);
      table.set(key, cert);
    }
  });
  if (!ok) return undefined;
  return { filters, tls: withTls > 0 ? tls : undefined };
}

/** Envoy's order: the exact name, then wildcards from the longest suffix, then the chain without server names. */
export function selectCertificate(tls: ListenerTls, serverName: string | undefined): TlsCertificate | undefined {
  if (serverName) {
    const name = serverName.toLowerCase();
    const exact = tls.exact.get(name);
    if (exact) return exact;
    for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
      const found = tls.wildcard.get(name.slice(dot));
      if (found) return found;
    }
  }
  return tls.fallback;
}
