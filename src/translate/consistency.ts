// A snapshot is consistent when every EDS cluster has its assignment, every route names an
// existing cluster, every RDS name a listener or a scope uses exists, and no two scopes share a
// key (Envoy refuses the whole SRDS update then). Returns every problem found.
import type { Translation } from './types.js';

type Resource = Record<string, unknown>;

export function checkSnapshotConsistency(
  t: Pick<Translation, 'listeners' | 'scopedRoutes' | 'routes' | 'clusters' | 'endpoints'>,
): string[] {
  const problems: string[] = [];
  const clusterNames = new Set(t.clusters.map((c) => c.name));
  const assignmentNames = new Set(t.endpoints.map((e) => e.cluster_name));
  const routeNames = new Set(t.routes.map((r) => r.name));
  for (const c of t.clusters)
    if (c.type === 'EDS' && !assignmentNames.has(c.name))
      problems.push(`cluster ${c.name} has no ClusterLoadAssignment`);
  for (const e of t.endpoints)
    if (!clusterNames.has(e.cluster_name)) problems.push(`ClusterLoadAssignment ${e.cluster_name} has no cluster`);
  for (const rc of t.routes) {
    for (const vh of (rc.virtual_hosts as Resource[]) ?? []) {
      for (const r of (vh.routes as Resource[]) ?? []) {
        const weighted = (r.route as { weighted_clusters?: { clusters: Array<{ name: string }> } } | undefined)
          ?.weighted_clusters;
        for (const wc of weighted?.clusters ?? [])
          if (!clusterNames.has(wc.name))
            problems.push(`route ${String(r.name)} in ${rc.name} names missing cluster ${wc.name}`);
      }
    }
  }
  const keys = new Map<string, string>();
  for (const s of t.scopedRoutes) {
    if (!routeNames.has(s.route_configuration_name as string))
      problems.push(`scope ${s.name} uses missing route configuration ${String(s.route_configuration_name)}`);
    const key = ((s.key as { fragments: Array<{ string_key: string }> }).fragments ?? [])
      .map((f) => f.string_key)
      .join('\u0000');
    const other = keys.get(key);
    if (other !== undefined) problems.push(`scopes ${other} and ${s.name} have the same key`);
    else keys.set(key, s.name!);
  }
  for (const l of t.listeners) {
    const json = JSON.stringify(l);
    for (const m of json.matchAll(/"route_config_name":"([^"]+)"/g))
      if (!routeNames.has(m[1])) problems.push(`listener ${l.name} uses missing route configuration ${m[1]}`);
  }
  return problems;
}
