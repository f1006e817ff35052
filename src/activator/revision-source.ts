// Where the activator learns each revision's pods and containerConcurrency. The in-process source
// is what `gatehouse up` updates directly; an xDS source (private ClusterLoadAssignments) is the
// planned one for activators running on their own.
import type { Endpoint } from '../model/desired.js';
import { revisionKey } from '../model/names.js';

/** A pod's queue-proxy address; `healthy` when the source vouches that its readiness probe passed. */
export interface PodEndpoint extends Endpoint {
  healthy?: boolean;
}

export interface RevisionInfo {
  namespace: string;
  name: string;
  containerConcurrency: number;
  timeoutSeconds: number;
  /** The revision's pods' queue-proxy addresses: healthy ones are used at once, the others probed first. */
  pods: PodEndpoint[];
}

export interface RevisionSource {
  get(key: string): RevisionInfo | undefined;
  /** Called with the key of each revision that changed or was removed. */
  subscribe(listener: (key: string) => void): () => void;
}

export class InProcessRevisionSource implements RevisionSource {
  private readonly revisions = new Map<string, RevisionInfo>();
  private readonly listeners = new Set<(key: string) => void>();

  set(info: RevisionInfo): void {
    const key = revisionKey(info.namespace, info.name);
    this.revisions.set(key, info);
    for (const l of this.listeners) l(key);
  }

  delete(key: string): void {
    this.revisions.delete(key);
    for (const l of this.listeners) l(key);
  }

  get(key: string): RevisionInfo | undefined {
    return this.revisions.get(key);
  }

  subscribe(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
