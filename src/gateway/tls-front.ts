// A TLS listening socket in front of the auto-codec servers: the certificate is chosen by SNI from
// the listener's current config at each handshake (so a new certificate needs no new socket), ALPN
// from that certificate's chain, and the decrypted socket goes to the same HTTP/1.1 / HTTP/2
// sniffing as a plain connection. No certificate for the name: the handshake fails, as Envoy
// closes a connection no filter chain matches.
import type net from 'node:net';
import tls from 'node:tls';
import { selectCertificate, type ListenerTls } from './compile-tls.js';

export function createTlsFront(
  plain: net.Server,
  current: () => ListenerTls | undefined,
  handshakeTimeoutMs: number,
): tls.Server {
  const pick = (servername: string | undefined) => {
    const config = current();
    return config && selectCertificate(config, servername);
  };
  const server = tls.createServer({
    handshakeTimeout: handshakeTimeoutMs,
    // Called only when the client sends a server name; without one the fallback chain's context is used.
    SNICallback: (servername, done) => {
      const cert = pick(servername);
      if (cert) done(null, cert.context);
      else done(new Error(`no filter chain matches server name ${servername}`), undefined);
    },
    // Runs only when the client offers ALPN. A chain without alpn_protocols negotiates none in
    // Envoy, which a client takes as HTTP/1.1; Node can only pick or refuse, so it picks http/1.1.
    ALPNCallback: ({ servername, protocols }) => {
      const offered = pick(servername)?.alpn ?? [];
      return offered.length > 0 ? offered.find((p) => protocols.includes(p)) : protocols.find((p) => p === 'http/1.1');
    },
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    // Node keeps a default context once set; a chain without server names that is gone since must not answer.
    if (!(socket as { servername?: string | false }).servername && !current()?.fallback) return void socket.destroy();
    plain.emit('connection', socket);
  });
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  useFallback(server, current());
  return server;
}

/** A client without SNI gets the chain without server names (Node's default context), if there is one. */
export function useFallback(server: tls.Server, config: ListenerTls | undefined): void {
  const fallback = config?.fallback;
  if (fallback) server.setSecureContext({ cert: fallback.pem.cert, key: fallback.pem.key });
}
