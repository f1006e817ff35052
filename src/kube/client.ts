// The Kubernetes API as the controller uses it, through the official client: a kubeconfig
// (a file, else the in-cluster service account), list + watch of the kinds it reads,
// KIngress status writes through the status subresource, and Leases.
import * as k8s from '@kubernetes/client-node';
import {
  KINGRESS_GROUP,
  KINGRESS_PLURAL,
  KINGRESS_VERSION,
  TLS_SECRET_TYPE,
  type EndpointSlice,
  type KIngress,
  type KIngressStatus,
  type KubeObject,
  type Secret,
  type Service,
} from './types.js';

/** The typed model: its times are Date objects, which the client serializes as RFC 3339 micro times. */
export type Lease = k8s.V1Lease;

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

/** What an informer needs for one kind: a list function and the path its watch uses. */
export interface ListWatchSource<T extends KubeObject> {
  kind: string;
  path: string;
  /** Applied to the list and the watch alike. */
  fieldSelector?: string;
  list(): Promise<ListResult<T>>;
}

/** `--kubeconfig` when given, else the in-cluster config (service account token and CA). */
export function loadKubeConfig(file: string | undefined): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster();
  if (!kc.getCurrentCluster())
    throw new Error(
      file
        ? `kubeconfig ${file}: no current cluster (set current-context)`
        : 'no --kubeconfig given and not running in a cluster (KUBERNETES_SERVICE_HOST is unset)',
    );
  return kc;
}

/** The HTTP status of a client error (ApiException.code), or undefined for a transport error. */
export function statusCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  const code = typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
  return code !== undefined && code >= 100 && code < 600 ? code : undefined;
}

export class KubeApi {
  readonly custom: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  readonly discovery: k8s.DiscoveryV1Api;
  readonly coordination: k8s.CoordinationV1Api;
  readonly watch: k8s.Watch;

  constructor(readonly config: k8s.KubeConfig) {
    this.custom = config.makeApiClient(k8s.CustomObjectsApi);
    this.core = config.makeApiClient(k8s.CoreV1Api);
    this.discovery = config.makeApiClient(k8s.DiscoveryV1Api);
    this.coordination = config.makeApiClient(k8s.CoordinationV1Api);
    this.watch = new k8s.Watch(config);
  }

  ingresses(): ListWatchSource<KIngress> {
    return {
      kind: 'KIngress',
      path: `/apis/${KINGRESS_GROUP}/${KINGRESS_VERSION}/${KINGRESS_PLURAL}`,
      list: () =>
        this.custom.listClusterCustomObject({
          group: KINGRESS_GROUP,
          version: KINGRESS_VERSION,
          plural: KINGRESS_PLURAL,
        }) as Promise<ListResult<KIngress>>,
    };
  }

  services(): ListWatchSource<Service> {
    return {
      kind: 'Service',
      path: '/api/v1/services',
      list: () => this.core.listServiceForAllNamespaces() as unknown as Promise<ListResult<Service>>,
    };
  }

  endpointSlices(): ListWatchSource<EndpointSlice> {
    return {
      kind: 'EndpointSlice',
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      list: () => this.discovery.listEndpointSliceForAllNamespaces() as unknown as Promise<ListResult<EndpointSlice>>,
    };
  }

  /** Only Secrets of type kubernetes.io/tls (what spec.tls names): no other Secret's data is ever read. */
  tlsSecrets(): ListWatchSource<Secret> {
    const fieldSelector = `type=${TLS_SECRET_TYPE}`;
    return {
      kind: 'Secret',
      path: '/api/v1/secrets',
      fieldSelector,
      list: () => this.core.listSecretForAllNamespaces({ fieldSelector }) as unknown as Promise<ListResult<Secret>>,
    };
  }

  /** PUT to the status subresource; the resourceVersion makes a stale write fail with 409. */
  async replaceIngressStatus(ingress: KIngress, status: KIngressStatus): Promise<KIngress> {
    const body = {
      apiVersion: `${KINGRESS_GROUP}/${KINGRESS_VERSION}`,
      kind: 'Ingress',
      metadata: ingress.metadata,
      spec: ingress.spec,
      status,
    };
    return (await this.custom.replaceNamespacedCustomObjectStatus({
      group: KINGRESS_GROUP,
      version: KINGRESS_VERSION,
      plural: KINGRESS_PLURAL,
      namespace: ingress.metadata.namespace!,
      name: ingress.metadata.name,
      body,
    })) as KIngress;
  }

  async readLease(namespace: string, name: string): Promise<Lease | undefined> {
    try {
      return await this.coordination.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  async createLease(lease: Lease): Promise<Lease> {
    return this.coordination.createNamespacedLease({ namespace: lease.metadata!.namespace!, body: lease });
  }

  async replaceLease(lease: Lease): Promise<Lease> {
    return this.coordination.replaceNamespacedLease({
      namespace: lease.metadata!.namespace!,
      name: lease.metadata!.name!,
      body: lease,
    });
  }
}
