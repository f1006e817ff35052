// The desired state every component shares: what config/ and control/ produce, and what
// translate/, autoscaler/, activator/ and runtime/ consume. Plain data, no behaviour.

/** A Kubernetes-style container, as written in a Knative Service's template (containers[0]). */
export interface ContainerSpec {
  image?: string;
  command: string[];
  args: string[];
  env: Array<{ name: string; value: string }>;
  /** containerPort of ports[0]; the app listens here (PORT). Undefined → runtime picks a free port. */
  containerPort?: number;
  /** h2c when ports[0].name is "h2c" (Knative's convention), else http1. */
  protocol: 'http1' | 'h2c';
  /** readinessProbe as Kubernetes spells it (tcpSocket / httpGet, periodSeconds, ...), kept verbatim. */
  readinessProbe?: Record<string, unknown>;
  workingDir?: string;
}

/** An immutable revision: `{service}-00001`, `-00002`, ... */
export interface RevisionSpec {
  namespace: string;
  name: string;
  service: string;
  configuration: string;
  /** Template generation that produced this revision (1, 2, ...). */
  generation: number;
  containerConcurrency: number;
  timeoutSeconds: number;
  responseStartTimeoutSeconds?: number;
  idleTimeoutSeconds?: number;
  /** template.metadata.annotations, e.g. autoscaling.knative.dev/min-scale. */
  annotations: Record<string, string>;
  container: ContainerSpec;
}

export interface TrafficTarget {
  /** Always resolved: a `latestRevision: true` target is resolved by control before translate. */
  revisionName: string;
  percent: number;
  tag?: string;
}

/** A Knative Route: which revisions get the service's traffic, under which host names. */
export interface RouteSpec {
  namespace: string;
  name: string;
  visibility: 'external' | 'cluster-local';
  traffic: TrafficTarget[];
}

export interface Endpoint {
  host: string;
  port: number;
}

/** Whether a revision's traffic goes through the activator (proxy) or straight to its pods (serve). */
export type RevisionMode = 'proxy' | 'serve';

/** What the data path needs to know about one revision right now. */
export interface RevisionRouting {
  spec: RevisionSpec;
  mode: RevisionMode;
  /** Ready pods' queue-proxy addresses (QUEUE_SERVING_PORT). */
  pods: Endpoint[];
  /** Activator addresses, used as the revision's endpoints in proxy mode. */
  activators: Endpoint[];
}

export interface GatewayListeners {
  /** The ingress listener for external routes (default 8080). */
  externalPort: number;
  /** The listener for cluster-local routes. */
  localPort: number;
  /** Listen address written into the Listener resources (default 0.0.0.0). */
  address: string;
}

/** Everything translate needs: a pure function of this produces all Envoy resources. */
export interface DesiredState {
  domain: string;
  listeners: GatewayListeners;
  routes: RouteSpec[];
  /** Keyed by revisionKey(namespace, name). */
  revisions: Map<string, RevisionRouting>;
}
