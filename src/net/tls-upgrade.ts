// The server side of STARTTLS (RFC 3207) and STLS (RFC 2595): wraps a plain socket
// the protocol has stopped reading, and waits for the handshake. Shared by SMTP and POP3.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';

/**
 * The TLS socket once the handshake is done; undefined (both sockets destroyed) when it
 * fails or does not finish within `timeoutMs` (the session's idle timeout: a client
 * that says STARTTLS and then nothing must not hold a connection slot for ever).
 */
export async function upgradeToTls(raw: Socket, secureContext: SecureContext, timeoutMs: number): Promise<TLSSocket | undefined> {
  // The session's idle timer on the plain socket (it would write a reply in clear
  // into the handshake) gives way to the handshake's own.
  raw.removeAllListeners('timeout');
  const tlsSocket = new TLSSocket(raw, { isServer: true, secureContext });
  const secured = await new Promise<boolean>((resolve) => {
    raw.setTimeout(timeoutMs, () => resolve(false));
    tlsSocket.once('secure', () => resolve(true));
    tlsSocket.once('error', () => resolve(false));
    tlsSocket.once('close', () => resolve(false));
  });
  raw.setTimeout(0);
  if (secured) return tlsSocket;
  tlsSocket.destroy();
  raw.destroy();
  return undefined;
}
