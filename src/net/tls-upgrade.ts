// The server side of STARTTLS (RFC 3207) and STLS (RFC 2595): wraps a plain socket
// the protocol has stopped reading, and waits for the handshake. Shared by SMTP and POP3.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';

/** The TLS socket once the handshake is done; undefined (both sockets destroyed) when it fails. */
export async function upgradeToTls(raw: Socket, secureContext: SecureContext): Promise<TLSSocket | undefined> {
  raw.setTimeout(0);
  const tlsSocket = new TLSSocket(raw, { isServer: true, secureContext });
  const secured = await new Promise<boolean>((resolve) => {
    tlsSocket.once('secure', () => resolve(true));
    tlsSocket.once('error', () => resolve(false));
    tlsSocket.once('close', () => resolve(false));
  });
  if (secured) return tlsSocket;
  tlsSocket.destroy();
  raw.destroy();
  return undefined;
}
