// One POP3 session (RFC 1939) on one socket, one handler per command.
//
// SECURITY: no password crosses the wire in clear: USER/PASS and AUTH PLAIN are
// refused before TLS (port 110 until STLS; port 995 is TLS from the start), and CAPA
// does not offer them there. APOP (a digest, never the password) is allowed in clear
// for old clients. Whatever a client pipelines behind STLS is discarded before the
// handshake. Logins go through the shared lockout; failures look the same whether or
// not the user exists. One session per maildrop; only QUIT in TRANSACTION deletes.
// STANDARDS: RFC 1939, RFC 2449 (CAPA, response codes), RFC 2595 (STLS), RFC 3206
// ([SYS/*], [AUTH]), RFC 5034 (AUTH), RFC 4616 (PLAIN).
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { LineConnection } from '../../net/line-connection.ts';
import type { Logger } from 'pino';
import type { AccountStore, UserRecord } from '../../store/accounts.ts';
import type { MailboxStore } from '../../store/mailboxes.ts';
import type { GrantStore } from '../../store/grants.ts';
import type { AuthLockout } from '../../policy/access/lockout.ts';
import { apopTimestamp } from '../../auth/apop.ts';
import { decodeSaslPlain } from '../../auth/sasl-plain.ts';
import { loginWithApop, loginWithPassword, type LoginResult } from '../../auth/login.ts';
import { dotStuffedPieces, topOfMessage } from './dot-stuffing.ts';
import { type CommandInput, HTTP_REQUEST, LINE_TOO_LONG } from '../../net/command-input.ts';
import { Maildrop, type MaildropLocks } from './maildrop.ts';
import { RetrievalScanUnavailable, type RetrievalScan } from '../retrieval-scan.ts';
import { CAPA_HEADER, END_OF_MULTILINE, POP3, REPLY } from './replies.ts';

/** RFC 2449 §4: command lines are at most 255 octets with the CRLF. */
const MAX_COMMAND_LINE = 255;
/** SASL responses carry base64 and may be longer (RFC 5034 §4). */
const MAX_SASL_LINE = 2048;
const MAX_ERRORS = 10;
/** Commands allowed before a successful login: enough for CAPA, STLS and a few tries. */
const MAX_COMMANDS_BEFORE_LOGIN = 30;
const MAX_BUFFERED_INPUT = 64 * 1024;

export interface Pop3SessionOptions {
  hostname: string;
  accounts: Pick<AccountStore, 'getUser'>;
  mailboxes: MailboxStore;
  locks: MaildropLocks;
  lockout: AuthLockout;
  apop: boolean;
  idleTimeoutMs: number;
  /** For STLS; undefined on port 995, which is TLS from the start. */
  secureContext: SecureContext | undefined;
  popBeforeSmtp: { grants: Pick<GrantStore, 'recordPopLogin'>; ttlMs: number } | undefined;
  /** [antivirus] rescan_on_retrieval: RETR and TOP send what this returns. */
  rescan?: RetrievalScan;
  logger: Logger;
}

type State = 'authorization' | 'transaction';
type CommandHandler = (argument: string) => Promise<void> | void;

interface Transaction {
  user: UserRecord;
  maildrop: Maildrop;
  release: () => void;
}

export class Pop3Session {
  readonly remoteAddress: string;
  readonly #options: Pop3SessionOptions;
  readonly #connection: LineConnection;
  #state: State = 'authorization';
  readonly #in: CommandInput;
  #processing = false;
  #errors = 0;
  #commandsBeforeLogin = 0;
  #userName: string | undefined;
  #saslPending = false;
  #timestamp: string | undefined;
  #tx: Transaction | undefined;
  #shutdownRequested = false;
  readonly #authorization: Record<string, CommandHandler>;
  readonly #transaction: Record<string, CommandHandler>;

  constructor(socket: Socket, options: Pop3SessionOptions) {
    this.#options = options;
    this.#connection = new LineConnection(socket, {
      idleTimeoutMs: options.idleTimeoutMs,
      maxBufferedInput: MAX_BUFFERED_INPUT,
      onInput: () => void this.#pump(),
      onIdle: () => this.#closeWith(REPLY.idle),
      onClose: () => this.#onClose(),
      onError: (err) => options.logger.debug({ remote: this.remoteAddress, err: err.message }, 'socket error'),
    });
    this.#in = this.#connection.input;
    this.remoteAddress = this.#connection.remoteAddress;
    // One handler per command, per state (RFC 1939 §4-§7, RFC 2449, RFC 2595, RFC 5034).
    const common = { CAPA: () => this.#cmdCapa(), QUIT: () => this.#cmdQuit() };
    this.#authorization = {
      ...common,
      USER: (arg) => this.#cmdUser(arg),
      PASS: (arg) => this.#cmdPass(arg),
      APOP: (arg) => this.#cmdApop(arg),
      AUTH: (arg) => this.#cmdAuth(arg),
      STLS: (arg) => this.#cmdStls(arg),
    };
    this.#transaction = {
      ...common,
      STAT: (arg) => this.#cmdStat(arg),
      LIST: (arg) => this.#cmdList(arg),
      RETR: (arg) => this.#cmdRetr(arg),
      DELE: (arg) => this.#cmdDele(arg),
      NOOP: (arg) => (arg ? this.#error(REPLY.syntax) : this.#write(POP3.ok())),
      RSET: (arg) => this.#cmdRset(arg),
      TOP: (arg) => this.#cmdTop(arg),
      UIDL: (arg) => this.#cmdUidl(arg),
    };
  }

  get closed(): Promise<void> {
    return this.#connection.closed;
  }

  start(): void {
    this.#connection.start();
    this.#timestamp = this.#options.apop ? apopTimestamp(this.#options.hostname) : undefined;
    this.#write(REPLY.greeting(this.#options.hostname, this.#timestamp));
  }

  /** Ends the session at once (refused at connect). */
  refuse(reply: string): void {
    this.#closeWith(reply);
  }

  /** SIGTERM: nothing is deleted; an idle session is told now, a busy one after its command. */
  shutdown(): Promise<void> {
    this.#shutdownRequested = true;
    if (!this.#processing) this.#closeWith(REPLY.shuttingDown);
    return this.#connection.closed;
  }

  // ── input ────────────────────────────────────────────────────────────────

  get #closed(): boolean {
    return this.#connection.closing;
  }

  get #tls(): boolean {
    return this.#connection.tls !== null;
  }

  async #pump(): Promise<void> {
    if (this.#processing) return;
    this.#processing = true;
    try {
      for (let line = this.#takeLine(); line !== undefined && !this.#closed; line = this.#takeLine()) {
        await this.#dispatch(line);
      }
    } catch (err) {
      this.#options.logger.error({ remote: this.remoteAddress, err }, 'POP3 session failed');
      this.#closeWith(REPLY.storeFailed);
    } finally {
      this.#processing = false;
      if (this.#shutdownRequested) this.#closeWith(REPLY.shuttingDown);
      this.#connection.resumeInput();
    }
  }

  #takeLine(): string | undefined {
    // The bounds count the CRLF; CommandInput counts the line without its line end.
    const limit = (this.#saslPending ? MAX_SASL_LINE : MAX_COMMAND_LINE) - 2;
    for (;;) {
      const line = this.#in.takeLine(limit);
      if (line !== LINE_TOO_LONG) return line;
      this.#error(REPLY.lineTooLong);
    }
  }

  async #dispatch(line: string): Promise<void> {
    if (this.#saslPending) return this.#saslResponse(line);
    if (HTTP_REQUEST.test(line)) return this.#closeWith(REPLY.httpRefused);
    if (this.#state === 'authorization' && ++this.#commandsBeforeLogin > MAX_COMMANDS_BEFORE_LOGIN) {
      return this.#closeWith(REPLY.tooManyCommands);
    }
    if (/[\x00-\x1f\x7f]/.test(line)) return this.#error(REPLY.syntax);
    const space = line.indexOf(' ');
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const argument = space < 0 ? '' : line.slice(space + 1);
    const table = this.#state === 'authorization' ? this.#authorization : this.#transaction;
    const handler = Object.hasOwn(table, verb) ? table[verb] : undefined;
    if (handler) return handler(argument);
    const other = this.#state === 'authorization' ? this.#transaction : this.#authorization;
    this.#error(Object.hasOwn(other, verb) ? REPLY.wrongState : REPLY.unknownCommand);
  }

  // ── AUTHORIZATION ────────────────────────────────────────────────────────

  #cmdCapa(): void {
    const plaintextOk = this.#tls;
    const lines = [
      'TOP',
      'UIDL',
      'RESP-CODES',
      'AUTH-RESP-CODE',
      'PIPELINING',
      ...(plaintextOk && this.#state === 'authorization' ? ['USER', 'SASL PLAIN'] : []),
      ...(!this.#tls && this.#options.secureContext && this.#state === 'authorization' ? ['STLS'] : []),
    ];
    this.#write(CAPA_HEADER + lines.map((line) => `${line}\r\n`).join('') + END_OF_MULTILINE);
  }

  #cmdUser(argument: string): void {
    if (!this.#tls) return this.#error(REPLY.plaintextRefused);
    if (argument === '') return this.#error(REPLY.syntax);
    this.#userName = argument;
    this.#write(REPLY.userOk);
  }

  async #cmdPass(argument: string): Promise<void> {
    if (!this.#tls) return this.#error(REPLY.plaintextRefused);
    const name = this.#userName;
    this.#userName = undefined;
    if (name === undefined) return this.#error(REPLY.needUser);
    const { accounts, lockout } = this.#options;
    await this.#completeLogin(name, 'USER', await loginWithPassword(accounts, lockout, this.remoteAddress, name, argument));
  }

  async #cmdApop(argument: string): Promise<void> {
    const match = /^(\S+) ([0-9A-Fa-f]{32})$/.exec(argument);
    if (!this.#timestamp) return this.#error(REPLY.apopUnavailable);
    if (!match) return this.#error(REPLY.syntax);
    const { accounts, lockout } = this.#options;
    const result = await loginWithApop(accounts, lockout, this.remoteAddress, match[1]!, this.#timestamp, match[2]!);
    await this.#completeLogin(match[1]!, 'APOP', result);
  }

  async #cmdAuth(argument: string): Promise<void> {
    const [mechanism, initial, ...rest] = argument.split(' ');
    if (!mechanism || rest.length > 0) return this.#error(REPLY.syntax);
    if (mechanism.toUpperCase() !== 'PLAIN') return this.#error(REPLY.saslUnsupported);
    if (!this.#tls) return this.#error(REPLY.plaintextRefused);
    if (initial === undefined) {
      // RFC 5034 §4: an empty challenge, then the client's response on its own line.
      this.#saslPending = true;
      return this.#write(REPLY.saslContinue);
    }
    await this.#saslPlain(initial === '=' ? '' : initial);
  }

  async #saslResponse(line: string): Promise<void> {
    this.#saslPending = false;
    if (line === '*') return this.#error(REPLY.saslCancelled);
    await this.#saslPlain(line);
  }

  async #saslPlain(response: string): Promise<void> {
    const credentials = decodeSaslPlain(response);
    // An authorization identity other than the user itself is not supported.
    if (!credentials || (credentials.authzid !== '' && credentials.authzid !== credentials.username)) {
      return this.#error(REPLY.authFailed);
    }
    const { accounts, lockout } = this.#options;
    const result = await loginWithPassword(accounts, lockout, this.remoteAddress, credentials.username, credentials.password);
    await this.#completeLogin(credentials.username, 'AUTH PLAIN', result);
  }

  async #completeLogin(name: string, method: string, result: LoginResult): Promise<void> {
    const log = { remote: this.remoteAddress, user: name, method, tls: this.#tls };
    if (!result.ok) {
      this.#options.logger.info({ ...log, reason: result.reason }, 'POP3 login refused');
      return this.#error(result.reason === 'locked' ? REPLY.lockedOut : REPLY.authFailed);
    }
    // The password check took a while: a client that has gone meanwhile gets no lock.
    if (this.#closed) return;
    const { mailboxes, locks } = this.#options;
    const release = locks.acquire(result.user.id);
    // RFC 2449 §8.1.1: [IN-USE] only after the credentials were accepted.
    if (!release) return this.#error(REPLY.inUse);
    let maildrop: Maildrop;
    try {
      maildrop = await Maildrop.open(mailboxes, result.user.id, this.#options.rescan);
    } catch (err) {
      release();
      throw err;
    }
    // Closed while the maildrop was read: #onClose ran before there was a lock to release.
    if (this.#closed) return release();
    this.#tx = { user: result.user, maildrop, release };
    this.#state = 'transaction';
    const pbs = this.#options.popBeforeSmtp;
    if (pbs) await pbs.grants.recordPopLogin(this.remoteAddress, result.user.id, pbs.ttlMs);
    const { count, octets } = maildrop.stat();
    this.#options.logger.info({ ...log, user: result.user.address, messages: count }, 'POP3 login');
    this.#write(REPLY.loggedIn(count, octets));
  }

  async #cmdStls(argument: string): Promise<void> {
    if (argument !== '') return this.#error(REPLY.syntax);
    if (this.#tls) return this.#error(REPLY.alreadyTls);
    const secureContext = this.#options.secureContext;
    if (!secureContext) return this.#error(REPLY.unknownCommand);
    this.#write(REPLY.startTls);
    // RFC 2595 §4 and the "NO STARTTLS" injection class: what was pipelined in clear
    // behind STLS never runs inside TLS; the connection discards it.
    if (!(await this.#connection.upgradeToTls(secureContext))) return;
    // Forget everything from before TLS (a USER name given in clear, for one).
    this.#userName = undefined;
  }

  #cmdQuit(): Promise<void> | void {
    if (this.#state === 'authorization') return this.#closeWith(REPLY.signOff(this.#options.hostname));
    return this.#update();
  }

  /** RFC 1939 §6: the UPDATE state, entered only by QUIT from TRANSACTION. */
  async #update(): Promise<void> {
    const tx = this.#tx!;
    let deleted: number;
    try {
      deleted = await tx.maildrop.expunge();
    } catch (err) {
      this.#options.logger.error({ remote: this.remoteAddress, user: tx.user.address, err }, 'POP3 expunge failed');
      return this.#closeWith(REPLY.expungeFailed);
    }
    this.#closeWith(REPLY.signOffDeleted(this.#options.hostname, deleted));
  }

  // ── TRANSACTION ──────────────────────────────────────────────────────────

  #maildrop(): Maildrop {
    return this.#tx!.maildrop;
  }

  /** The live message named by a message-number argument, or a reply already sent. */
  #live(argument: string): { n: number; size: number; id: number } | undefined {
    if (!/^\d{1,9}$/.test(argument)) {
      this.#error(REPLY.syntax);
      return undefined;
    }
    const n = Number(argument);
    const entry = this.#maildrop().message(n);
    if (!entry) {
      this.#error(REPLY.noSuchMessage);
      return undefined;
    }
    if (entry.deleted) {
      this.#error(REPLY.deleted(n));
      return undefined;
    }
    return { n, size: entry.message.size, id: entry.message.id };
  }

  #cmdStat(argument: string): void {
    if (argument !== '') return this.#error(REPLY.syntax);
    const { count, octets } = this.#maildrop().stat();
    this.#write(POP3.ok(`${count} ${octets}`));
  }

  #cmdList(argument: string): void {
    if (argument !== '') {
      const live = this.#live(argument);
      if (live) this.#write(POP3.ok(`${live.n} ${live.size}`));
      return;
    }
    const { count, octets } = this.#maildrop().stat();
    const lines = [...this.#maildrop().live()].map(([n, m]) => `${n} ${m.size}\r\n`);
    this.#write(POP3.ok(`${count} message${count === 1 ? '' : 's'} (${octets} octets)`) + lines.join('') + END_OF_MULTILINE);
  }

  #cmdUidl(argument: string): void {
    if (argument !== '') {
      const live = this.#live(argument);
      if (live) this.#write(POP3.ok(`${live.n} ${this.#maildrop().message(live.n)!.message.uidl}`));
      return;
    }
    const lines = [...this.#maildrop().live()].map(([n, m]) => `${n} ${m.uidl}\r\n`);
    this.#write(POP3.ok() + lines.join('') + END_OF_MULTILINE);
  }

  async #cmdRetr(argument: string): Promise<void> {
    const live = this.#live(argument);
    if (!live) return;
    const content = await this.#scanned(this.#maildrop().content(live.n, this.#upcomingRetrievals()));
    if (!content) return this.#error(REPLY.scanUnavailable);
    // The size sent, which differs from the listing's only when a rescan put a notice in its place.
    await this.#sendMultiline(POP3.ok(`${content.length} octets`), dotStuffedPieces(content));
  }

  /** The content, or undefined when a rescan at retrieval could not scan it (the message is not sent). */
  async #scanned(read: Promise<Buffer>): Promise<Buffer | undefined> {
    try {
      return await read;
    } catch (err) {
      if (err instanceof RetrievalScanUnavailable) return undefined;
      throw err;
    }
  }

  async #cmdTop(argument: string): Promise<void> {
    const match = /^(\d{1,9}) (\d{1,9})$/.exec(argument);
    if (!match) return this.#error(REPLY.syntax);
    const live = this.#live(match[1]!);
    if (!live) return;
    const content = await this.#scanned(this.#maildrop().content(live.n));
    if (!content) return this.#error(REPLY.scanUnavailable);
    await this.#sendMultiline(POP3.ok(), dotStuffedPieces(topOfMessage(content, Number(match[2]))));
  }

  #cmdDele(argument: string): void {
    const live = this.#live(argument);
    if (!live) return;
    this.#maildrop().markDeleted(live.n);
    this.#write(REPLY.marked(live.n));
  }

  #cmdRset(argument: string): void {
    if (argument !== '') return this.#error(REPLY.syntax);
    this.#maildrop().unmarkAll();
    const { count, octets } = this.#maildrop().stat();
    this.#write(REPLY.reset(count, octets));
  }

  /** Message numbers of RETR commands already waiting in the input (pipelining), to read ahead. */
  #upcomingRetrievals(): number[] {
    if (this.#in.length === 0) return [];
    const text = this.#in.peek(4096).toString('latin1');
    return [...text.matchAll(/^RETR (\d{1,9})\r?$/gim)].map((m) => Number(m[1]));
  }

  // ── output ───────────────────────────────────────────────────────────────

  /** Status line, stuffed content and terminator in one write; waits when the socket is full. */
  async #sendMultiline(status: string, body: readonly Buffer[]): Promise<void> {
    if (this.#closed) return;
    const connection = this.#connection;
    connection.cork();
    connection.write(status);
    for (const piece of body) connection.write(piece);
    const more = connection.write(END_OF_MULTILINE);
    connection.uncork();
    if (!more) await connection.drained();
  }

  #write(text: string): void {
    this.#connection.write(text);
  }

  #error(reply: string): void {
    this.#write(reply);
    if (++this.#errors >= MAX_ERRORS) this.#closeWith(REPLY.tooManyErrors);
  }

  #closeWith(reply: string): void {
    if (this.#closed) return;
    this.#connection.closeWith(reply);
    this.#releaseMaildrop();
  }

  #releaseMaildrop(): void {
    this.#tx?.release();
  }

  #onClose(): void {
    // A dropped connection never reaches UPDATE: nothing marked is deleted.
    this.#releaseMaildrop();
  }
}
