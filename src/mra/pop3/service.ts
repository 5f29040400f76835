// The pop3 (110, STLS) and pop3s (995, implicit TLS) listener roles as ProtocolServices:
// the role's access list and the POP3 connection limits, then a Pop3Session.
import type { Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { ProtocolService } from '../../server/listeners.ts';
import type { ServerTlsOptions } from '../../tls/context.ts';
import { checkAccess, type NetworkList } from '../../policy/access/networks.ts';
import type { ConnectionLimiter } from '../../net/connection-limits.ts';
import { Pop3Session, type Pop3SessionOptions } from './session.ts';
import { REPLY } from './replies.ts';

export interface Pop3ServiceOptions extends Omit<Pop3SessionOptions, 'secureContext' | 'logger'> {
  role: 'pop3' | 'pop3s';
  tls: ServerTlsOptions;
  limiter: ConnectionLimiter;
  access: { allow: NetworkList; deny: NetworkList };
  logger: Logger;
}

export function createPop3Service(options: Pop3ServiceOptions): ProtocolService {
  const sessions = new Set<Pop3Session>();
  const secureContext = options.role === 'pop3' ? createSecureContext(options.tls) : undefined;
  const logger = options.logger.child({ role: options.role });
  let shuttingDown = false;

  return {
    handleConnection(socket: Socket) {
      socket.on('error', () => socket.destroy());
      const session = new Pop3Session(socket, { ...options, secureContext, logger });
      const remote = session.remoteAddress;
      if (shuttingDown) return session.refuse(REPLY.shuttingDown);
      if (checkAccess(remote, options.access.allow, options.access.deny) === 'deny') {
        logger.info({ remote }, 'connection refused by access list');
        return session.refuse(REPLY.accessDenied);
      }
      const release = options.limiter.acquire(remote);
      if (!release) {
        logger.info({ remote }, 'connection refused: too many connections');
        return session.refuse(REPLY.tooManyConnections);
      }
      sessions.add(session);
      void session.closed.then(() => {
        release();
        sessions.delete(session);
      });
      session.start();
    },

    async shutdown() {
      shuttingDown = true;
      await Promise.all([...sessions].map((session) => session.shutdown()));
    },
  };
}
