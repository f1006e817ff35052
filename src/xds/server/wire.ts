// DiscoveryRequest/Response codecs over Envoy's own message types. Responses are written with
// protobufjs's Writer from already-encoded resource bytes, so a push never re-encodes a resource;
// field numbers are read from the loaded types, not written down by hand.
import protobuf from 'protobufjs';
import type { EncodedResource } from '../cache/encode.js';
import { envoyRoot } from '../../envoy/protos.js';

export interface RequestNode {
  id: string;
  cluster: string;
}

export interface ErrorDetail {
  code: number;
  message: string;
}

export interface SotwRequest {
  node: RequestNode | undefined;
  versionInfo: string;
  resourceNames: string[];
  typeUrl: string;
  responseNonce: string;
  errorDetail: ErrorDetail | undefined;
}

export interface DeltaRequest {
  node: RequestNode | undefined;
  typeUrl: string;
  subscribe: string[];
  unsubscribe: string[];
  initialVersions: Record<string, string>;
  responseNonce: string;
  errorDetail: ErrorDetail | undefined;
}

interface Codec {
  request: protobuf.Type;
  deltaRequest: protobuf.Type;
  f: Record<string, number>;
}

let codec: Codec | undefined;

function load(): Codec {
  if (codec) return codec;
  const root = envoyRoot();
  const response = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  const delta = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  const resource = root.lookupType('envoy.service.discovery.v3.Resource');
  const any = root.lookupType('google.protobuf.Any');
  const id = (t: protobuf.Type, name: string) => t.fields[name]!.id;
  codec = {
    request: root.lookupType('envoy.service.discovery.v3.DiscoveryRequest'),
    deltaRequest: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
    f: {
      versionInfo: id(response, 'version_info'),
      resources: id(response, 'resources'),
      typeUrl: id(response, 'type_url'),
      nonce: id(response, 'nonce'),
      anyTypeUrl: id(any, 'type_url'),
      anyValue: id(any, 'value'),
      deltaSystemVersion: id(delta, 'system_version_info'),
      deltaResources: id(delta, 'resources'),
      deltaTypeUrl: id(delta, 'type_url'),
      deltaRemoved: id(delta, 'removed_resources'),
      deltaNonce: id(delta, 'nonce'),
      resName: id(resource, 'name'),
      resVersion: id(resource, 'version'),
      resResource: id(resource, 'resource'),
    },
  };
  return codec;
}

const LEN = 2;
const tag = (field: number) => (field << 3) | LEN;

function node(raw: unknown): RequestNode | undefined {
  const n = raw as { id?: string; cluster?: string } | null | undefined;
  if (!n) return undefined;
  return { id: n.id ?? '', cluster: n.cluster ?? '' };
}

function errorDetail(raw: unknown): ErrorDetail | undefined {
  const e = raw as { code?: number; message?: string } | null | undefined;
  if (!e) return undefined;
  return { code: e.code ?? 0, message: e.message ?? '' };
}

export function decodeSotwRequest(bytes: Uint8Array): SotwRequest {
  const m = load().request.decode(bytes) as unknown as Record<string, unknown>;
  return {
    node: node(m.node),
    versionInfo: (m.version_info as string) ?? '',
    resourceNames: (m.resource_names as string[]) ?? [],
    typeUrl: (m.type_url as string) ?? '',
    responseNonce: (m.response_nonce as string) ?? '',
    errorDetail: errorDetail(m.error_detail),
  };
}

export function decodeDeltaRequest(bytes: Uint8Array): DeltaRequest {
  const m = load().deltaRequest.decode(bytes) as unknown as Record<string, unknown>;
  return {
    node: node(m.node),
    typeUrl: (m.type_url as string) ?? '',
    subscribe: (m.resource_names_subscribe as string[]) ?? [],
    unsubscribe: (m.resource_names_unsubscribe as string[]) ?? [],
    initialVersions: (m.initial_resource_versions as Record<string, string>) ?? {},
    responseNonce: (m.response_nonce as string) ?? '',
    errorDetail: errorDetail(m.error_detail),
  };
}

function writeAny(w: protobuf.Writer, field: number, typeUrl: string, value: Uint8Array): void {
  const f = load().f;
  w.uint32(tag(field)).fork().uint32(tag(f.anyTypeUrl!)).string(typeUrl).uint32(tag(f.anyValue!)).bytes(value).ldelim();
}

export function encodeSotwResponse(
  versionInfo: string,
  typeUrl: string,
  nonce: string,
  resources: Iterable<EncodedResource>,
): Uint8Array {
  const f = load().f;
  const w = protobuf.Writer.create();
  w.uint32(tag(f.versionInfo!)).string(versionInfo);
  for (const r of resources) writeAny(w, f.resources!, typeUrl, r.bytes);
  w.uint32(tag(f.typeUrl!)).string(typeUrl);
  w.uint32(tag(f.nonce!)).string(nonce);
  return w.finish();
}

export function encodeDeltaResponse(
  systemVersion: string,
  typeUrl: string,
  nonce: string,
  resources: EncodedResource[],
  removed: string[],
): Uint8Array {
  const f = load().f;
  const w = protobuf.Writer.create();
  w.uint32(tag(f.deltaSystemVersion!)).string(systemVersion);
  for (const r of resources) {
    w.uint32(tag(f.deltaResources!)).fork();
    w.uint32(tag(f.resName!)).string(r.name);
    w.uint32(tag(f.resVersion!)).string(r.version);
    writeAny(w, f.resResource!, typeUrl, r.bytes);
    w.ldelim();
  }
  w.uint32(tag(f.deltaTypeUrl!)).string(typeUrl);
  for (const name of removed) w.uint32(tag(f.deltaRemoved!)).string(name);
  w.uint32(tag(f.deltaNonce!)).string(nonce);
  return w.finish();
}
