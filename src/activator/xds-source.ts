// Revisions learnt over xDS from the gatehouse control server: every `{ns}/{rev}-private` Cluster
// (whose metadata carries containerConcurrency and timeout) and its ClusterLoadAssignment, which
// always lists the revision's ready pods, HEALTHY: the runtime's readiness probe passed, so the
// activator sends to them at once. The ADS client keeps what it knew while the server is away.
import type { Logger } from '../log/logger.js';
import { fromStruct } from '../envoy/struct.js';
import type * as envoy from '../envoy/envoy-types.js';
import { AdsClient, type AdsNode, type ResourceUpdate, type XdsClientTls } from '../xds/client/ads-client.js';
import { TYPE_URL } from '../envoy/protos.js';
import type { PodEndpoint, RevisionInfo, RevisionSource } from './revision-source.js';

const PRIVATE_SUFFIX = '-private';

export class XdsRevisionSource implements RevisionSource {
  private readonly revisions = new Map<string, RevisionInfo>();
  private readonly listeners = new Set<(key: string) => void>();
  private readonly ads: AdsClient;

  constructor(
    target: string,
    node: AdsNode,
    private readonly log: Logger,
    tls?: XdsClientTls,
  ) {
    this.ads = new AdsClient({ target, node, log, ...(tls ? { tls } : {}) });
    this.ads.subscribe(TYPE_URL.cluster, [], (clusters) => this.clustersChanged(clusters));
    this.ads.subscribe(TYPE_URL.endpoint, [], (assignments) => this.endpointsChanged(assignments));
  }

  private clustersChanged({ changed, removed }: ResourceUpdate<envoy.Cluster>): undefined {
    const added: string[] = [];
    const gone: string[] = [];
    for (const [name, cluster] of changed) {
      if (!name.endsWith(PRIVATE_SUFFIX)) continue;
      const meta = fromStruct(cluster.metadata?.filter_metadata?.gatehouse);
      const key = name.slice(0, -PRIVATE_SUFFIX.length);
      const previous = this.revisions.get(key);
      const info: RevisionInfo = {
        namespace: String(meta.namespace),
        name: String(meta.revision),
        containerConcurrency: Number(meta.containerConcurrency ?? 0),
        timeoutSeconds: Number(meta.timeoutSeconds ?? 300),
        pods: previous?.pods ?? [],
      };
      this.revisions.set(key, info);
      if (!previous) added.push(name);
      if (
        !previous ||
        previous.containerConcurrency !== info.containerConcurrency ||
        previous.timeoutSeconds !== info.timeoutSeconds
      )
        this.notify(key);
    }
    for (const name of removed) {
      const key = name.slice(0, -PRIVATE_SUFFIX.length);
      if (!name.endsWith(PRIVATE_SUFFIX) || !this.revisions.delete(key)) continue;
      gone.push(name);
      this.notify(key);
    }
    this.ads.changeNames(TYPE_URL.endpoint, added, gone);
    return undefined;
  }

  private endpointsChanged({ changed }: ResourceUpdate<envoy.ClusterLoadAssignment>): undefined {
    for (const cla of changed.values()) {
      const key = String(cla.cluster_name).slice(0, -PRIVATE_SUFFIX.length);
      const info = this.revisions.get(key);
      if (!info) continue;
      const pods: PodEndpoint[] = [];
      for (const locality of cla.endpoints ?? []) {
        for (const lb of locality.lb_endpoints ?? []) {
          const address = lb.endpoint?.address?.socket_address;
          if (address)
            pods.push({
              host: String(address.address),
              port: Number(address.port_value),
              healthy: lb.health_status === 'HEALTHY',
            });
        }
      }
      if (samePods(info.pods, pods)) continue;
      info.pods = pods;
      this.notify(key);
    }
    return undefined;
  }

  private notify(key: string): void {
    this.log.debug('revision update from xDS', { revision: key, pods: this.revisions.get(key)?.pods.length });
    for (const l of this.listeners) l(key);
  }

  get(key: string): RevisionInfo | undefined {
    return this.revisions.get(key);
  }

  subscribe(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.ads.close();
  }
}

function samePods(a: PodEndpoint[], b: PodEndpoint[]): boolean {
  return (
    a.length === b.length &&
    a.every((e, i) => e.host === b[i]!.host && e.port === b[i]!.port && e.healthy === b[i]!.healthy)
  );
}
