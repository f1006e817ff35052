// Incremental (Delta) xDS: the server tracks which version of each resource the client holds and
// sends only what changed, plus the names that went away. Resource versions are content hashes,
// so a reconnecting client that reports initial_resource_versions gets nothing it already has.
import { WILDCARD_TYPES } from '../cache/snapshot-cache.js';
import type { EncodedResource } from '../cache/encode.js';
import { Subscription } from './subscription.js';
import { XdsStream } from './stream-base.js';
import { decodeDeltaRequest, encodeDeltaResponse } from './wire.js';

interface TypeState {
  subscription: Subscription;
  /** name → version the client holds (or was last sent: a NACKed version is not sent again). */
  known: Map<string, string>;
  nonce: string;
  sentVersion: string;
  responded: boolean;
  /** The latest response was ACKed: the client holds everything it was sent. */
  acked: boolean;
}

export class DeltaStream extends XdsStream {
  private readonly types = new Map<string, TypeState>();

  protected receive(bytes: Buffer): void {
    const req = decodeDeltaRequest(bytes);
    if (!this.identify(req.node)) return;
    const typeUrl = this.servedType(req.typeUrl);
    if (typeUrl === undefined) return;
    let state = this.types.get(typeUrl);
    if (!state) {
      const subscription = new Subscription(typeUrl);
      // Legacy wildcard: a first LDS/CDS request naming nothing subscribes to everything.
      subscription.wildcard = WILDCARD_TYPES.has(typeUrl) && (req.subscribe.length === 0 || req.subscribe.includes('*'));
      state = { subscription, known: new Map(Object.entries(req.initialVersions)), nonce: '', sentVersion: '', responded: false, acked: false };
      this.types.set(typeUrl, state);
    }
    if (req.responseNonce !== '' && req.responseNonce === state.nonce) {
      const node = this.node!;
      if (req.errorDetail) {
        this.deps.status.nacked(node.id, node.cluster, typeUrl, state.sentVersion, req.errorDetail.message);
        this.deps.log.warn('xDS NACK (delta)', { node: node.id, typeUrl, version: state.sentVersion, error: req.errorDetail.message });
      } else {
        state.acked = true;
        this.deps.status.acked(node.id, node.cluster, typeUrl, state.sentVersion);
      }
    }
    state.subscription.update(req.subscribe, req.unsubscribe);
    for (const name of req.unsubscribe) state.known.delete(name);
    this.push(typeUrl, state, req.subscribe.length > 0 || req.responseNonce === '');
  }

  protected onCacheChange(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    if (state) this.push(typeUrl, state, false);
  }

  private push(typeUrl: string, state: TypeState, answerEvenIfEmpty: boolean): void {
    const snapshot = this.deps.cache.get(this.group, typeUrl);
    const changed: EncodedResource[] = [];
    const removed: string[] = [];
    if (snapshot) {
      for (const resource of snapshot.resources.values()) {
        if (state.subscription.wants(resource.name) && state.known.get(resource.name) !== resource.version) changed.push(resource);
      }
    }
    for (const name of state.known.keys()) {
      if (!snapshot?.resources.has(name) || !state.subscription.wants(name)) removed.push(name);
    }
    if (changed.length === 0 && removed.length === 0 && (state.responded || !answerEvenIfEmpty)) {
      // A new version that changes nothing this client asked for: what it holds is that version.
      if (snapshot && state.acked && state.sentVersion !== snapshot.version) {
        state.sentVersion = snapshot.version;
        this.deps.status.acked(this.node!.id, this.node!.cluster, typeUrl, snapshot.version);
      }
      return;
    }
    for (const r of changed) state.known.set(r.name, r.version);
    for (const name of removed) state.known.delete(name);
    state.nonce = this.nextNonce();
    state.sentVersion = snapshot?.version ?? '';
    state.responded = true;
    state.acked = false;
    this.send(encodeDeltaResponse(state.sentVersion, typeUrl, state.nonce, changed, removed));
  }
}
