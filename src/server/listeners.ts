// Binds the listeners named in [listen]. Each role gets a net.Server (or a
// tls.Server for the implicit-TLS roles 465 and 995) that hands every accepted
// connection to the role's protocol service. Binding is all-or-nothing: if one
// address cannot be bound, the ones already bound are closed and serve refuses to start.
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { ServerTlsOptions } from '../tls/context.ts';

export type ListenerRole = 'smtp' | 'submission' | 'submissions' | 'pop3' | 'pop3s';

/** Roles whose connections start with a TLS handshake (RFC 8314). */
export const IMPLICIT_TLS_ROLES: ReadonlySet<ListenerRole> = new Set(['submissions', 'pop3s']);

export interface Endpoint {
  host: string;
  port: number;
}

/** A protocol implementation for one role; it owns the sockets handed to it. */
export interface ProtocolService {
  handleConnection(socket: Socket): void | Promise<void>;
  /** Stop new work, finish or politely end sessions in progress, then resolve. */
  shutdown(): Promise<void>;
}

export interface BoundListener {
  role: ListenerRole;
  endpoint: Endpoint;
  server: Server;
}

export class ListenError extends Error {}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'address not available on this machine',
};

export function formatEndpoint({ host, port }: Endpoint): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function bindListeners(
  plan: { role: ListenerRole; endpoint: Endpoint; service: ProtocolService }[],
  tls: ServerTlsOptions,
): Promise<BoundListener[]> {
  const bound: BoundListener[] = [];
  try {
    for (const { role, endpoint, service } of plan) {
      const onConnection = (socket: Socket) => void service.handleConnection(socket);
      // TCP_NODELAY: replies are already corked per batch of pipelined commands, so Nagle
      // only held a session's last reply back for the client's delayed ACK (~40 ms a time).
      const server = IMPLICIT_TLS_ROLES.has(role)
        ? createTlsServer({ ...tls, noDelay: true }, onConnection)
        : createTcpServer({ noDelay: true }, onConnection);
      // A client that fails the TLS handshake never reaches the service; nothing to do.
      server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
      await listen(server, endpoint, role);
      bound.push({ role, endpoint, server });
    }
  } catch (err) {
    await closeListeners(bound);
    throw err;
  }
  return bound;
}

function listen(server: Server, endpoint: Endpoint, role: ListenerRole): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = LISTEN_ERRORS[err.code ?? ''] ?? err.message;
      reject(new ListenError(`cannot listen on ${formatEndpoint(endpoint)} for ${role}: ${why}`));
    };
    server.once('error', onError);
    server.listen({ host: endpoint.host, port: endpoint.port, ipv6Only: endpoint.host.includes(':') }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Stops accepting; sessions in progress are the services' to end. */
export async function closeListeners(listeners: BoundListener[]): Promise<void> {
  await Promise.all(
    listeners.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))),
  );
}
