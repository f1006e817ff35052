// Small builders for desired state, so tests say only what matters to them.
import type { DesiredState, Endpoint, RevisionRouting, RevisionSpec, RouteSpec } from '../../src/model/desired.js';
import { revisionKey } from '../../src/model/names.js';

export function revision(name: string, overrides: Partial<RevisionSpec> = {}): RevisionSpec {
  const service = name.replace(/-\d{5}$/, '');
  return {
    namespace: 'default',
    name,
    service,
    configuration: service,
    generation: Number(name.slice(-5)) || 1,
    containerConcurrency: 0,
    timeoutSeconds: 300,
    annotations: {},
    container: { command: ['node', 'examples/app/server.mjs'], args: [], env: [], protocol: 'http1' },
    ...overrides,
  };
}

export function routing(
  spec: RevisionSpec,
  mode: 'proxy' | 'serve',
  pods: Endpoint[],
  activators: Endpoint[] = [{ host: '127.0.0.1', port: 8013 }],
): RevisionRouting {
  return { spec, mode, pods, activators };
}

export function route(
  name: string,
  traffic: RouteSpec['traffic'],
  visibility: RouteSpec['visibility'] = 'external',
): RouteSpec {
  return { namespace: 'default', name, visibility, traffic };
}

export function desired(routes: RouteSpec[], revisions: RevisionRouting[], domain = 'example.com'): DesiredState {
  return {
    domain,
    listeners: { externalPort: 8080, localPort: 8081, address: '0.0.0.0' },
    routes,
    revisions: new Map(revisions.map((r) => [revisionKey(r.spec.namespace, r.spec.name), r])),
  };
}
