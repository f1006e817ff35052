// A bare xDS client for driving our server's streams request by request in tests: it encodes
// requests and decodes responses with Envoy's own message types.
import * as grpc from '@grpc/grpc-js';
import { envoyRoot, typeForUrl } from '../../src/envoy/protos.js';

const bytes = (b: Buffer) => b;

export interface DecodedResponse {
  version_info?: string;
  system_version_info?: string;
  type_url: string;
  nonce: string;
  /** name → decoded resource (SotW: every resource; Delta: the changed ones). */
  resources: Map<string, Record<string, unknown>>;
  /** Delta only: name → version. */
  versions: Map<string, string>;
  removed: string[];
}

export function encodeRequest(delta: boolean, request: Record<string, unknown>): Uint8Array {
  const type = envoyRoot().lookupType(
    delta ? 'envoy.service.discovery.v3.DeltaDiscoveryRequest' : 'envoy.service.discovery.v3.DiscoveryRequest',
  );
  return type.encode(type.fromObject(request)).finish();
}

export class AdsTestStream {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly queue: DecodedResponse[] = [];
  private waiters: Array<(r: DecodedResponse) => void> = [];
  readonly ended: Promise<grpc.StatusObject>;

  constructor(
    port: number,
    readonly delta: boolean,
    options: grpc.ChannelOptions = {},
    host = '127.0.0.1',
    credentials = grpc.credentials.createInsecure(),
  ) {
    this.client = new grpc.Client(`${host}:${port}`, credentials, options);
    const method = delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources';
    this.call = this.client.makeBidiStreamRequest(
      `/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`,
      bytes,
      bytes,
    );
    this.ended = new Promise((resolve) => {
      this.call.on('status', resolve);
      this.call.on('error', () => {});
    });
    this.call.on('data', (data: Buffer) => {
      const decoded = this.decode(data);
      const waiter = this.waiters.shift();
      if (waiter) waiter(decoded);
      else this.queue.push(decoded);
    });
  }

  private decode(data: Buffer): DecodedResponse {
    const root = envoyRoot();
    const type = root.lookupType(
      this.delta ? 'envoy.service.discovery.v3.DeltaDiscoveryResponse' : 'envoy.service.discovery.v3.DiscoveryResponse',
    );
    const m = type.toObject(type.decode(data), { longs: Number, enums: String }) as Record<string, any>;
    const resources = new Map<string, Record<string, unknown>>();
    const versions = new Map<string, string>();
    for (const entry of m.resources ?? []) {
      const any = this.delta ? entry.resource : entry;
      const resourceType = typeForUrl(any.type_url);
      const value = resourceType.toObject(resourceType.decode(any.value), { longs: Number, enums: String }) as Record<
        string,
        unknown
      >;
      const name = String(value.name ?? value.cluster_name);
      resources.set(name, value);
      if (this.delta) versions.set(entry.name, entry.version);
    }
    return {
      version_info: m.version_info,
      system_version_info: m.system_version_info,
      type_url: m.type_url,
      nonce: m.nonce,
      resources,
      versions,
      removed: m.removed_resources ?? [],
    };
  }

  send(request: Record<string, unknown>): void {
    this.call.write(Buffer.from(encodeRequest(this.delta, request)));
  }

  sendRaw(data: Buffer): void {
    this.call.write(data);
  }

  next(timeoutMs = 3000): Promise<DecodedResponse> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (r: DecodedResponse) => {
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no xDS response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves true if nothing arrives within the window (used to prove the server stays quiet). */
  async quiet(ms: number): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  close(): void {
    this.call.end();
    this.call.cancel();
    this.client.close();
  }
}
