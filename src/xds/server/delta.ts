// Incremental (Delta) xDS: the server tracks which version of each resource the client holds and
// sends only what changed, plus the names that went away. Resource versions are content hashes,
// so a reconnecting client that reports initial_resource_versions gets nothing it already has.
// Each response is remembered until the client answers it: an ACK makes its changes held; a NACK
// drops them (the client kept what it had) and marks the refused versions, which are never sent
// again, and the refused removals, sent again only with the next snapshot version (one bad resource
// must not leave an innocent removal undone; a client that refuses everything gets no response per
// NACK). The next response is computed against what the client really holds.
import { WILDCARD_TYPES } from '../cache/snapshot-cache.js';
import type { EncodedResource } from '../cache/encode.js';
import { Subscription } from './subscription.js';
import { XdsStream } from './stream-base.js';
import { decodeDeltaRequest, encodeDeltaResponse } from './wire.js';

/** name → version sent, or null for a removal. */
type Changes = Map<string, string | null>;

interface TypeState {
  subscription: Subscription;
  /** name → version the client has ACKed (or reported when it connected). */
  held: Map<string, string>;
  /** Responses not answered yet, oldest first. */
  inFlight: Array<{ nonce: string; version: string; changes: Changes }>;
  /** held plus every response in flight: what the client will hold once it ACKs them. */
  expected: Map<string, string>;
  /** name → version the client refused, or null for a removal it refused. */
  refused: Map<string, string | null>;
  /** The snapshot version of the response whose removals were refused last (null entries in `refused`). */
  removalsRefusedIn: string | undefined;
  responded: boolean;
  /** Every response so far was ACKed: the client holds the whole version it was last sent. */
  upToDate: boolean;
  sentVersion: string;
  /** The snapshot version `expected` was last brought in line with; undefined forces a full comparison. */
  basis: string | undefined;
  /** The next response goes out even if it carries nothing (a first request is always answered). */
  answerEvenIfEmpty: boolean;
}

function apply(target: Map<string, string>, changes: Changes): void {
  for (const [name, version] of changes) {
    if (version === null) target.delete(name);
    else target.set(name, version);
  }
}

export class DeltaStream extends XdsStream {
  protected readonly types = new Map<string, TypeState>();

  protected receive(bytes: Buffer): void {
    const req = decodeDeltaRequest(bytes);
    if (!this.identify(req.node)) return;
    const typeUrl = this.servedType(req.typeUrl);
    if (typeUrl === undefined) return;
    let state = this.types.get(typeUrl);
    if (!state) {
      const subscription = new Subscription(typeUrl);
      // Legacy wildcard: a first LDS/CDS request naming nothing subscribes to everything.
      subscription.wildcard =
        WILDCARD_TYPES.has(typeUrl) && (req.subscribe.length === 0 || req.subscribe.includes('*'));
      const held = new Map(Object.entries(req.initialVersions));
      state = {
        subscription,
        held,
        inFlight: [],
        expected: new Map(held),
        refused: new Map(),
        removalsRefusedIn: undefined,
        responded: false,
        upToDate: false,
        sentVersion: '',
        basis: undefined,
        answerEvenIfEmpty: false,
      };
      this.types.set(typeUrl, state);
    }
    if (req.responseNonce !== '') this.answered(typeUrl, state, req.responseNonce, req.errorDetail?.message);
    state.subscription.update(req.subscribe, req.unsubscribe);
    if (!this.withinNameLimit(typeUrl, Math.max(state.subscription.names.size, state.held.size))) return;
    if (req.subscribe.length > 0 || req.unsubscribe.length > 0) state.basis = undefined;
    for (const name of req.unsubscribe) {
      state.held.delete(name);
      state.expected.delete(name);
      state.refused.delete(name);
    }
    if (req.subscribe.length > 0 || req.responseNonce === '') state.answerEvenIfEmpty = true;
    this.schedule(typeUrl);
  }

  /** An ACK or NACK of one response; replies to responses the client skipped count as ACKs. */
  private answered(typeUrl: string, state: TypeState, nonce: string, error: string | undefined): void {
    const index = state.inFlight.findIndex((r) => r.nonce === nonce);
    if (index === -1) return;
    const node = this.node!;
    for (const earlier of state.inFlight.splice(0, index)) apply(state.held, earlier.changes);
    const response = state.inFlight.shift()!;
    if (error === undefined) {
      apply(state.held, response.changes);
      state.upToDate = state.inFlight.length === 0 && state.refused.size === 0;
      this.deps.status.acked(this.record!, typeUrl, response.version);
      return;
    }
    for (const [name, version] of response.changes) {
      state.refused.set(name, version);
      if (version === null) state.removalsRefusedIn = response.version;
    }
    state.upToDate = false;
    state.basis = undefined;
    state.expected = new Map(state.held);
    for (const r of state.inFlight) apply(state.expected, r.changes);
    this.deps.status.nacked(this.record!, typeUrl, response.version, error);
    this.deps.warnings.warn('xDS NACK', node.id, {
      node: node.id,
      typeUrl,
      version: response.version,
      error,
      protocol: 'delta',
    });
  }

  protected build(typeUrl: string): Uint8Array | undefined {
    const state = this.types.get(typeUrl)!;
    const answerEvenIfEmpty = state.answerEvenIfEmpty;
    state.answerEvenIfEmpty = false;
    const snapshot = this.deps.cache.get(this.group, typeUrl);
    const changed: EncodedResource[] = [];
    const removed: string[] = [];
    // A response without a snapshot carries version '', so '' stands for "no snapshot" here too.
    const retryRemovals =
      state.removalsRefusedIn !== undefined && state.removalsRefusedIn !== (snapshot?.version ?? '');
    if (retryRemovals) {
      state.removalsRefusedIn = undefined;
      state.basis = undefined; // the removals to retry are not among this version's changes
    }
    // A refused version is forgotten once its name is gone; refused removals once a new version is out (a name
    // cannot come back within one version: versions are content hashes).
    for (const [name, version] of state.refused) {
      if (version === null ? retryRemovals : snapshot?.resources.has(name) !== true) state.refused.delete(name);
    }
    const remove = (name: string) => {
      if (state.refused.get(name) !== null) removed.push(name);
    };
    const consider = (resource: EncodedResource) => {
      if (!state.subscription.wants(resource.name) || state.expected.get(resource.name) === resource.version) return;
      if (state.refused.get(resource.name) !== resource.version) changed.push(resource);
    };
    if (snapshot && state.basis === snapshot.version) {
      // In line with this very version (an ACK, a repeated request): nothing in the cache is new.
    } else if (snapshot && state.basis !== undefined && state.basis === snapshot.previousVersion) {
      // In line with the previous version: only what the cache says changed can differ.
      for (const name of snapshot.changed) consider(snapshot.resources.get(name)!);
      for (const name of snapshot.removed) if (state.expected.has(name)) remove(name);
    } else {
      if (snapshot) for (const resource of snapshot.resources.values()) consider(resource);
      for (const name of state.expected.keys()) {
        if (!snapshot?.resources.has(name) || !state.subscription.wants(name)) remove(name);
      }
    }
    state.basis = snapshot?.version;
    if (changed.length === 0 && removed.length === 0 && (state.responded || !answerEvenIfEmpty)) {
      // A new version that changes nothing this client asked for: what it holds is that version.
      if (snapshot && state.upToDate && state.sentVersion !== snapshot.version) {
        state.sentVersion = snapshot.version;
        this.deps.status.acked(this.record!, typeUrl, snapshot.version);
      }
      return undefined;
    }
    const changes: Changes = new Map();
    for (const r of changed) changes.set(r.name, r.version);
    for (const name of removed) changes.set(name, null);
    for (const name of changes.keys()) state.refused.delete(name);
    apply(state.expected, changes);
    const nonce = this.nextNonce();
    state.sentVersion = snapshot?.version ?? '';
    state.inFlight.push({ nonce, version: state.sentVersion, changes });
    state.responded = true;
    state.upToDate = false;
    return encodeDeltaResponse(state.sentVersion, typeUrl, nonce, changed, removed);
  }
}
