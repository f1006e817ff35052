// Knative's wire names, shared by gateway, prober, activator and queue-proxy. Lower-case, as Node sees them.

export const H_NETWORK_PROBE = 'k-network-probe';
export const H_NETWORK_HASH = 'k-network-hash';
export const H_PROXY_REQUEST = 'k-proxy-request';
export const H_KUBELET_PROBE = 'k-kubelet-probe';
export const H_SERVING_NAMESPACE = 'knative-serving-namespace';
export const H_SERVING_REVISION = 'knative-serving-revision';
/**
 * Set by each ingress listener before routing (overwriting any a client sent) and part of the
 * scope key, so a listener only serves its own hosts; removed before the request goes upstream.
 */
export const H_GATEHOUSE_LISTENER = 'x-gatehouse-listener';
/**
 * On a queue-proxy's 502 when its app refused the connection: nothing of the request reached the
 * app, so any method may be sent to another pod. The gateway (Envoy's retriable_headers), the
 * embedded gateway and the activator do so for requests without a body; others pass it on.
 */
export const H_UNPROCESSED = 'x-gatehouse-unprocessed';

/** `K-Network-Probe: probe` marks an ingress probe; `queue` an activator/kubelet health check. */
export const PROBE_INGRESS = 'probe';
export const PROBE_QUEUE = 'queue';
/** The value a prober sends in K-Network-Hash asking the gateway to write in the route's real hash. */
export const HASH_PLACEHOLDER = 'override';

export const UA_KUBE_PROBE_PREFIX = 'kube-probe/';
export const UA_ACTIVATOR_PROBE = 'Knative-Activator-Probe';
export const UA_AUTOSCALING_PROBE = 'Knative-Autoscaling-Probe';
export const UA_INGRESS_PROBE = 'Knative-Ingress-Probe';
