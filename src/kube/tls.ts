// spec.tls → the certificates the HTTPS listener serves. Pure apart from node:crypto's parsing: a
// Secret of type kubernetes.io/tls becomes a PEM chain and key that Node (and so Envoy's BoringSSL,
// for the same PEM) accepts, or a problem naming the Secret and what is wrong with it.
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { namespacedName } from '../model/names.js';
import type { TlsChain } from '../translate/listener.js';
import { TLS_SECRET_TYPE, type Secret } from './types.js';
import type { TlsRef } from './validate.js';

export type SecretCertificate =
  { ok: true; certificateChain: string; privateKey: string } | { ok: false; problem: string };

export function secretKey(ref: Pick<TlsRef, 'secretNamespace' | 'secretName'>): string {
  return namespacedName(ref.secretNamespace, ref.secretName);
}

function field(secret: Secret, name: string): string | undefined {
  const b64 = secret.data?.[name];
  return typeof b64 === 'string' && b64 !== '' ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
}

export function secretCertificate(ref: TlsRef, secret: Secret | undefined): SecretCertificate {
  const name = `Secret ${secretKey(ref)}`;
  const fail = (problem: string): SecretCertificate => ({ ok: false, problem: `${name} ${problem}` });
  if (!secret)
    return fail(`does not exist (spec.tls needs a Secret of type ${TLS_SECRET_TYPE} with tls.crt and tls.key)`);
  if (secret.type !== TLS_SECRET_TYPE) return fail(`is of type ${secret.type ?? 'Opaque'}, not ${TLS_SECRET_TYPE}`);
  const certificateChain = field(secret, 'tls.crt');
  const privateKey = field(secret, 'tls.key');
  if (!certificateChain) return fail('has no tls.crt');
  if (!privateKey) return fail('has no tls.key');
  try {
    new X509Certificate(certificateChain);
  } catch (err) {
    return fail(`tls.crt is not a PEM certificate: ${(err as Error).message}`);
  }
  try {
    createSecureContext({ cert: certificateChain, key: privateKey });
  } catch (err) {
    return fail(`tls.key does not go with tls.crt: ${(err as Error).message}`);
  }
  return { ok: true, certificateChain, privateKey };
}

export interface TlsClaim {
  /** `{namespace}/{name}` of the KIngress. */
  ingress: string;
  ref: TlsRef;
  certificate: SecretCertificate;
}

/**
 * The HTTPS listener's chains from every KIngress's certificates, in the order given (KIngress key
 * order, so the result is stable): one chain per Secret with the hosts of every entry naming it
 * (as Kourier folds them), and a server name goes to the first Secret that claims it, since Envoy
 * refuses two chains matching the same name. Returns the server names each KIngress lost.
 */
export function tlsChains(claims: readonly TlsClaim[]): { chains: TlsChain[]; lost: Map<string, string[]> } {
  const bySecret = new Map<string, TlsChain>();
  const owner = new Map<string, string>();
  const lost = new Map<string, string[]>();
  for (const { ingress, ref, certificate } of claims) {
    if (!certificate.ok) continue;
    const secret = secretKey(ref);
    let chain = bySecret.get(secret);
    for (const host of ref.hosts) {
      const taken = owner.get(host);
      if (taken === secret) continue;
      if (taken !== undefined) {
        lost.set(ingress, [...(lost.get(ingress) ?? []), `${host} (already served with Secret ${taken})`]);
        continue;
      }
      owner.set(host, secret);
      if (!chain)
        bySecret.set(
          secret,
          (chain = {
            serverNames: [],
            certificateChain: certificate.certificateChain,
            privateKey: certificate.privateKey,
          }),
        );
      chain.serverNames.push(host);
    }
  }
  return { chains: [...bySecret.values()], lost };
}
