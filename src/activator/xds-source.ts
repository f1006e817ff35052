// Revisions learnt over xDS from the gatehouse control server: every `{ns}/{rev}-private` Cluster
// (whose metadata carries containerConcurrency and timeout) and its ClusterLoadAssignment, which
// always lists the revision's ready pods. State of the world over ADS; reconnects with backoff and
// keeps what it knew while the server is away.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import type { Endpoint } from '../model/desired.js';
import { fromStruct } from '../translate/struct.js';
import { envoyRoot, TYPE_URL, typeForUrl } from '../xds/protos.js';
import type { RevisionInfo, RevisionSource } from './revision-source.js';

const bytes = (b: Buffer) => b;
const PRIVATE_SUFFIX = '-private';

interface Decoded {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: Array<Record<string, any>>;
}

export class XdsRevisionSource implements RevisionSource {
  private readonly revisions = new Map<string, RevisionInfo>();
  private readonly listeners = new Set<(key: string) => void>();
  private readonly client: grpc.Client;
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private edsNames: string[] = [];
  private retryMs = 100;
  private closed = false;

  constructor(target: string, private readonly node: { id: string; cluster: string }, private readonly log: Logger) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure());
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const call = this.client.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources', bytes, bytes);
    this.call = call;
    call.on('data', (data: Buffer) => {
      this.retryMs = 100;
      this.receive(this.decode(data));
    });
    call.on('error', () => {});
    call.on('close', () => {
      if (this.call !== call || this.closed) return;
      this.call = undefined;
      setTimeout(() => this.open(), this.retryMs).unref();
      this.retryMs = Math.min(5000, this.retryMs * 2);
    });
    this.edsNames = [];
    this.send({ type_url: TYPE_URL.cluster, resource_names: [] });
  }

  private decode(data: Buffer): Decoded {
    const type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    const m = type.toObject(type.decode(data), { longs: Number, enums: String }) as { version_info: string; type_url: string; nonce: string; resources?: Array<{ type_url: string; value: Uint8Array }> };
    const resources = (m.resources ?? []).map((any) => {
      const t = typeForUrl(any.type_url);
      return t.toObject(t.decode(any.value), { longs: Number, enums: String }) as Record<string, any>;
    });
    return { version_info: m.version_info, type_url: m.type_url, nonce: m.nonce, resources };
  }

  private send(fields: Record<string, unknown>): void {
    const type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    this.call?.write(Buffer.from(type.encode(type.fromObject({ node: this.node, ...fields })).finish()));
  }

  private receive(r: Decoded): void {
    if (r.type_url === TYPE_URL.cluster) {
      const seen = new Set<string>();
      for (const cluster of r.resources) {
        const name = String(cluster.name);
        if (!name.endsWith(PRIVATE_SUFFIX)) continue;
        const meta = fromStruct(cluster.metadata?.filter_metadata?.gatehouse);
        const key = name.slice(0, -PRIVATE_SUFFIX.length);
        seen.add(key);
        const previous = this.revisions.get(key);
        const info: RevisionInfo = {
          namespace: String(meta.namespace),
          name: String(meta.revision),
          containerConcurrency: Number(meta.containerConcurrency ?? 0),
          timeoutSeconds: Number(meta.timeoutSeconds ?? 300),
          pods: previous?.pods ?? [],
        };
        this.revisions.set(key, info);
        if (!previous || previous.containerConcurrency !== info.containerConcurrency || previous.timeoutSeconds !== info.timeoutSeconds) this.notify(key);
      }
      for (const key of [...this.revisions.keys()]) {
        if (!seen.has(key)) {
          this.revisions.delete(key);
          this.notify(key);
        }
      }
      this.send({ type_url: TYPE_URL.cluster, resource_names: [], version_info: r.version_info, response_nonce: r.nonce });
      const names = [...seen].sort().map((k) => k + PRIVATE_SUFFIX);
      if (names.join('\n') !== this.edsNames.join('\n')) {
        this.edsNames = names;
        this.send({ type_url: TYPE_URL.endpoint, resource_names: names });
      }
      return;
    }
    if (r.type_url === TYPE_URL.endpoint) {
      for (const cla of r.resources) {
        const key = String(cla.cluster_name).slice(0, -PRIVATE_SUFFIX.length);
        const info = this.revisions.get(key);
        if (!info) continue;
        const pods: Endpoint[] = [];
        for (const locality of cla.endpoints ?? []) {
          for (const lb of locality.lb_endpoints ?? []) {
            const address = lb.endpoint?.address?.socket_address;
            if (address) pods.push({ host: String(address.address), port: Number(address.port_value) });
          }
        }
        info.pods = pods;
        this.notify(key);
      }
      this.send({ type_url: TYPE_URL.endpoint, resource_names: this.edsNames, version_info: r.version_info, response_nonce: r.nonce });
    }
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
    this.closed = true;
    this.call?.cancel();
    this.client.close();
  }
}
