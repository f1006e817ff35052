// Knative's KIngress validation and defaults (knative.dev/networking ingress_validation.go and
// ingress_defaults.go, in our own words), plus what gatehouse cannot serve. Pure: a KIngress in,
// either the defaulted spec or every problem with its field path.
import type { HTTPIngressPath, IngressRule, KIngress } from './types.js';

export interface FieldProblem {
  path: string;
  message: string;
}

/** A spec.tls entry: a Secret of type kubernetes.io/tls and the hosts it serves. */
export interface TlsRef {
  hosts: string[];
  secretNamespace: string;
  secretName: string;
}

export interface ValidIngress {
  rules: Array<Required<Pick<IngressRule, 'visibility'>> & { hosts: string[]; paths: HTTPIngressPath[] }>;
  httpOption: 'Enabled' | 'Redirected';
  tls: TlsRef[];
}

/** Whether a spec.tls entry names `host`, exactly or by a `*.` wildcard for one label (as a certificate would). */
export function tlsCovers(tls: readonly TlsRef[], host: string): boolean {
  const dot = host.indexOf('.');
  const wildcard = dot > 0 ? `*${host.slice(dot)}` : undefined;
  return tls.some((t) => t.hosts.includes(host) || (wildcard !== undefined && t.hosts.includes(wildcard)));
}

function validateTls(tls: unknown, add: (path: string, message: string) => void): TlsRef[] {
  if (tls === undefined || tls === null) return [];
  if (!Array.isArray(tls)) {
    add('spec.tls', 'invalid value: must be a list');
    return [];
  }
  const out: TlsRef[] = [];
  tls.forEach((t: unknown, i) => {
    const tPath = `spec.tls[${i}]`;
    if (!isObject(t)) return add(tPath, 'missing field(s)');
    const hosts = Array.isArray(t.hosts) ? t.hosts : [];
    if (hosts.length === 0) add(`${tPath}.hosts`, 'missing field(s): a certificate serves at least one host');
    hosts.forEach((h: unknown, j) => {
      if (!isHostName(h)) add(`${tPath}.hosts[${j}]`, `invalid value: ${JSON.stringify(h)}`);
    });
    for (const field of ['secretName', 'secretNamespace'] as const)
      if (typeof t[field] !== 'string' || t[field] === '') add(`${tPath}.${field}`, 'missing field(s)');
    out.push({
      hosts: hosts as string[],
      secretNamespace: String(t.secretNamespace ?? ''),
      secretName: String(t.secretName ?? ''),
    });
  });
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isHostName = (h: unknown): h is string => typeof h === 'string' && h !== '' && !/[\s/\u0000]/.test(h);

export function validateIngress(
  ingress: KIngress,
): { ok: true; spec: ValidIngress } | { ok: false; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  const spec = ingress.spec;
  const namespace = ingress.metadata.namespace ?? '';
  if (!isObject(spec) || Object.keys(spec).length === 0)
    return { ok: false, problems: [{ path: 'spec', message: 'missing field(s)' }] };
  const out: ValidIngress = {
    rules: [],
    httpOption: spec.httpOption === 'Redirected' ? 'Redirected' : 'Enabled',
    tls: validateTls(spec.tls, add),
  };
  if (!Array.isArray(spec.rules) || spec.rules.length === 0) add('spec.rules', 'missing field(s)');
  if (
    spec.httpOption !== undefined &&
    spec.httpOption !== '' &&
    spec.httpOption !== 'Enabled' &&
    spec.httpOption !== 'Redirected'
  ) {
    add('spec.httpOption', `invalid value: ${String(spec.httpOption)} (Enabled or Redirected)`);
  }
  (spec.rules ?? []).forEach((rule, r) => {
    const rPath = `spec.rules[${r}]`;
    if (!isObject(rule)) return add(rPath, 'missing field(s)');
    const visibility = rule.visibility ?? 'ExternalIP';
    if (visibility !== 'ExternalIP' && visibility !== 'ClusterLocal')
      add(`${rPath}.visibility`, `invalid value: ${String(visibility)} (ExternalIP or ClusterLocal)`);
    const hosts = Array.isArray(rule.hosts) ? rule.hosts : [];
    if (hosts.length === 0) add(`${rPath}.hosts`, 'missing field(s): a rule needs at least one host');
    hosts.forEach((h, i) => {
      if (!isHostName(h)) add(`${rPath}.hosts[${i}]`, `invalid value: ${JSON.stringify(h)}`);
    });
    if (!isObject(rule.http)) return add(`${rPath}.http`, 'missing field(s)');
    const paths = (rule.http as { paths?: unknown }).paths as HTTPIngressPath[] | undefined;
    if (!Array.isArray(paths) || paths.length === 0) return add(`${rPath}.http.paths`, 'missing field(s)');
    const defaulted: HTTPIngressPath[] = [];
    paths.forEach((p, i) => {
      const pPath = `${rPath}.http.paths[${i}]`;
      if (!isObject(p)) return add(pPath, 'missing field(s)');
      if (p.path !== undefined && (typeof p.path !== 'string' || (p.path !== '' && !p.path.startsWith('/'))))
        add(`${pPath}.path`, `invalid value: ${JSON.stringify(p.path)} (a path prefix starting with /)`);
      for (const [name, match] of Object.entries(p.headers ?? {})) {
        if (!isObject(match) || typeof match.exact !== 'string')
          add(`${pPath}.headers.${name}.exact`, 'missing field(s)');
      }
      const splits = Array.isArray(p.splits) ? p.splits : [];
      if (splits.length === 0) return add(`${pPath}.splits`, 'missing field(s)');
      let total = 0;
      splits.forEach((s, j) => {
        const sPath = `${pPath}.splits[${j}]`;
        const percent = s.percent ?? 0;
        if (!Number.isInteger(percent) || percent < 0 || percent > 100)
          add(`${sPath}.percent`, `invalid value: ${String(percent)}`);
        total += Number(percent) || 0;
        if (!s.serviceNamespace) add(`${sPath}.serviceNamespace`, 'missing field(s)');
        else if (s.serviceNamespace !== namespace)
          add(`${sPath}.serviceNamespace`, 'service namespace must match ingress namespace');
        if (!s.serviceName) add(`${sPath}.serviceName`, 'missing field(s)');
        if (s.servicePort === undefined || s.servicePort === '' || s.servicePort === 0)
          add(`${sPath}.servicePort`, 'missing field(s)');
      });
      // One split without a percent means 100 %.
      if ((splits.length !== 1 || total !== 0) && total !== 100)
        add(`${pPath}.splits`, `traffic split percentage must total to 100, but was ${total}`);
      defaulted.push(
        splits.length === 1 && !splits[0]!.percent ? { ...p, splits: [{ ...splits[0]!, percent: 100 }] } : p,
      );
    });
    // A redirect to https is only as good as the certificate waiting there.
    if (out.httpOption === 'Redirected' && visibility === 'ExternalIP') {
      hosts.forEach((h, i) => {
        if (typeof h === 'string' && !tlsCovers(out.tls, h))
          add(
            `${rPath}.hosts[${i}]`,
            `httpOption Redirected sends ${h} to https, but no spec.tls entry has a certificate for it`,
          );
      });
    }
    out.rules.push({
      visibility: visibility as 'ExternalIP' | 'ClusterLocal',
      hosts: hosts as string[],
      paths: defaulted,
    });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, spec: out };
}
