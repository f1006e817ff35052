// The Kubernetes objects the controller reads, as JSON on the wire: Knative's KIngress
// (networking.internal.knative.dev/v1alpha1 Ingress), Services, EndpointSlices and Leases.
// Only the fields gatehouse reads are typed; everything else is kept as it came.
import { namespacedName } from '../model/names.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface IngressBackendSplit {
  serviceName: string;
  serviceNamespace: string;
  servicePort: number | string;
  percent?: number;
  appendHeaders?: Record<string, string>;
}

export interface HTTPIngressPath {
  path?: string;
  headers?: Record<string, { exact: string }>;
  rewriteHost?: string;
  appendHeaders?: Record<string, string>;
  splits: IngressBackendSplit[];
}

export type IngressVisibility = 'ExternalIP' | 'ClusterLocal';

export interface IngressRule {
  hosts?: string[];
  visibility?: IngressVisibility;
  http?: { paths: HTTPIngressPath[] };
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  severity?: string;
  lastTransitionTime?: string;
}

export interface LoadBalancerIngressStatus {
  ip?: string;
  domain?: string;
  domainInternal?: string;
  meshOnly?: boolean;
}

export interface KIngressStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  publicLoadBalancer?: { ingress: LoadBalancerIngressStatus[] };
  privateLoadBalancer?: { ingress: LoadBalancerIngressStatus[] };
  annotations?: Record<string, string>;
}

export interface KIngress extends KubeObject {
  spec?: {
    rules?: IngressRule[];
    tls?: Array<{ hosts?: string[]; secretName?: string; secretNamespace?: string }>;
    httpOption?: string;
  };
  status?: KIngressStatus;
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
}

export interface Service extends KubeObject {
  spec?: { type?: string; ports?: ServicePort[]; externalName?: string };
}

export interface Secret extends KubeObject {
  type?: string;
  /** Base64, as on the wire. */
  data?: Record<string, string>;
}

/** The Secret type spec.tls names: PEM certificate chain in tls.crt, key in tls.key. */
export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

export interface EndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: Array<{
    addresses: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
  }> | null;
  ports?: Array<{ name?: string | null; port?: number | null; protocol?: string | null }> | null;
}

export const KINGRESS_GROUP = 'networking.internal.knative.dev';
export const KINGRESS_VERSION = 'v1alpha1';
export const KINGRESS_PLURAL = 'ingresses';
export const INGRESS_CLASS_ANNOTATION = 'networking.knative.dev/ingress.class';
export const GATEHOUSE_INGRESS_CLASS = 'gatehouse.ingress.networking.knative.dev';
/** The label an EndpointSlice carries naming its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function objectKey(o: KubeObject): string {
  return namespacedName(o.metadata.namespace ?? '', o.metadata.name);
}
