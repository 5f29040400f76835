// One outbound SMTP delivery: one message, its recipients in one domain, one next hop.
// Wraps nodemailer's SMTPConnection and turns everything that can happen into a
// result per recipient: delivered, temporary (try again: 4xx, connection trouble,
// timeouts) or permanent (5xx), with the remote reply.
//
// SECURITY: opportunistic TLS (RFC 7435): STARTTLS whenever the server offers it, any
// certificate accepted (an MX host's certificate cannot be verified without DANE or
// MTA-STS, and refusing would send the mail in clear instead). A failed handshake is
// never continued in clear on the same connection — the session's state is unknown
// after it — but the hop is tried once more on a new connection without STARTTLS,
// as Postfix does: an attacker able to break the handshake could as well remove
// STARTTLS from the EHLO reply, and a server with a broken TLS stack still gets its
// mail. Which of the two happened is in the report (`tls`, `tlsFallback`). Remote
// replies are untrusted text: control characters are removed and the length bounded
// before they reach logs, the queue table or a DSN.
//
// STANDARDS: RFC 5321 (§4.2 reply classes, §4.5.3.2 timeouts), RFC 3207 (STARTTLS),
// RFC 3463 (enhanced status codes), RFC 2034 (their use in replies), RFC 1870 (SIZE),
// RFC 6152 (8BITMIME), RFC 2920 (PIPELINING, used by nodemailer when offered).
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { NextHop } from './next-hop.ts';

/**
 * nodemailer's SMTP client is loaded on the first delivery, not at start: ~5 MB of
 * serve's resident memory that an instance which has sent nothing yet does not need
 * (README, Benchmarks: memory).
 */
let smtpConnectionClass: Promise<typeof SMTPConnection> | undefined;
function loadSmtpConnection(): Promise<typeof SMTPConnection> {
  smtpConnectionClass ??= import('nodemailer/lib/smtp-connection').then((m) => m.default);
  return smtpConnectionClass;
}

export type RecipientResult = 'delivered' | 'temporary' | 'permanent';

export interface RecipientOutcome {
  recipient: string;
  result: RecipientResult;
  /** RFC 3463 status: from the reply, else derived from its class or the failure. */
  status: string;
  /** The remote reply ("550 5.1.1 no such user"), or what went wrong locally. */
  reply: string;
  /** True when the reply came from the remote server (for the DSN's Diagnostic-Code). */
  remote: boolean;
}

export interface HopReport {
  hop: NextHop;
  /** The message went over TLS (STARTTLS succeeded). */
  tls: boolean;
  /** The TLS handshake failed and the hop was tried again in clear. */
  tlsFallback: boolean;
  /** The SMTP session was established (greeting and EHLO done). */
  connected: boolean;
  outcomes: RecipientOutcome[];
}

export interface HopAttempt {
  hop: NextHop;
  /** Our name in EHLO (`hostname`). */
  heloName: string;
  /** Local address to bind to (`outbound.source_ip`); '' lets the system choose. */
  sourceIp: string;
  /** TCP connect (`outbound.connect_timeout`). */
  connectTimeoutMs: number;
  /** Greeting and STARTTLS; default GREETING_TIMEOUT_MS. */
  greetingTimeoutMs?: number;
  /** Inactivity during the session; default SOCKET_TIMEOUT_MS. */
  socketTimeoutMs?: number;
  /** '' for the null reverse-path. */
  mailFrom: string;
  recipients: readonly string[];
  size: number;
  /** A new stream of the message each time it is called (a fallback sends it again). */
  openMessage(): Readable;
  /** Aborting closes the connection; undelivered recipients become temporary. */
  signal?: AbortSignal;
}

/** RFC 5321 §4.5.3.2.1: the client waits 5 minutes for the greeting. */
export const GREETING_TIMEOUT_MS = 5 * 60_000;
/** RFC 5321 §4.5.3.2.6: up to 10 minutes for the reply to the end of data, the longest wait. */
export const SOCKET_TIMEOUT_MS = 10 * 60_000;
/** How long QUIT may take before the connection is dropped. */
const QUIT_TIMEOUT_MS = 5000;
const MAX_REPLY_LENGTH = 500;

/** Status codes of local failures (RFC 3463). */
const STATUS = {
  connection: '4.4.1', // no answer from host
  aborted: '4.4.2', // bad connection
  tooBig: '5.3.4', // message too big for system
  temporary: '4.0.0',
  permanent: '5.0.0',
} as const;

interface SmtpError extends Error {
  code?: string;
  originalCode?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
  rejected?: string[];
  rejectedErrors?: SmtpError[];
}

type Session = HopReport | { kind: 'tls-failed'; reason: string };

/** Delivers the message to one hop; never throws. */
export async function deliverToHop(attempt: HopAttempt): Promise<HopReport> {
  let Connection: typeof SMTPConnection;
  try {
    Connection = await loadSmtpConnection();
  } catch (err) {
    // An installation without nodemailer: every recipient is deferred, not lost.
    return allFailed(attempt, false, false, `cannot load the SMTP client: ${err instanceof Error ? err.message : String(err)}`);
  }
  const first = await runSession(Connection, attempt, true);
  if (!('kind' in first)) return first;
  const second = await runSession(Connection, attempt, false);
  // Without STARTTLS there is no handshake to fail; the type still has the case.
  if ('kind' in second) return allFailed(attempt, false, false, second.reason);
  return { ...second, tlsFallback: true };
}

function runSession(Connection: typeof SMTPConnection, attempt: HopAttempt, useStartTls: boolean): Promise<Session> {
  const { hop, signal } = attempt;
  return new Promise<Session>((resolve) => {
    if (signal?.aborted) {
      resolve(allFailed(attempt, false, false, 'delivery aborted', STATUS.aborted));
      return;
    }
    const connection = new Connection({
      host: hop.host,
      port: hop.port,
      name: attempt.heloName,
      localAddress: attempt.sourceIp || undefined,
      connectionTimeout: attempt.connectTimeoutMs,
      greetingTimeout: attempt.greetingTimeoutMs ?? GREETING_TIMEOUT_MS,
      socketTimeout: attempt.socketTimeoutMs ?? SOCKET_TIMEOUT_MS,
      ignoreTLS: !useStartTls,
      // A STARTTLS refused by the server (non-2xx) continues in clear; a failed handshake is an error.
      opportunisticTLS: true,
      tls: {
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        servername: isIP(hop.exchange) ? undefined : hop.exchange,
      },
      logger: false,
    });
    let stage: 'connecting' | 'sending' | 'done' = 'connecting';
    let message: Readable | undefined;
    const finish = (session: Session) => {
      if (stage === 'done') return;
      stage = 'done';
      signal?.removeEventListener('abort', onAbort);
      // A session that broke off mid-data leaves the file open otherwise.
      message?.destroy();
      resolve(session);
    };
    const onAbort = () => {
      connection.close();
      finish(allFailed(attempt, connection.secure, stage === 'sending', 'delivery aborted', STATUS.aborted));
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    connection.on('error', (error: SmtpError) => {
      // Errors during a send reach send()'s callback too; only a failed session setup ends here.
      if (stage !== 'connecting') return;
      // A failed handshake shows as ETLS or as a socket error while upgrading.
      const handshakeFailed = error.code === 'ETLS' || connection.upgrading === true;
      if (handshakeFailed && useStartTls) finish({ kind: 'tls-failed', reason: describeError(error) });
      else finish(allFailed(attempt, false, false, describeError(error), statusOf(error, STATUS.connection), error.responseCode !== undefined));
    });
    // A connection that ends without any callback (it should not) still ends the attempt.
    connection.once('end', () =>
      setImmediate(() => finish(allFailed(attempt, false, stage === 'sending', 'connection closed', STATUS.aborted))),
    );
    connection.connect((error?: SmtpError) => {
      if (error) {
        connection.close();
        finish(allFailed(attempt, false, false, describeError(error), STATUS.connection));
        return;
      }
      if (stage !== 'connecting') return;
      stage = 'sending';
      const tls = connection.secure;
      const envelope = {
        from: attempt.mailFrom === '' ? (false as const) : attempt.mailFrom,
        to: [...attempt.recipients],
        size: attempt.size,
        // BODY=8BITMIME when offered: it declares what the body may hold, harmless for 7-bit mail.
        use8BitMime: true,
      };
      message = attempt.openMessage();
      connection.send(envelope, message, (error, info) => {
        const outcomes = error ? outcomesOfError(attempt.recipients, error as SmtpError) : outcomesOfInfo(attempt.recipients, info!);
        finish({ hop, tls, tlsFallback: false, connected: true, outcomes });
        quitPolitely(connection);
      });
    });
  });
}

/** QUIT (RFC 5321 §4.1.1.10) and close; dropped if the server does not answer in time. */
function quitPolitely(connection: SMTPConnection): void {
  if (connection.destroyed) return;
  const timer = setTimeout(() => connection.close(), QUIT_TIMEOUT_MS);
  timer.unref();
  connection.once('end', () => clearTimeout(timer));
  try {
    connection.quit();
  } catch {
    connection.close();
  }
}

function outcomesOfInfo(
  recipients: readonly string[],
  info: { accepted: string[]; rejectedErrors?: SmtpError[] | undefined; response: string },
): RecipientOutcome[] {
  const accepted = new Set(info.accepted);
  const rejected = byRecipient(info.rejectedErrors);
  return recipients.map((recipient) => {
    const error = rejected.get(recipient);
    if (error) return fromReply(recipient, error.response ?? '', STATUS.temporary);
    if (accepted.has(recipient)) return { recipient, result: 'delivered', status: statusOfReply(info.response) ?? '2.0.0', reply: clean(info.response), remote: true };
    return { recipient, result: 'temporary', status: STATUS.temporary, reply: 'no reply for this recipient', remote: false };
  });
}

function outcomesOfError(recipients: readonly string[], error: SmtpError): RecipientOutcome[] {
  const rejected = byRecipient(error.rejectedErrors);
  return recipients.map((recipient) => {
    // RCPT rejections keep their own reply (the others were refused later, or all at RCPT).
    const own = rejected.get(recipient);
    if (own?.response) return fromReply(recipient, own.response, STATUS.temporary);
    if (error.response && error.responseCode !== undefined) return fromReply(recipient, error.response, STATUS.temporary);
    // nodemailer refuses before MAIL FROM when SIZE says the message is too big (RFC 1870 §6.1).
    if (error.code === 'EMESSAGE' && /larger than allowed/.test(error.message)) {
      return { recipient, result: 'permanent', status: STATUS.tooBig, reply: clean(error.message), remote: false };
    }
    return { recipient, result: 'temporary', status: STATUS.aborted, reply: describeError(error), remote: false };
  });
}

/** A remote reply: 2xx delivered, 5xx permanent, anything else temporary (RFC 5321 §4.2.1). */
function fromReply(recipient: string, response: string, fallbackStatus: string): RecipientOutcome {
  const reply = clean(response);
  const klass = reply[0];
  const result: RecipientResult = klass === '2' ? 'delivered' : klass === '5' ? 'permanent' : 'temporary';
  const status = statusOfReply(reply) ?? (klass === '5' ? STATUS.permanent : klass === '2' ? '2.0.0' : fallbackStatus);
  return { recipient, result, status, reply, remote: true };
}

function allFailed(
  attempt: HopAttempt,
  tls: boolean,
  connected: boolean,
  reason: string,
  status: string = STATUS.connection,
  remote = false,
): HopReport {
  // Whatever went wrong before the transaction is the hop's fault: try the next one.
  const outcomes = attempt.recipients.map((recipient): RecipientOutcome => ({
    recipient,
    result: 'temporary',
    status: status.startsWith('4') ? status : `4${status.slice(1)}`,
    reply: clean(reason),
    remote,
  }));
  return { hop: attempt.hop, tls, tlsFallback: false, connected, outcomes };
}

function byRecipient(errors: SmtpError[] | undefined): Map<string, SmtpError> {
  const map = new Map<string, SmtpError>();
  for (const error of errors ?? []) if (error.recipient !== undefined) map.set(error.recipient, error);
  return map;
}

/** RFC 2034 §4: the enhanced code follows the reply code ("550 5.1.1 …"). */
function statusOfReply(reply: string): string | undefined {
  const match = /^[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply);
  return match?.[1];
}

function statusOf(error: SmtpError, fallback: string): string {
  return (error.response && statusOfReply(clean(error.response))) || fallback;
}

function describeError(error: SmtpError): string {
  if (error.response) return clean(error.response);
  const code = error.originalCode ?? error.code;
  return clean(code ? `${error.message} (${code})` : error.message);
}

/** Untrusted text made safe for a log line, a table cell and a header field: one line, bounded. */
export function clean(text: string): string {
  // C0 controls (CR and LF among them), DEL and C1 controls all become spaces.
  const oneLine = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_REPLY_LENGTH ? `${oneLine.slice(0, MAX_REPLY_LENGTH)}…` : oneLine;
}
