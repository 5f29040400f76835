// The composition root of `kakitome serve`: builds the one logger, the one store and
// the one resolver, wires every role (listeners → intake → MDA; the outbound queue),
// binds every configured listener, then runs until stopped, when it stops accepting,
// lets the protocol services drain their sessions, and resolves `stopped`.
//
// Each role gets only the store roles it needs: the listeners read accounts (and POP3
// its mailboxes and grants); only the MDA, inside the intake, gets the delivery store.
//
// SECURITY: refuses to start on an unreadable certificate, a data directory open
// to others, or a listener address it cannot bind — never a partial start.
import type { Config } from '../config/schema.ts';
import { openStore } from '../store/store.ts';
import { loadServerTls } from '../tls/context.ts';
import { createLogger, type Logger } from '../server/log.ts';
import {
  bindListeners,
  closeListeners,
  formatEndpoint,
  type ListenerRole,
  type ProtocolService,
} from '../server/listeners.ts';
import { notYetServed } from '../server/not-yet-served.ts';
import { createSmtpService } from '../smtp/service.ts';
import { ConnectionLimiter } from '../net/connection-limits.ts';
import { createMtaHandler } from '../mta/handler.ts';
import { createPop3Service } from '../mra/pop3/service.ts';
import { MaildropLocks } from '../mra/pop3/maildrop.ts';
import { AuthLockout } from '../policy/access/lockout.ts';
import { createMsaHandler } from '../msa/handler.ts';
import { createOutboundQueue } from '../queue/scheduler.ts';
import { DnsblChecker, dnsblReply } from '../policy/dnsbl/index.ts';
import { reportSpam, spamStepOptions } from './spam.ts';
import { startJunkHousekeeping } from './junk.ts';
import { createResolver } from '../dns/resolver.ts';
import { mailauthResolver } from '../policy/spf/resolver.ts';
import { cachingLookups } from '../dns/cache.ts';
import { createIntake } from './intake.ts';
import { antivirusOptions, closeAntivirus, prepareAntivirus, reportAntivirus } from './antivirus.ts';
import { startQuarantineExpiry } from './quarantine-expiry.ts';
import { retrievalScan } from './rescan.ts';
import { MailDeliveryAgent } from '../mda/deliver.ts';
import type { RetrievalScan } from '../mra/retrieval-scan.ts';
import type { Intake } from '../intake/intake.ts';
import type { Reply } from '../smtp/replies.ts';
import { SendRateLimiter } from '../msa/rate-limit.ts';
import { networkList } from '../policy/access/networks.ts';
import type { Store } from '../store/store.ts';
import type { ServerTlsOptions } from '../tls/context.ts';

const ROLES: ListenerRole[] = ['smtp', 'submission', 'submissions', 'pop3', 'pop3s'];
/** How long sessions in progress may take to finish after SIGTERM. */
const DRAIN_TIMEOUT_MS = 10_000;

export interface RunningServer {
  logger: Logger;
  /** Resolves when the server has stopped. */
  stopped: Promise<void>;
  stop(): Promise<void>;
}

export async function startServer(config: Config): Promise<RunningServer> {
  const logger = createLogger(config.log.level);
  const tls = loadServerTls(config.tls.cert, config.tls.key, { legacyCbcCiphers: config.tls.legacy_cbc_ciphers });
  if (config.tls.legacy_cbc_ciphers) logger.warn({ ciphers: tls.ciphers }, 'tls.legacy_cbc_ciphers is on: TLS 1.2 CBC cipher suites are accepted (weaker than the default, AEAD only)');
  // Rules that do not compile stop serve here, before anything is opened.
  const antivirus = antivirusOptions(config);
  await prepareAntivirus(antivirus);
  const store = openStore(config.data_dir);
  // One resolver for everything that asks DNS (sender authentication, DNSBL, MX lookups).
  const resolver = createResolver(config.dns.servers);
  const spam = config.spam.enabled ? spamStepOptions(config, store, resolver) : undefined;
  const intake = createIntake(config, store, mailauthResolver(cachingLookups(resolver)), logger, antivirus, spam);

  const outbound = createOutboundQueue({
    config,
    queue: store.queue,
    notices: { accounts: store.accounts, intake },
    resolver,
    logger: logger.child({ role: 'queue' }),
  });
  // [antivirus] rescan_on_retrieval: POP3 asks before it sends; the MDA moves what is found to the quarantine.
  const rescan = config.antivirus.rescan_on_retrieval
    ? retrievalScan(antivirus, new MailDeliveryAgent(store.deliveries), logger.child({ role: 'antivirus' }))
    : undefined;
  const services = createServices(config, store, intake, tls, logger, dnsblCheck(config, resolver, logger), () => outbound.kick(), rescan);

  const plan = ROLES.flatMap((role) =>
    config.listen[role].map((endpoint) => ({ role, endpoint, service: services.get(role)! })),
  );
  let listeners;
  try {
    listeners = await bindListeners(plan, tls);
  } catch (err) {
    await store.close();
    throw err;
  }
  // Files left by a crash between a message file's write and its commit.
  const orphans = await store.deliveries.collectOrphans();
  if (orphans.length > 0) logger.info({ count: orphans.length }, 'removed orphan message files');
  outbound.start();
  const expiry = startQuarantineExpiry(store.quarantine, config.quarantine.keep, logger.child({ role: 'quarantine' }));
  const junk = startJunkHousekeeping({ ...store, intake }, config.spam.junk_keep, logger.child({ role: 'spam' }));
  await reportSpam(config, store.spam, logger.child({ role: 'spam' }));
  await reportAntivirus(antivirus, logger.child({ role: 'antivirus' }));
  logger.info(
    { hostname: config.hostname, listeners: listeners.map((l) => `${l.role}=${formatEndpoint(l.endpoint)}`) },
    'ready',
  );

  let stopping: Promise<void> | undefined;
  let markStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));
  const stop = () => {
    stopping ??= (async () => {
      logger.info('stopping');
      const closed = closeListeners(listeners);
      const drained = Promise.all([...[...services.values()].map((s) => s.shutdown()), outbound.stop()]);
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, DRAIN_TIMEOUT_MS, 'timeout').unref());
      if ((await Promise.race([Promise.all([closed, drained]), timeout])) === 'timeout') {
        logger.warn({ timeoutMs: DRAIN_TIMEOUT_MS }, 'sessions still open after the drain timeout; closing anyway');
      }
      await expiry.stop();
      await junk.stop();
      await closeAntivirus(antivirus);
      await store.close();
      logger.info('stopped');
      logger.flush();
      markStopped();
    })();
    return stopping;
  };
  return { logger, stopped, stop };
}

/** Port 25's DNSBL check at connect (never on 587/465: lists such as the PBL name users' home addresses). */
function dnsblCheck(
  config: Config,
  resolver: ConstructorParameters<typeof DnsblChecker>[0]['resolver'],
  logger: Logger,
): ((remote: string) => Promise<Reply | undefined>) | undefined {
  if (config.dnsbl.zones.length === 0) return undefined;
  const checker = new DnsblChecker({ zones: config.dnsbl.zones, allow: networkList(config.dnsbl.allow), resolver });
  return async (remote) => {
    const result = await checker.check(remote);
    if (result.listed) {
      logger.info({ role: 'smtp', remote, dnsbl: result.zone, codes: result.codes, text: result.text }, 'connection refused: DNSBL listing');
      return dnsblReply(result, remote);
    }
    if ('temperror' in result) logger.warn({ role: 'smtp', remote, dnsbl: result.temperror }, 'DNSBL lookup failed; client not blocked');
    return undefined;
  };
}

/** The protocol service of each listener role. */
function createServices(
  config: Config,
  store: Store,
  intake: Intake,
  tls: ServerTlsOptions,
  logger: Logger,
  connectCheck: ((remote: string) => Promise<Reply | undefined>) | undefined,
  kickQueue: () => void,
  rescan: RetrievalScan | undefined,
): Map<ListenerRole, ProtocolService> {
  const services = new Map<ListenerRole, ProtocolService>();
  for (const role of ROLES) services.set(role, notYetServed(role, config.hostname));
  const access = (role: ListenerRole) => ({
    allow: networkList(config.access[role].allow),
    deny: networkList(config.access[role].deny),
  });
  const smtpLimits = {
    maxMessageBytes: config.smtp.max_message_size,
    maxRecipients: config.smtp.max_recipients,
    idleTimeoutMs: config.smtp.idle_timeout,
    maxHeaderBytes: config.smtp.max_header_bytes,
    maxHeaderFields: config.smtp.max_header_fields,
  };
  // Password guessing is counted across every protocol that logs in.
  const lockout = new AuthLockout({
    maxFailuresPerIp: config.auth.max_failures_per_ip,
    maxFailuresPerAccount: config.auth.max_failures_per_account,
    lockoutMs: config.auth.lockout,
  });
  const popBeforeSmtp = config.pop_before_smtp.enabled ? { grants: store.grants, ttlMs: config.pop_before_smtp.ttl } : undefined;
  // Connection slots per listener role, never shared between roles: idle sessions
  // filling port 25 must not lock users out of 587/465, nor POP3 out of POP3S. The
  // listeners of one role (e.g. 0.0.0.0:25 and [::]:25) share that role's slots.
  const smtpSlots = () => new ConnectionLimiter(config.smtp.max_connections, config.smtp.max_connections_per_ip);
  const pop3Slots = () => new ConnectionLimiter(config.pop3.max_connections, config.pop3.max_connections_per_ip);
  services.set(
    'smtp',
    createSmtpService({
      role: 'smtp',
      hostname: config.hostname,
      implicitTls: false,
      tls,
      limits: smtpLimits,
      limiter: smtpSlots(),
      access: access('smtp'),
      connectCheck,
      handler: createMtaHandler({
        accounts: store.accounts,
        intake,
        trustedNetworks: networkList(config.relay.trusted_networks),
        maxMessageBytes: config.smtp.max_message_size,
        maxReceivedHeaders: config.smtp.max_received_headers,
        onQueued: kickQueue,
        logger: logger.child({ role: 'smtp' }),
      }),
      logger,
    }),
  );

  // The MSA on 587 and 465: one handler (and one rate limiter) for both.
  const msa = createMsaHandler({
    accounts: store.accounts,
    intake,
    lockout,
    popBeforeSmtp: popBeforeSmtp?.grants,
    rateLimiter: new SendRateLimiter(config.submission.max_messages_per_hour),
    holdMs: config.outbound.hold,
    maxMessageBytes: config.smtp.max_message_size,
    maxReceivedHeaders: config.smtp.max_received_headers,
    onQueued: kickQueue,
    logger: logger.child({ role: 'msa' }),
  });
  for (const role of ['submission', 'submissions'] as const) {
    services.set(
      role,
      createSmtpService({
        role,
        hostname: config.hostname,
        implicitTls: role === 'submissions',
        tls,
        limits: smtpLimits,
        limiter: smtpSlots(),
        access: access(role),
        handler: msa,
        logger,
      }),
    );
  }

  // POP3 on both listeners shares the maildrop locks (one session per mailbox), not the slots.
  const locks = new MaildropLocks();
  for (const role of ['pop3', 'pop3s'] as const) {
    services.set(
      role,
      createPop3Service({
        role,
        hostname: config.hostname,
        accounts: store.accounts,
        mailboxes: store.mailboxes,
        locks,
        lockout,
        apop: config.pop3.apop,
        idleTimeoutMs: config.pop3.idle_timeout,
        popBeforeSmtp,
        ...(rescan ? { rescan } : {}),
        tls,
        limiter: pop3Slots(),
        access: access(role),
        logger,
      }),
    );
  }
  return services;
}
