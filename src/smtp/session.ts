// One SMTP session (RFC 5321) on one connection: reads command lines, runs one handler
// per command, and streams DATA into the sink the role's handler gives it (the intake's
// draft). What to accept is not decided here: each stage asks the role's SmtpHandler
// (src/mta, src/msa) for a verdict; the engine knows no store.
//
// SECURITY: every input is bounded (line length, buffered input, message and header
// size, recipients, errors, idle time). Only <CRLF>.<CRLF> ends DATA, and a message
// with a bare CR or LF is refused (DataReader). Whatever a client pipelines behind
// STARTTLS is discarded before the handshake (CVE-2011-0411), and all state from
// before TLS is forgotten (RFC 3207 §4.2). MAIL and RCPT paths are parsed strictly
// (RFC 5321 §4.1.2: one "@" outside quotes; src/smtp/mailbox.ts), and a non-ASCII
// address without MAIL's SMTPUTF8 parameter is refused (RFC 6531 §3.4).
// STANDARDS: RFC 5321, RFC 2920 (PIPELINING), RFC 3207 (STARTTLS), RFC 1870 (SIZE),
// RFC 6152 (8BITMIME), RFC 6531 (SMTPUTF8), RFC 2034/3463 (enhanced status codes).
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { LineConnection } from '../net/line-connection.ts';
import { randomHex } from '../mail/random-id.ts';
import type { Logger } from 'pino';
import { DataReader, type DataProblem } from './data-reader.ts';
import { isHeloArgument, lacksSmtpUtf8, parsePathArgument, type MailParams, type MailPath, type PathProblem } from './path.ts';
import { type CommandInput, HTTP_REQUEST, LINE_TOO_LONG } from '../net/command-input.ts';
import { decodeSaslPlain } from '../auth/sasl-plain.ts';
import { formatReply, REPLY, type Reply } from './replies.ts';
import type { Verdict } from './verdict.ts';

/** RFC 5321 §4.5.3.1.4 allows 512 octets per command line (with the CRLF); ESMTP parameters need more. */
export const MAX_COMMAND_LINE = 2048;
/** Input buffered beyond this while a command is in progress pauses reading. */
const MAX_BUFFERED_INPUT = 256 * 1024;
const MAX_ERRORS = 10;

export interface SmtpLimits {
  maxMessageBytes: number;
  maxRecipients: number;
  idleTimeoutMs: number;
  maxHeaderBytes: number;
  maxHeaderFields: number;
}

/** What the policy stages may know about the session at each point. */
export interface SessionInfo {
  id: string;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  tls: { protocol: string; cipher: string } | null;
  helo: { domain: string; esmtp: boolean } | null;
  /** Who logged in with AUTH (RFC 4954), if anyone. */
  authenticated: AuthIdentity | null;
}

export interface AuthIdentity {
  userId: number;
  address: string;
}

/** SASL mechanisms the engine speaks (RFC 4616 PLAIN, and LOGIN as clients use it). */
export type SaslMechanism = 'PLAIN' | 'LOGIN';

export interface Transaction<R = unknown> {
  mailFrom: MailPath | null;
  params: MailParams;
  recipients: { path: MailPath | null; postmaster: boolean; resolved: R }[];
}

/**
 * Where the engine puts a message's content (unstuffed, CRLF) while it arrives. The
 * role's handler makes it (the intake's draft) and gets it back at the end of data;
 * the engine discards it after the reply, whatever the outcome.
 */
export interface MessageSink {
  /** False when the engine should wait for 'drain' on drainTarget() before reading on. */
  append(chunk: Buffer): boolean;
  drainTarget(): { once(event: 'drain', listener: () => void): unknown } | undefined;
  readonly size: number;
  discard(): Promise<void>;
}

export interface ReceivedMessage<M extends MessageSink = MessageSink> {
  queueId: string;
  /** The client's content in octets (unstuffed, CRLF). */
  size: number;
  sink: M;
  problem: DataProblem | undefined;
  receivedCount: number;
}

/** The policy of one listener role; every method returns a verdict. */
export interface SmtpHandler<R = unknown, M extends MessageSink = MessageSink> {
  /** Extra EHLO keywords (AUTH on the MSA). */
  extensions(session: SessionInfo): string[];
  helo(session: SessionInfo, domain: string): Promise<Verdict>;
  mailFrom(session: SessionInfo, path: MailPath | null, params: MailParams): Promise<Verdict>;
  rcptTo(session: SessionInfo, tx: Transaction<R>, path: MailPath | null, postmaster: boolean, params: MailParams): Promise<Verdict<R>>;
  /** Where the content of the coming DATA goes. */
  openMessage(session: SessionInfo, tx: Transaction<R>): M;
  /** Checks the received message and takes it in (accept: durable) or refuses it. */
  data(session: SessionInfo, tx: Transaction<R>, message: ReceivedMessage<M>): Promise<Verdict>;
  /** Password check for AUTH; absent on a role that offers no AUTH (port 25). */
  authenticate?(session: SessionInfo, username: string, password: string): Promise<Verdict<AuthIdentity>>;
}

export interface SessionOptions<R, M extends MessageSink> {
  hostname: string;
  limits: SmtpLimits;
  handler: SmtpHandler<R, M>;
  /** For STARTTLS; undefined on a listener that is TLS from the start. */
  secureContext: SecureContext | undefined;
  logger: Logger;
}

interface SaslExchange {
  mechanism: SaslMechanism;
  username?: string;
}

/** The reply to a MAIL or RCPT argument that does not parse; `badMailbox` is the command's own 553. */
function pathRefusal(problem: PathProblem, badMailbox: Reply): Reply {
  if (problem === 'parameter') return REPLY.badParameter;
  return problem === 'syntax' ? REPLY.syntax : badMailbox;
}

const SASL_USERNAME_PROMPT = Buffer.from('Username:').toString('base64');
const SASL_PASSWORD_PROMPT = Buffer.from('Password:').toString('base64');

interface DataPhase<M extends MessageSink> {
  reader: DataReader;
  sink: M;
  queueId: string;
}

type CommandHandler = (argument: string) => Promise<void> | void;

export function newQueueId(): string {
  return randomHex(8);
}

export class SmtpSession<R = unknown, M extends MessageSink = MessageSink> {
  readonly info: SessionInfo;
  readonly #options: SessionOptions<R, M>;
  readonly #connection: LineConnection;
  readonly #in: CommandInput;
  #processing = false;
  #errors = 0;
  #tx: Transaction<R> | null = null;
  #data: DataPhase<M> | null = null;
  #dataBackpressure = false;
  #shutdownRequested = false;
  #sasl: SaslExchange | null = null;
  readonly #commands: Record<string, CommandHandler>;

  constructor(socket: Socket, options: SessionOptions<R, M>) {
    this.#options = options;
    const connection = new LineConnection(socket, {
      idleTimeoutMs: options.limits.idleTimeoutMs,
      maxBufferedInput: MAX_BUFFERED_INPUT,
      onInput: () => void this.#pump(),
      onIdle: () => this.#onIdle(),
      onClose: () => this.#onClose(),
      onError: (err) => options.logger.debug({ session: this.info.id, err: err.message }, 'socket error'),
    });
    this.#connection = connection;
    this.#in = connection.input;
    this.info = {
      id: newQueueId(),
      remoteAddress: connection.remoteAddress,
      remotePort: connection.remotePort,
      localAddress: connection.localAddress,
      localPort: connection.localPort,
      tls: connection.tls,
      helo: null,
      authenticated: null,
    };
    // One handler per command (RFC 5321 §4.1.1 and the extensions above).
    this.#commands = {
      EHLO: (arg) => this.#cmdHelo(arg, true),
      HELO: (arg) => this.#cmdHelo(arg, false),
      MAIL: (arg) => this.#cmdMail(arg),
      RCPT: (arg) => this.#cmdRcpt(arg),
      DATA: (arg) => this.#cmdData(arg),
      RSET: (arg) => this.#cmdRset(arg),
      NOOP: () => this.#reply(REPLY.ok),
      QUIT: () => this.#cmdQuit(),
      VRFY: () => this.#reply(REPLY.cannotVerify),
      EXPN: () => this.#reply(REPLY.cannotVerify),
      HELP: () => this.#reply(REPLY.help),
      STARTTLS: (arg) => this.#cmdStartTls(arg),
      AUTH: (arg) => this.#cmdAuth(arg),
    };
  }

  get closed(): Promise<void> {
    return this.#connection.closed;
  }

  get logger(): Logger {
    return this.#options.logger;
  }

  start(): void {
    this.#connection.start();
    // RFC 5321 §4.3.1: the greeting names the host; no software name or version.
    this.#write(formatReply({ code: 220, text: `${this.#options.hostname} ESMTP ready` }));
  }

  /** SIGTERM: an idle session is told 421 now; a busy one after its current command. */
  shutdown(): Promise<void> {
    this.#shutdownRequested = true;
    if (!this.#processing && !this.#data) this.#closeWith(REPLY.shuttingDown(this.#options.hostname));
    return this.#connection.closed;
  }

  /** Ends the session at once with a reply (e.g. refused at connect). */
  refuse(reply: Reply): void {
    this.#closeWith(reply);
  }

  // ── input ────────────────────────────────────────────────────────────────

  /** True once the session is closing: nothing more is read or answered. */
  get #closed(): boolean {
    return this.#connection.closing;
  }

  /** Processes buffered input in order; pipelined replies leave in one write (RFC 2920). */
  async #pump(): Promise<void> {
    if (this.#processing) return;
    this.#processing = true;
    this.#cork();
    try {
      while (!this.#closed) {
        if (this.#data) {
          if (!(await this.#feedData())) break;
          continue;
        }
        const line = this.#takeLine();
        if (line === undefined) break;
        await this.#dispatch(line);
      }
    } catch (err) {
      this.#options.logger.error({ session: this.info.id, err }, 'session failed');
      this.#closeWith(REPLY.localError);
    } finally {
      this.#processing = false;
      this.#uncork();
      if (this.#shutdownRequested && !this.#data) this.#closeWith(REPLY.shuttingDown(this.#options.hostname));
      if (!this.#dataBackpressure) this.#connection.resumeInput();
    }
  }

  /** The next command line, or undefined when none is complete; over-long lines are answered here. */
  #takeLine(): string | undefined {
    for (;;) {
      // MAX_COMMAND_LINE counts the CRLF; CommandInput counts the line without it.
      const line = this.#in.takeLine(MAX_COMMAND_LINE - 2);
      if (line !== LINE_TOO_LONG) return line;
      this.#error(REPLY.lineTooLong);
    }
  }

  async #dispatch(line: string): Promise<void> {
    if (this.#sasl) return this.#saslResponse(line);
    if (HTTP_REQUEST.test(line)) return this.#closeWith(REPLY.httpRefused(this.#options.hostname));
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) return this.#error(REPLY.syntax);
    const space = line.indexOf(' ');
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const argument = space < 0 ? '' : line.slice(space + 1);
    const handler = Object.hasOwn(this.#commands, verb) ? this.#commands[verb] : undefined;
    if (!handler) return this.#error(REPLY.unknownCommand);
    await handler(argument);
  }

  // ── commands ─────────────────────────────────────────────────────────────

  async #cmdHelo(argument: string, esmtp: boolean): Promise<void> {
    const domain = argument.trim();
    if (!isHeloArgument(domain)) return this.#error(REPLY.badHelo);
    const verdict = await this.#options.handler.helo(this.info, domain);
    if (verdict.action !== 'accept') return this.#error(verdict.reply);
    // RFC 5321 §4.1.4: EHLO/HELO also resets any transaction in progress.
    this.#tx = null;
    this.info.helo = { domain, esmtp };
    const greeting = `${this.#options.hostname} greets ${domain}`;
    if (!esmtp) return this.#write(formatReply({ code: 250, text: greeting }));
    const keywords = [
      'PIPELINING',
      `SIZE ${this.#options.limits.maxMessageBytes}`,
      '8BITMIME',
      'SMTPUTF8',
      'ENHANCEDSTATUSCODES',
      ...(this.info.tls || !this.#options.secureContext ? [] : ['STARTTLS']),
      ...this.#options.handler.extensions(this.info),
    ];
    this.#write(formatReply({ code: 250, text: '' }, [greeting, ...keywords]));
  }

  async #cmdMail(argument: string): Promise<void> {
    if (!this.info.helo) return this.#error(REPLY.badSequence('send EHLO or HELO first'));
    if (this.#tx) return this.#error(REPLY.badSequence('nested MAIL command'));
    const parsed = parsePathArgument(argument, 'FROM');
    if (!parsed.ok) return this.#error(pathRefusal(parsed.problem, REPLY.badSender));
    if (lacksSmtpUtf8(parsed.path, parsed.params)) return this.#error(REPLY.needsSmtpUtf8);
    const verdict = await this.#options.handler.mailFrom(this.info, parsed.path, parsed.params);
    if (verdict.action !== 'accept') return this.#error(verdict.reply);
    this.#tx = { mailFrom: parsed.path, params: parsed.params, recipients: [] };
    this.#reply(verdict.reply ?? REPLY.senderOk);
  }

  async #cmdRcpt(argument: string): Promise<void> {
    const tx = this.#tx;
    if (!tx) return this.#error(REPLY.badSequence('need MAIL command first'));
    const parsed = parsePathArgument(argument, 'TO');
    if (!parsed.ok) return this.#error(pathRefusal(parsed.problem, REPLY.badRecipient));
    if (lacksSmtpUtf8(parsed.path, tx.params)) return this.#error(REPLY.needsSmtpUtf8);
    // RFC 5321 §4.5.3.1.8: a server must take at least 100 recipients; more get 452.
    if (tx.recipients.length >= this.#options.limits.maxRecipients) return this.#reply(REPLY.tooManyRecipients);
    const verdict = await this.#options.handler.rcptTo(this.info, tx, parsed.path, parsed.postmaster, parsed.params);
    if (verdict.action !== 'accept') return this.#error(verdict.reply);
    tx.recipients.push({ path: parsed.path, postmaster: parsed.postmaster, resolved: verdict.value });
    this.#reply(verdict.reply ?? REPLY.recipientOk);
  }

  #cmdData(argument: string): void {
    if (argument !== '') return this.#error(REPLY.syntax);
    const tx = this.#tx;
    if (!tx) return this.#error(REPLY.badSequence('need MAIL command first'));
    if (tx.recipients.length === 0) return this.#error(REPLY.noValidRecipients);
    const queueId = newQueueId();
    const limits = this.#options.limits;
    this.#data = {
      reader: new DataReader({
        maxMessageBytes: limits.maxMessageBytes,
        maxHeaderBytes: limits.maxHeaderBytes,
        maxHeaderFields: limits.maxHeaderFields,
      }),
      sink: this.#options.handler.openMessage(this.info, tx),
      queueId,
    };
    this.#reply(REPLY.startData);
    // The client sends the message only after 354; flush it now.
    this.#uncork();
    this.#cork();
  }

  /** RFC 4954 AUTH, only where the role authenticates, only inside TLS. */
  async #cmdAuth(argument: string): Promise<void> {
    if (!this.#options.handler.authenticate) return this.#error(REPLY.authNotHere);
    if (!this.info.helo?.esmtp) return this.#error(REPLY.badSequence('send EHLO first'));
    if (this.info.authenticated) return this.#error(REPLY.authTwice);
    if (this.#tx) return this.#error(REPLY.authInTransaction);
    const [mechanismText = '', initial, ...extra] = argument.split(' ');
    if (extra.length > 0) return this.#error(REPLY.syntax);
    const mechanism = mechanismText.toUpperCase();
    if (mechanism !== 'PLAIN' && mechanism !== 'LOGIN') return this.#error(REPLY.authMechanism);
    // RFC 4954 §4: a mechanism that sends the password in clear needs TLS (538).
    if (!this.info.tls) return this.#error(REPLY.authNeedsTls);
    this.#sasl = { mechanism };
    if (initial === undefined) {
      return this.#reply(REPLY.authChallenge(mechanism === 'PLAIN' ? '' : SASL_USERNAME_PROMPT));
    }
    await this.#saslResponse(initial === '=' ? '' : initial);
  }

  async #saslResponse(line: string): Promise<void> {
    const exchange = this.#sasl!;
    if (line === '*') {
      this.#sasl = null;
      return this.#error(REPLY.authCancelled);
    }
    const decoded = decodeBase64(line);
    if (decoded === undefined) {
      this.#sasl = null;
      return this.#error(REPLY.authBadResponse);
    }
    if (exchange.mechanism === 'LOGIN' && exchange.username === undefined) {
      exchange.username = decoded;
      return this.#reply(REPLY.authChallenge(SASL_PASSWORD_PROMPT));
    }
    this.#sasl = null;
    let username: string;
    let password: string;
    if (exchange.mechanism === 'LOGIN') {
      username = exchange.username!;
      password = decoded;
    } else {
      const plain = decodeSaslPlain(line);
      // An authorization identity other than the user itself is not supported.
      if (!plain || (plain.authzid !== '' && plain.authzid !== plain.username)) return this.#error(REPLY.authFailed);
      ({ username, password } = plain);
    }
    const verdict = await this.#options.handler.authenticate!(this.info, username, password);
    if (verdict.action !== 'accept') return this.#error(verdict.reply);
    this.info.authenticated = verdict.value;
    this.#reply(REPLY.authOk);
  }

  #cmdRset(argument: string): void {
    if (argument !== '') return this.#error(REPLY.syntax);
    this.#tx = null;
    this.#reply(REPLY.ok);
  }

  #cmdQuit(): void {
    this.#closeWith(REPLY.closing(this.#options.hostname));
  }

  async #cmdStartTls(argument: string): Promise<void> {
    if (argument !== '') return this.#error(REPLY.syntax);
    if (this.info.tls) return this.#error(REPLY.alreadyTls);
    const secureContext = this.#options.secureContext;
    if (!secureContext) return this.#error(REPLY.tlsUnavailable);
    this.#reply(REPLY.startTls);
    // What the client pipelined behind STARTTLS is discarded here (CVE-2011-0411).
    if (!(await this.#connection.upgradeToTls(secureContext))) {
      this.#options.logger.info({ session: this.info.id }, 'TLS handshake failed');
      return;
    }
    // RFC 3207 §4.2: forget everything learnt before TLS; the client must EHLO again.
    this.info.tls = this.#connection.tls;
    this.info.helo = null;
    this.info.authenticated = null;
    this.#tx = null;
    this.#cork();
  }

  // ── DATA ─────────────────────────────────────────────────────────────────

  /** Feeds buffered input to the DATA reader; true when the message is complete. */
  async #feedData(): Promise<boolean> {
    const phase = this.#data!;
    if (this.#in.length === 0) return false;
    const result = phase.reader.push(this.#in.takeAll());
    for (const chunk of result.content) {
      if (!phase.sink.append(chunk) && !this.#dataBackpressure) {
        this.#dataBackpressure = true;
        this.#connection.pauseInput();
        phase.sink.drainTarget()!.once('drain', () => {
          this.#dataBackpressure = false;
          this.#connection.resumeInput();
        });
      }
    }
    if (!result.done) return false;
    if (result.rest) this.#in.restore(result.rest);
    this.#data = null;
    await this.#finishMessage(phase);
    return true;
  }

  async #finishMessage(phase: DataPhase<M>): Promise<void> {
    const tx = this.#tx!;
    // RFC 5321 §4.1.4: after the end of data the transaction is over, whatever the reply.
    this.#tx = null;
    const { sink, reader } = phase;
    let verdict: Verdict;
    try {
      verdict = await this.#options.handler.data(this.info, tx, {
        queueId: phase.queueId,
        size: sink.size,
        sink,
        problem: reader.problem,
        receivedCount: reader.receivedCount,
      });
    } catch (err) {
      this.#options.logger.error({ session: this.info.id, queueId: phase.queueId, err }, 'delivery failed');
      await sink.discard();
      return this.#reply(REPLY.localError);
    }
    // A scratch copy of the content, if any, goes now.
    await sink.discard();
    this.#reply(verdict.action === 'accept' ? (verdict.reply ?? REPLY.accepted(phase.queueId)) : verdict.reply);
  }

  // ── output ───────────────────────────────────────────────────────────────

  #reply(reply: Reply): void {
    this.#write(formatReply(reply));
  }

  /** A refusal that counts toward the error limit (RFC 5321 §4.5.3.1 leaves the limit to us). */
  #error(reply: Reply): void {
    this.#reply(reply);
    if (reply.code >= 500 && ++this.#errors >= MAX_ERRORS) this.#closeWith(REPLY.tooManyErrors(this.#options.hostname));
  }

  #write(text: string): void {
    this.#connection.write(text);
  }

  #cork(): void {
    this.#connection.cork();
  }

  #uncork(): void {
    this.#connection.uncork();
  }

  #closeWith(reply: Reply): void {
    this.#connection.closeWith(formatReply(reply));
  }

  #onIdle(): void {
    this.#options.logger.info({ session: this.info.id, remote: this.info.remoteAddress }, 'idle timeout');
    this.#closeWith(REPLY.idleTimeout(this.#options.hostname));
  }

  #onClose(): void {
    const phase = this.#data;
    if (phase) {
      // The client went away mid-DATA: nothing was acknowledged, nothing is kept.
      this.#data = null;
      void phase.sink.discard();
    }
  }
}

function decodeBase64(text: string): string | undefined {
  if (text === '') return '';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, 'base64').toString('utf8');
}
