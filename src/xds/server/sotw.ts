// State-of-the-world xDS: every response carries the full set the client subscribed to, versioned
// by the snapshot. A NACKed version is recorded and never sent again; stale nonces are ignored.
import { Subscription } from './subscription.js';
import { XdsStream } from './stream-base.js';
import { decodeSotwRequest, encodeSotwResponse } from './wire.js';

interface TypeState {
  subscription: Subscription;
  nonce: string;
  sentVersion: string | undefined;
  nackedVersion: string | undefined;
}

export class SotwStream extends XdsStream {
  private readonly types = new Map<string, TypeState>();

  protected receive(bytes: Buffer): void {
    const req = decodeSotwRequest(bytes);
    if (!this.identify(req.node)) return;
    const typeUrl = this.servedType(req.typeUrl);
    if (typeUrl === undefined) return;
    let state = this.types.get(typeUrl);
    const first = state === undefined;
    if (!state) this.types.set(typeUrl, (state = { subscription: new Subscription(typeUrl), nonce: '', sentVersion: undefined, nackedVersion: undefined }));
    // A reply to an older response than the latest we sent says nothing about the current state.
    if (req.responseNonce !== '' && req.responseNonce !== state.nonce) return;
    if (req.responseNonce !== '') {
      const node = this.node!;
      if (req.errorDetail) {
        state.nackedVersion = state.sentVersion;
        this.deps.status.nacked(node.id, node.cluster, typeUrl, state.sentVersion ?? '', req.errorDetail.message);
        this.deps.log.warn('xDS NACK', { node: node.id, typeUrl, version: state.sentVersion, error: req.errorDetail.message });
      } else {
        this.deps.status.acked(node.id, node.cluster, typeUrl, req.versionInfo);
      }
    }
    const changed = state.subscription.replace(typeUrl, req.resourceNames);
    this.push(typeUrl, state, first || changed);
  }

  protected onCacheChange(typeUrl: string): void {
    const state = this.types.get(typeUrl);
    if (state) this.push(typeUrl, state, false);
  }

  private push(typeUrl: string, state: TypeState, subscriptionChanged: boolean): void {
    const snapshot = this.deps.cache.get(this.group, typeUrl);
    if (!snapshot) return;
    if (!subscriptionChanged && (snapshot.version === state.sentVersion || snapshot.version === state.nackedVersion)) return;
    const resources = [];
    for (const resource of snapshot.resources.values()) if (state.subscription.wants(resource.name)) resources.push(resource);
    state.nonce = this.nextNonce();
    state.sentVersion = snapshot.version;
    this.send(encodeSotwResponse(snapshot.version, typeUrl, state.nonce, resources));
  }
}
