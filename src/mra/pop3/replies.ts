// Every POP3 reply kakitome sends (RFC 1939), with the response codes of RFC 2449 §8
// and RFC 3206 ([AUTH], [SYS/TEMP], [SYS/PERM], [IN-USE]). Named, never inlined.
export const POP3 = {
  ok: (text = '') => `+OK${text ? ` ${text}` : ''}\r\n`,
  err: (text: string) => `-ERR ${text}\r\n`,
} as const;

export const REPLY = {
  greeting: (host: string, timestamp: string | undefined) => POP3.ok(`${host} POP3 ready${timestamp ? ` ${timestamp}` : ''}`),
  signOff: (host: string) => POP3.ok(`${host} signing off`),
  signOffDeleted: (host: string, n: number) => POP3.ok(`${host} signing off (${n} message${n === 1 ? '' : 's'} deleted)`),
  expungeFailed: POP3.err('[SYS/TEMP] some deleted messages not removed, try again later'),
  unknownCommand: POP3.err('unknown command'),
  wrongState: POP3.err('command not valid in this state'),
  syntax: POP3.err('syntax error'),
  lineTooLong: POP3.err('line too long'),
  tooManyErrors: POP3.err('[SYS/PERM] too many errors, closing connection'),
  tooManyCommands: POP3.err('[SYS/PERM] too many commands before login, closing connection'),
  idle: POP3.err('[SYS/TEMP] autologout: idle for too long'),
  shuttingDown: POP3.err('[SYS/TEMP] server shutting down, try again later'),
  accessDenied: POP3.err('[SYS/PERM] access denied'),
  tooManyConnections: POP3.err('[SYS/TEMP] too many connections, try again later'),
  httpRefused: POP3.err('[SYS/PERM] this is a POP3 server, not a web server'),
  // authorization
  userOk: POP3.ok('send PASS'),
  plaintextRefused: POP3.err('plaintext login is refused before TLS: use STLS, or POP3S on port 995'),
  needUser: POP3.err('send USER first'),
  authFailed: POP3.err('[AUTH] authentication failed'),
  lockedOut: POP3.err('[SYS/TEMP] too many failed logins, try again later'),
  inUse: POP3.err('[IN-USE] mailbox is in use by another session'),
  loggedIn: (n: number, octets: number) => POP3.ok(`logged in, ${n} message${n === 1 ? '' : 's'} (${octets} octets)`),
  apopUnavailable: POP3.err('APOP is not offered here'),
  saslContinue: '+ \r\n',
  saslCancelled: POP3.err('authentication cancelled'),
  saslUnsupported: POP3.err('unsupported SASL mechanism'),
  storeFailed: POP3.err('[SYS/TEMP] mailbox unavailable, try again later'),
  /** [antivirus] rescan_on_retrieval: the engines could not rescan the message; it is not sent unscanned. */
  scanUnavailable: POP3.err('[SYS/TEMP] virus scanning unavailable, try again later'),
  // STLS (RFC 2595)
  startTls: POP3.ok('begin TLS negotiation'),
  alreadyTls: POP3.err('TLS already active'),
  // transaction
  noSuchMessage: POP3.err('no such message'),
  deleted: (n: number) => POP3.err(`message ${n} already deleted`),
  marked: (n: number) => POP3.ok(`message ${n} deleted`),
  reset: (n: number, octets: number) => POP3.ok(`maildrop has ${n} message${n === 1 ? '' : 's'} (${octets} octets)`),
} as const;

export const CAPA_HEADER = POP3.ok('capability list follows');
export const END_OF_MULTILINE = '.\r\n';
