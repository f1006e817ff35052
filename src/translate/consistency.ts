// A snapshot is consistent when every EDS cluster has its assignment, every route names an
// existing cluster and every RDS name a listener uses exists. Returns every problem found.
import type { Translation } from './types.js';

export function checkSnapshotConsistency(t: Pick<Translation, 'listeners' | 'routes' | 'clusters' | 'endpoints'>): string[] {
  const problems: string[] = [];
  const clusterNames = new Set(t.clusters.map((c) => c.name));
  const assignmentNames = new Set(t.endpoints.map((e) => e.cluster_name));
  const routeNames = new Set(t.routes.map((r) => r.name));
  for (const c of t.clusters) if (c.type === 'EDS' && !assignmentNames.has(c.name)) problems.push(`cluster ${c.name} has no ClusterLoadAssignment`);
  for (const e of t.endpoints) if (!clusterNames.has(e.cluster_name)) problems.push(`ClusterLoadAssignment ${e.cluster_name} has no cluster`);
  for (const rc of t.routes) {
    for (const vh of (rc.virtual_hosts as Array<Record<string, unknown>>) ?? []) {
      for (const r of (vh.routes as Array<Record<string, unknown>>) ?? []) {
        const weighted = (r.route as { weighted_clusters?: { clusters: Array<{ name: string }> } } | undefined)?.weighted_clusters;
        for (const wc of weighted?.clusters ?? []) if (!clusterNames.has(wc.name)) problems.push(`route ${String(r.name)} in ${rc.name} names missing cluster ${wc.name}`);
      }
    }
  }
  for (const l of t.listeners) {
    const json = JSON.stringify(l);
    for (const m of json.matchAll(/"route_config_name":"([^"]+)"/g)) if (!routeNames.has(m[1])) problems.push(`listener ${l.name} uses missing route configuration ${m[1]}`);
  }
  return problems;
}
