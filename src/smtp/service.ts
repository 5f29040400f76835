// An SMTP listener role as a ProtocolService: checks each new connection against the
// role's access list and the connection limits, then runs an SmtpSession on it.
import type { Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { ProtocolService } from '../server/listeners.ts';
import type { ServerTlsOptions } from '../tls/context.ts';
import { checkAccess, type NetworkList } from '../policy/access/networks.ts';
import type { ConnectionLimiter } from '../net/connection-limits.ts';
import { REPLY, type Reply } from './replies.ts';
import { SmtpSession, type MessageSink, type SmtpHandler, type SmtpLimits } from './session.ts';

export interface SmtpServiceOptions<R, M extends MessageSink> {
  role: 'smtp' | 'submission' | 'submissions';
  hostname: string;
  /** Implicit-TLS listeners get sockets that are TLS already and offer no STARTTLS. */
  implicitTls: boolean;
  tls: ServerTlsOptions;
  limits: SmtpLimits;
  limiter: ConnectionLimiter;
  access: { allow: NetworkList; deny: NetworkList };
  handler: SmtpHandler<R, M>;
  /** The last connect check (DNSBL on port 25): a reply refuses the client before the greeting. */
  connectCheck?: (remoteAddress: string) => Promise<Reply | undefined>;
  logger: Logger;
}

export function createSmtpService<R, M extends MessageSink>(options: SmtpServiceOptions<R, M>): ProtocolService {
  const sessions = new Set<SmtpSession<R, M>>();
  const secureContext = options.implicitTls ? undefined : createSecureContext(options.tls);
  const logger = options.logger.child({ role: options.role });
  let shuttingDown = false;

  return {
    async handleConnection(socket: Socket) {
      socket.on('error', () => socket.destroy());
      const session = new SmtpSession<R, M>(socket, {
        hostname: options.hostname,
        limits: options.limits,
        handler: options.handler,
        secureContext,
        logger,
      });
      const remote = session.info.remoteAddress;
      if (shuttingDown) return session.refuse(REPLY.shuttingDown(options.hostname));
      // Connect stage, in order: the listener's access list, the connection limits, then
      // the network checks.
      if (checkAccess(remote, options.access.allow, options.access.deny) === 'deny') {
        logger.info({ remote }, 'connection refused by access list');
        return session.refuse(REPLY.accessDenied(options.hostname));
      }
      const release = options.limiter.acquire(remote);
      if (!release) {
        logger.info({ remote }, 'connection refused: too many connections');
        return session.refuse(REPLY.tooManyConnections(options.hostname));
      }
      // Last, the checks that need the network (DNSBL): before the greeting.
      const refusal = options.connectCheck ? await options.connectCheck(remote).catch(() => undefined) : undefined;
      if (refusal || socket.destroyed || shuttingDown) {
        release();
        if (refusal) {
          session.refuse(refusal);
        } else {
          socket.destroy();
        }
        return;
      }
      sessions.add(session);
      void session.closed.then(() => {
        release();
        sessions.delete(session);
      });
      logger.debug({ session: session.info.id, remote }, 'connect');
      session.start();
    },

    async shutdown() {
      shuttingDown = true;
      await Promise.all([...sessions].map((session) => session.shutdown()));
    },
  };
}
