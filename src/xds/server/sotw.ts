// State-of-the-world xDS: every response is versioned by the snapshot. A NACKed version is
// recorded and never sent again; stale nonces are ignored, and a repeated answer to the same
// response is recorded once.
//
// Listener, Cluster and ScopedRouteConfiguration responses carry the full set the client
// subscribed to (what is absent is deleted). RouteConfiguration and ClusterLoadAssignment
// responses need not: the xDS protocol says their absence deletes nothing, so after the first
// full response only the resources that differ from what the client was sent go out (a change
// to one route among 10,000 is one small RouteConfiguration, not all of them). A NACK, or a new
// set of names, makes the next response full again.
import { WILDCARD_TYPES } from '../cache/snapshot-cache.js';
import type { EncodedResource } from '../cache/encode.js';
import { Subscription } from './subscription.js';
import { XdsStream } from './stream-base.js';
import { decodeSotwRequest, encodeSotwResponse } from './wire.js';

interface TypeState {
  subscription: Subscription;
  nonce: string;
  sentVersion: string | undefined;
  nackedVersion: string | undefined;
  /** RDS/EDS: name → version the client holds once it accepts what it was sent; undefined = send everything next. */
  sent: Map<string, string> | undefined;
  /** RDS/EDS: the nonce of the last response that carried everything subscribed. */
  lastFullNonce: number;
  /** The next response is sent even if the version did not change (a new subscription, a resend). */
  force: boolean;
  /** The nonce last ACKed or NACKed: repeating the answer changes nothing. */
  answeredNonce: string;
}

export class SotwStream extends XdsStream {
  protected readonly types = new Map<string, TypeState>();

  protected receive(bytes: Buffer): void {
    const req = decodeSotwRequest(bytes);
    if (!this.identify(req.node)) return;
    const typeUrl = this.servedType(req.typeUrl);
    if (typeUrl === undefined || !this.withinNameLimit(typeUrl, req.resourceNames.length)) return;
    let state = this.types.get(typeUrl);
    const first = state === undefined;
    if (!state)
      this.types.set(
        typeUrl,
        (state = {
          subscription: new Subscription(typeUrl),
          nonce: '',
          sentVersion: undefined,
          nackedVersion: undefined,
          sent: undefined,
          lastFullNonce: 0,
          force: false,
          answeredNonce: '',
        }),
      );
    if (req.responseNonce !== '' && req.responseNonce !== state.nonce) {
      // A reply to an older response says nothing about the current state, except that a refused
      // response not yet superseded by a full one leaves the client without resources the later,
      // partial ones assumed it had. The full resend makes every older nonce stale for good, so
      // however often the client repeats that NACK, it is answered once.
      if (
        req.errorDetail &&
        state.sent &&
        this.sentNonce(req.responseNonce) &&
        Number(req.responseNonce) > state.lastFullNonce
      ) {
        state.sent = undefined;
        state.force = true;
        this.schedule(typeUrl);
      }
      return;
    }
    if (req.responseNonce !== '' && req.responseNonce !== state.answeredNonce) {
      state.answeredNonce = req.responseNonce;
      const node = this.node!;
      if (req.errorDetail) {
        state.nackedVersion = state.sentVersion;
        state.sent = undefined;
        this.deps.status.nacked(this.record!, typeUrl, state.sentVersion ?? '', req.errorDetail.message);
        this.deps.warnings.warn('xDS NACK', node.id, {
          node: node.id,
          typeUrl,
          version: state.sentVersion,
          error: req.errorDetail.message,
        });
      } else {
        this.deps.status.acked(this.record!, typeUrl, req.versionInfo);
      }
    }
    const changed = state.subscription.replace(typeUrl, req.resourceNames);
    if (changed) state.sent = undefined;
    if (first || changed) state.force = true;
    this.schedule(typeUrl);
  }

  protected build(typeUrl: string): Uint8Array | undefined {
    const state = this.types.get(typeUrl)!;
    const force = state.force;
    state.force = false;
    const snapshot = this.deps.cache.get(this.group, typeUrl);
    if (!snapshot) return undefined;
    if (!force && (snapshot.version === state.sentVersion || snapshot.version === state.nackedVersion))
      return undefined;
    const resources: EncodedResource[] = [];
    const wants = (r: EncodedResource) => state.subscription.wants(r.name);
    let full = false;
    if (WILDCARD_TYPES.has(typeUrl)) {
      for (const r of snapshot.resources.values()) if (wants(r)) resources.push(r);
    } else if (state.sent === undefined) {
      full = true;
      state.sent = new Map();
      for (const r of snapshot.resources.values()) if (wants(r)) resources.push(r);
    } else {
      const sent = state.sent;
      // In line with the previous version: only what the cache says changed can differ.
      const candidates =
        state.sentVersion === snapshot.previousVersion
          ? [...snapshot.changed].map((name) => snapshot.resources.get(name)!)
          : snapshot.resources.values();
      for (const r of candidates) if (wants(r) && sent.get(r.name) !== r.version) resources.push(r);
    }
    state.nonce = this.nextNonce();
    if (full) state.lastFullNonce = Number(state.nonce);
    if (state.sent) for (const r of resources) state.sent.set(r.name, r.version);
    state.sentVersion = snapshot.version;
    return encodeSotwResponse(snapshot.version, typeUrl, state.nonce, resources);
  }
}
