// The outbound queue: takes due rows from the queue table, delivers each message to
// each recipient domain over SMTP, and retries, gives up or bounces.
//
// SECURITY: this module trusts the queue table (written by the MTA/MSA after their
// checks) and nothing that comes back from the network: remote replies are cleaned
// (client.ts) before they are logged, stored or quoted in a notice. Delivery status
// notifications go only to local users for mail they submitted, into their own
// mailbox (bounce.ts): mail relayed for others is dropped with a log line, never
// bounced (no backscatter). Connections are bounded in total and per domain, and each
// attempt's time is bounded (connect, greeting, inactivity timeouts; at most MAX_HOPS
// addresses). Outgoing TLS is opportunistic (client.ts).
//
// STANDARDS: RFC 5321 §4.5.4.1 (retry strategy: back off, give up after days),
// §5.1 (next hops, next-hop.ts), §6.1 (reliable delivery: a row leaves the queue
// only after a 250 for it, a permanent failure, or expiry), §3.3 (one transaction
// with several RCPTs for recipients in one domain, at most 100: §4.5.3.1.8);
// RFC 3464/6522 (notices, dsn.ts); RFC 3834 (Auto-Submitted).
//
// Rows may be changed by another process (`kakitome queue retry|cancel`) at any
// time: every pass reads the table afresh, and results are applied only to rows that
// still exist. Rows being delivered are remembered in memory so a pass does not pick
// them up twice.
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import type { Config } from '../config/schema.ts';
import { createResolver } from '../dns/resolver.ts';
import type { Logger } from '../server/log.ts';
import type { QueueRow, QueueStore } from '../store/queue.ts';
import { notifySender, type NoticeServices } from './bounce.ts';
import { deliverToHop, type RecipientOutcome } from './client.ts';
import type { DsnRecipient } from './dsn.ts';
import { type HopResolver, type NextHop, resolveNextHops } from './next-hop.ts';

export interface OutboundQueueOptions {
  config: Config;
  queue: QueueStore;
  /** Delivery notices to local senders go in through the intake (origin notice). */
  notices: Omit<NoticeServices, 'queue'>;
  logger: Logger;
  /** Default: createResolver(config.dns.servers). */
  resolver?: HopResolver & { cancel?(): void };
  /** How often the table is polled for due rows besides kick(); default 1 s. */
  pollIntervalMs?: number;
  /** How long stop() lets deliveries in flight finish before it aborts them; default 5 s. */
  stopTimeoutMs?: number;
  /** Session timeouts of the SMTP client (tests shorten them). */
  greetingTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** Clock, unix ms; default Date.now. */
  now?: () => number;
}

export interface OutboundQueue {
  /** Starts polling (and a first pass at once). */
  start(): void;
  /** Looks for due rows soon: call after new rows were committed. */
  kick(): void;
  /** One pass now; resolves when the deliveries it started are done (for tests and tools). */
  runOnce(): Promise<void>;
  /** Stops taking work, lets deliveries in flight finish (bounded), then resolves. */
  stop(): Promise<void>;
}

/** RFC 5321 §4.5.3.1.8: servers accept at least 100 recipients per transaction. */
export const MAX_RECIPIENTS_PER_TRANSACTION = 100;
const DEFAULT_POLL_INTERVAL_MS = 1000;
const DEFAULT_STOP_TIMEOUT_MS = 5000;
/** After aborting, how long the aborted deliveries may take to record their results. */
const ABORT_GRACE_MS = 2000;

interface Group {
  domain: string;
  rows: QueueRow[];
}

interface Final {
  row: QueueRow;
  outcome: RecipientOutcome;
  hop: NextHop | undefined;
  /** Set when retries were given up (max_age): why, for the notice. */
  expiry?: string;
}

export function createOutboundQueue(options: OutboundQueueOptions): OutboundQueue {
  return new OutboundScheduler(options);
}

class OutboundScheduler implements OutboundQueue {
  readonly #config: Config;
  readonly #notices: NoticeServices;
  #passes: Promise<void> = Promise.resolve();
  readonly #queue: QueueStore;
  readonly #logger: Logger;
  readonly #resolver: HopResolver & { cancel?(): void };
  readonly #now: () => number;
  readonly #options: OutboundQueueOptions;
  readonly #abort = new AbortController();
  readonly #inFlightRows = new Set<number>();
  readonly #perDomain = new Map<string, number>();
  readonly #jobs = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #kickPending = false;
  #stopping = false;

  constructor(options: OutboundQueueOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#queue = options.queue;
    this.#notices = { ...options.notices, queue: options.queue };
    this.#logger = options.logger;
    this.#resolver = options.resolver ?? createResolver(options.config.dns.servers);
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    if (this.#stopping || this.#timer) return;
    this.#timer = setInterval(() => this.kick(), this.#options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS);
    this.#timer.unref();
    this.kick();
  }

  kick(): void {
    if (this.#stopping || this.#kickPending) return;
    this.#kickPending = true;
    setImmediate(() => {
      this.#kickPending = false;
      void this.#pass();
    });
  }

  async runOnce(): Promise<void> {
    await Promise.all(await this.#pass());
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    const all = Promise.allSettled([...this.#jobs]);
    if (!(await settlesWithin(all, this.#options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS))) {
      this.#logger.warn({ deliveries: this.#jobs.size }, 'aborting deliveries still in flight');
      this.#abort.abort();
      this.#resolver.cancel?.();
      await settlesWithin(all, ABORT_GRACE_MS);
    }
  }

  /**
   * Starts a delivery for every due group the connection limits allow; returns them.
   * Passes run one after another: each reads the queue only after the previous one has
   * marked its rows in flight, so no row is sent twice.
   */
  #pass(): Promise<Promise<void>[]> {
    const pass = this.#passes.then(() => this.#passNow());
    this.#passes = pass.then(
      () => undefined,
      () => undefined,
    );
    return pass;
  }

  async #passNow(): Promise<Promise<void>[]> {
    if (this.#stopping) return [];
    let due: QueueRow[];
    try {
      due = (await this.#queue.due(this.#now())).filter((row) => !this.#inFlightRows.has(row.id));
    } catch (err) {
      this.#logger.error({ err }, 'cannot read the queue');
      return [];
    }
    const started: Promise<void>[] = [];
    const { max_connections: maxConnections, max_per_domain: maxPerDomain } = this.#config.outbound;
    for (const group of groupRows(due)) {
      if (this.#jobs.size >= maxConnections) break;
      if ((this.#perDomain.get(group.domain) ?? 0) >= maxPerDomain) continue;
      for (const row of group.rows) this.#inFlightRows.add(row.id);
      this.#perDomain.set(group.domain, (this.#perDomain.get(group.domain) ?? 0) + 1);
      const job = this.#deliverGroup(group)
        .catch((err: unknown) => this.#logger.error({ err, queueId: group.rows[0]!.queueId }, 'delivery failed unexpectedly'))
        .finally(() => {
          for (const row of group.rows) this.#inFlightRows.delete(row.id);
          const count = (this.#perDomain.get(group.domain) ?? 1) - 1;
          if (count > 0) this.#perDomain.set(group.domain, count);
          else this.#perDomain.delete(group.domain);
          this.#jobs.delete(job);
          // A slot is free: rows held back by the limits may go now.
          this.kick();
        });
      this.#jobs.add(job);
      started.push(job);
    }
    return started;
  }

  /** One message to one domain: its hops in order until every recipient has a final result. */
  async #deliverGroup(group: Group): Promise<void> {
    const { rows, domain } = group;
    const first = rows[0]!;
    const outbound = this.#config.outbound;
    const finals: Final[] = [];
    try {
      const route = await resolveNextHops(domain, {
        transport: outbound.transport,
        resolver: this.#resolver,
        port: outbound.smtp_port,
        localHostname: this.#config.hostname,
        family: familyOf(outbound.source_ip),
      });
      if (route.kind === 'fail') {
        for (const row of rows) {
          const outcome: RecipientOutcome = {
            recipient: row.recipient,
            result: route.permanent ? 'permanent' : 'temporary',
            status: route.status,
            reply: route.reason,
            remote: false,
          };
          this.#logAttempt(row, undefined, outcome, false);
          finals.push({ row, outcome, hop: undefined });
        }
      } else {
        let pending = rows;
        for (const hop of route.hops) {
          if (pending.length === 0 || this.#abort.signal.aborted) break;
          const report = await deliverToHop({
            hop,
            heloName: this.#config.hostname,
            sourceIp: outbound.source_ip,
            connectTimeoutMs: outbound.connect_timeout,
            greetingTimeoutMs: this.#options.greetingTimeoutMs,
            socketTimeoutMs: this.#options.socketTimeoutMs,
            mailFrom: first.mailFrom,
            recipients: pending.map((row) => row.recipient),
            size: first.size,
            openMessage: () => this.#queue.openContent(first.blob),
            signal: this.#abort.signal,
          });
          const next: QueueRow[] = [];
          pending.forEach((row, index) => {
            const outcome = report.outcomes[index]!;
            this.#logAttempt(row, hop, outcome, report.tls, report.tlsFallback);
            if (outcome.result === 'temporary') next.push(row);
            // The last hop's temporary result is what the row keeps if no hop delivers.
            const existing = finals.findIndex((f) => f.row.id === row.id);
            if (existing >= 0) finals.splice(existing, 1);
            finals.push({ row, outcome, hop });
          });
          pending = next;
        }
      }
      await this.#settle(finals);
    } catch (err) {
      this.#logger.error({ err, queueId: first.queueId, domain }, 'delivery failed unexpectedly; retrying later');
      // Rows already removed are not touched again; the others wait for a later pass.
      await this.#retryLater(rows, 'internal error').catch((error: unknown) =>
        this.#logger.error({ err: error, queueId: first.queueId }, 'cannot reschedule'),
      );
    }
  }

  /** Applies the results: delivered rows go, temporary ones wait, failed ones bounce (or drop) and go. */
  async #settle(finals: readonly Final[]): Promise<void> {
    const now = this.#now();
    const { max_age: maxAge } = this.#config.outbound;
    const delivered = finals.filter((f) => f.outcome.result === 'delivered').map((f) => f.row.id);
    if (delivered.length > 0) await this.#queue.remove(delivered);

    const failed: Final[] = finals.filter((f) => f.outcome.result === 'permanent');
    const waiting: Final[] = [];
    for (const final of finals.filter((f) => f.outcome.result === 'temporary')) {
      // Interrupted by stop(): not an attempt; the row stays due for the next start.
      if (this.#abort.signal.aborted) continue;
      if (now - final.row.createdAt >= maxAge) failed.push(expired(final, now));
      else waiting.push(final);
    }
    if (waiting.length > 0) {
      await this.#queue.reschedule(
        waiting.map(({ row, outcome, hop }) => ({
          id: row.id,
          nextAttemptAt: this.#nextAttemptAt(row, now),
          error: describeFailure(outcome, hop),
        })),
      );
    }
    if (failed.length > 0) await this.#fail(failed);
  }

  /** RFC 5321 §4.5.4.1: exponential backoff, capped; the last try falls at max_age. */
  #nextAttemptAt(row: QueueRow, now: number): number {
    const { retry_initial: initial, retry_max: max, max_age: maxAge } = this.#config.outbound;
    const attempts = row.attempts + 1;
    const delay = Math.min(initial * 2 ** Math.min(attempts - 1, 40), max);
    return Math.min(now + delay, row.createdAt + maxAge);
  }

  async #retryLater(rows: readonly QueueRow[], error: string): Promise<void> {
    const now = this.#now();
    await this.#queue.reschedule(rows.map((row) => ({ id: row.id, nextAttemptAt: this.#nextAttemptAt(row, now), error })));
  }

  /** Permanent failures and expiries: a notice to a local submitter, then the rows go. */
  async #fail(failed: readonly Final[]): Promise<void> {
    const first = failed[0]!.row;
    // Rows cancelled meanwhile (queue cancel, another process) got their own notice.
    const still = new Set((await this.#queue.existing(failed.map((f) => f.row.id))).map((row) => row.id));
    const current = failed.filter((f) => still.has(f.row.id));
    if (current.length === 0) return;
    const recipients: DsnRecipient[] = current.map(({ outcome, hop, expiry }) => ({
      recipient: outcome.recipient,
      status: outcome.status,
      reason: expiry ?? (outcome.remote ? `refused by ${hop?.exchange ?? 'the remote server'}` : outcome.reply),
      diagnostic: outcome.remote ? outcome.reply : undefined,
      remoteMta: outcome.remote ? hop?.exchange : undefined,
      lastAttemptAt: new Date(this.#now()),
    }));
    const notice = await notifySender(this.#notices, {
      kind: 'failed',
      hostname: this.#config.hostname,
      rows: current.map((f) => f.row),
      recipients,
    });
    const context = {
      queueId: first.queueId,
      mailFrom: first.mailFrom,
      origin: first.origin,
      recipients: current.map((f) => ({ recipient: f.row.recipient, status: f.outcome.status, reply: f.outcome.reply })),
    };
    if (notice.sent) this.#logger.info({ ...context, to: notice.to }, 'delivery failed; notice sent to the sender');
    else this.#logger.warn({ ...context, why: notice.why }, 'delivery failed; no notice sent');
    await this.#queue.remove(current.map((f) => f.row.id));
  }

  #logAttempt(row: QueueRow, hop: NextHop | undefined, outcome: RecipientOutcome, tls: boolean, tlsFallback = false): void {
    this.#logger.info(
      {
        queueId: row.queueId,
        recipient: row.recipient,
        hop: hop ? describeHop(hop) : null,
        result: outcome.result,
        status: outcome.status,
        reply: outcome.reply,
        tls,
        ...(tlsFallback ? { tlsFallback } : {}),
        attempt: row.attempts + 1,
      },
      'delivery attempt',
    );
  }
}

/** Due rows as (message, recipient domain) groups in due order, each at most 100 recipients. */
function groupRows(rows: readonly QueueRow[]): Group[] {
  const groups = new Map<string, Group>();
  const ordered: Group[] = [];
  for (const row of rows) {
    const domain = recipientDomain(row.recipient);
    const key = `${row.queueId}\0${row.blob}\0${domain}`;
    let group = groups.get(key);
    if (!group || group.rows.length >= MAX_RECIPIENTS_PER_TRANSACTION) {
      group = { domain, rows: [] };
      groups.set(key, group);
      ordered.push(group);
    }
    group.rows.push(row);
  }
  return ordered;
}

function recipientDomain(recipient: string): string {
  const domain = recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase();
  return domainToASCII(domain) || domain;
}

function familyOf(sourceIp: string): 4 | 6 | undefined {
  const family = isIP(sourceIp);
  return family === 4 || family === 6 ? family : undefined;
}

function describeHop(hop: NextHop): string {
  const address = hop.host.includes(':') ? `[${hop.host}]` : hop.host;
  return hop.exchange === hop.host ? `${address}:${hop.port}` : `${hop.exchange}[${hop.host}]:${hop.port}`;
}

function describeFailure(outcome: RecipientOutcome, hop: NextHop | undefined): string {
  return hop ? `${describeHop(hop)}: ${outcome.reply}` : outcome.reply;
}

/** A row whose retries are given up: its last temporary failure becomes final. */
function expired(final: Final, now: number): Final {
  const days = ((now - final.row.createdAt) / 86_400_000).toFixed(1);
  const last = describeFailure(final.outcome, final.hop);
  const expiry = `delivery given up after ${final.row.attempts + 1} attempts in ${days} days; last error: ${last}`;
  return {
    ...final,
    // RFC 3463: 4.4.7 "delivery time expired", unless the last reply named its own cause.
    outcome: { ...final.outcome, result: 'permanent', status: final.outcome.remote ? final.outcome.status : '4.4.7' },
    expiry,
  };
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
