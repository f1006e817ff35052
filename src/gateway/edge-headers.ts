// The forwarded headers of a request entering at the edge, as Envoy's HTTP connection manager
// writes them with use_remote_address: true and xff_num_trusted_hops N (docs: "HTTP header
// manipulation"; since Envoy 1.36 no address counts as internal unless internal_address_config
// says so, and this gateway has none, so every request is external):
//   - X-Forwarded-For gets the peer's address appended (done with the hop-by-hop pass);
//   - the trusted client address is the peer (N = 0) or the Nth address from the right of the
//     X-Forwarded-For the request came with (the peer when it holds fewer); it goes in
//     X-Envoy-External-Address; a client's X-Envoy-Internal / -External-Address are dropped;
//   - X-Forwarded-Proto is the connection's scheme; a downstream one is kept only when N > 0;
//   - X-Request-Id of an external request is always generated anew (preserve_external_request_id
//     keeps the client's);
//   - Forwarded (RFC 7239), which Envoy passes through untouched, is dropped when N = 0: nobody in
//     front is trusted to have written it, and apps that read it would trust a client's words.

export interface EdgePolicy {
  /** HCM use_remote_address: the edge rules below apply only when set. */
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  preserveExternalRequestId: boolean;
}

/** The trusted client address from an X-Forwarded-For that already ends with the peer's address. */
export function trustedClientAddress(forwardedFor: string, trustedHops: number): string {
  const addresses = forwardedFor.split(',');
  const peer = addresses[addresses.length - 1]!.trim();
  // Without the peer, the list the request came with; the Nth from its right end, if it has N.
  const received = addresses.length - 1;
  if (trustedHops === 0 || received < trustedHops) return peer;
  return addresses[received - trustedHops]!.trim();
}

/**
 * `flat`: the request headers for the upstream (lower-case names, hop-by-hop removed, the peer
 * already appended to x-forwarded-for). Returns them with the edge rules applied.
 */
export function edgeHeaders(
  flat: readonly string[],
  policy: EdgePolicy,
  scheme: 'http' | 'https',
  newRequestId: () => string,
): string[] {
  const hops = policy.xffNumTrustedHops;
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let proto: string | undefined;
  let requestId: string | undefined;
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    switch (name) {
      case 'x-forwarded-for':
        forwardedFor = value;
        out.push(name, value);
        break;
      case 'x-forwarded-proto':
        if (hops > 0 && proto === undefined && (value === 'http' || value === 'https')) proto = value;
        break;
      case 'x-request-id':
        requestId ??= value;
        break;
      case 'x-envoy-internal':
      case 'x-envoy-external-address':
        break;
      case 'forwarded':
        if (hops > 0) out.push(name, value);
        break;
      default:
        out.push(name, value);
    }
  }
  out.push('x-forwarded-proto', proto ?? scheme);
  out.push('x-request-id', policy.preserveExternalRequestId && requestId ? requestId : newRequestId());
  if (forwardedFor !== undefined) out.push('x-envoy-external-address', trustedClientAddress(forwardedFor, hops));
  return out;
}
