// Node identity bound to the client certificate (mutual TLS). The rule: a stream may speak for a
// node when node.id or node.cluster equals one of the certificate's subject alternative names,
// DNS or URI, compared exactly. A certificate per Envoy names its node.id (e.g. DNS:envoy-1); one
// certificate shared by a fleet names the fleet's node.cluster (e.g. DNS:gatehouse-ingress), and
// then every node id in that cluster is that fleet's to use.
import type { NodeAuthorizer } from './stream-base.js';

/** The DNS and URI entries of a Node `subjectaltname` string ("DNS:a, URI:spiffe://b, IP Address:…"). */
export function certificateNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const names: string[] = [];
  for (const entry of subjectAltName.split(', ')) {
    const colon = entry.indexOf(':');
    const kind = entry.slice(0, colon);
    if (kind !== 'DNS' && kind !== 'URI') continue;
    let value = entry.slice(colon + 1);
    // Node quotes a value holding a comma or quote as a JSON string.
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    names.push(value);
  }
  return names;
}

/** Why a node may not use a certificate with these names, or undefined when it may. */
export function nodeMismatch(node: { id: string; cluster: string }, names: readonly string[]): string | undefined {
  if (names.includes(node.id) || (node.cluster !== '' && names.includes(node.cluster))) return undefined;
  const shown = names.length === 0 ? 'no DNS or URI names' : names.join(', ');
  return (
    `node.id "${node.id}" and node.cluster "${node.cluster}" do not match the client ` +
    `certificate's subject alternative names (${shown}); issue the certificate for one of them`
  );
}

/** Without client certificates every node is taken at its word. */
export const acceptAnyNode: NodeAuthorizer = () => undefined;

/** With client certificates: the node must match the certificate of the connection it speaks on. */
export const certificateBoundNode: NodeAuthorizer = (node, call) => {
  const peer = call.getAuthContext().sslPeerCertificate;
  if (!peer) return 'this xDS server requires a client certificate (mutual TLS) and the connection presented none';
  return nodeMismatch(node, certificateNames(peer.subjectaltname));
};
