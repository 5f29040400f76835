// The service for a listener role whose protocol this build does not serve yet: it
// greets with the protocol's own "no service here" reply and closes, so clients get
// a clear answer instead of a hanging socket (RFC 5321 §3.1: a 554 greeting;
// RFC 2449 §8.1.2: -ERR [SYS/PERM]).
import type { Socket } from 'node:net';
import type { ListenerRole, ProtocolService } from './listeners.ts';

export function notYetServed(role: ListenerRole, hostname: string): ProtocolService {
  const sockets = new Set<Socket>();
  const greeting = role.startsWith('pop3')
    ? `-ERR [SYS/PERM] ${hostname} POP3 service not available\r\n`
    : `554 5.3.2 ${hostname} ${role} service not available\r\n`;
  return {
    handleConnection(socket) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
      socket.end(greeting);
    },
    async shutdown() {
      for (const socket of sockets) socket.destroy();
    },
  };
}
