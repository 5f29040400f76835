// Session-level targets: a real kakitome in this thread (fuzz/lib/server.ts), driven
// through loopback sockets. Each input is what one client sends after the greeting
// (then QUIT and the end of its stream); afterwards the server must still answer a
// new connection — for POP3 with a login to the same maildrop, so a lock left behind
// (issue 10, defect 2) fails too — and nothing may have escaped as an unhandled
// rejection (defect 1; fuzz/worker.ts counts those against the input).
import { connect } from 'node:net';
import { apopDigest } from '../../src/auth/apop.ts';
import { corpusInputs } from '../lib/inputs.ts';
import { FUZZ_USER, startFuzzServer, type FuzzServer } from '../lib/server.ts';
import { invariant, type FuzzTarget } from '../lib/target.ts';

let server: FuzzServer | undefined;
const running = () => {
  if (!server) throw new Error('session target used before setup()');
  return server;
};

/**
 * A reply that starts a TLS handshake (STARTTLS, STLS): what the input sent after the
 * command was discarded by the server (CVE-2011-0411), so the client hangs up there.
 */
const TLS_READY = /(?:^|\r\n)(?:220 2\.0\.0 ready to start TLS|\+OK begin TLS negotiation)\r\n/;

/**
 * Connects, waits for the greeting, sends what `script` makes of it and then `trailer`
 * (which ends any state the input left open, then QUITs); resolves with everything the
 * server sent once it closed the connection.
 */
function converse(port: number, script: (greeting: string) => Buffer, trailer: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: running().host, port });
    let received = '';
    let sent = false;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\r\n');
      if (!sent && end >= 0) {
        sent = true;
        // No half-close: the server must end the session itself, on the trailer's QUIT.
        socket.write(Buffer.concat([script(received.slice(0, end)), Buffer.from(trailer)]));
      }
      if (TLS_READY.test(received)) socket.destroy();
    });
    // A reset after the server closed on us (it may refuse and close at once) is an answer too.
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? undefined : reject(error)));
    socket.on('close', () => resolve(received));
  });
}

const SMTP_TOKENS = ['EHLO client.test\r\n', 'HELO x\r\n', 'MAIL FROM:<a@b.test>\r\n', 'MAIL FROM:<>\r\n', 'RCPT TO:<alice@example.test>\r\n', 'RCPT TO:<postmaster>\r\n', 'RCPT TO:<x@elsewhere.test>\r\n', 'DATA\r\n', 'BDAT 10\r\n', '\r\n.\r\n', 'RSET\r\n', 'NOOP\r\n', 'VRFY alice\r\n', 'EXPN list\r\n', 'HELP\r\n', 'STARTTLS\r\n', 'AUTH PLAIN\r\n', 'AUTH LOGIN\r\n', 'QUIT\r\n', ' SIZE=99999999999', ' BODY=8BITMIME', ' SMTPUTF8', 'Received: x\r\n', 'From: a@b.test\r\n', '\r\n', '\n', '\r', '\0', 'GET / HTTP/1.1\r\n'];

/** Ends a DATA phase or a SASL exchange the input may have left open, then QUIT. */
const SMTP_TRAILER = '\r\n.\r\n*\r\nQUIT\r\n';
/** Cancels a SASL exchange (RFC 5034 §4: "*"), then QUIT. */
const POP3_TRAILER = '\r\n*\r\nQUIT\r\n';

/** RFC 5321 §4.2: Reply-code [ SP / "-" text ] CRLF, at most 512 octets (§4.5.3.1.5). */
const SMTP_REPLY_LINE = /^[2-5][0-5]\d(?:[ -][\x20-\x7e]*)?$/;

const smtpSession: FuzzTarget = {
  name: 'smtp-session',
  about: 'an SMTP client on port 25 (MTA): commands, pipelining, DATA, in any order, against a real server',
  ...corpusInputs('smtp-session', SMTP_TOKENS, 32_768),
  setup: async () => {
    server = await startFuzzServer();
  },
  teardown: async () => server?.stop(),
  async check(input) {
    const { ports } = running();
    const replies = await converse(ports.smtp, () => input, SMTP_TRAILER);
    for (const line of replies.split('\r\n').slice(0, -1)) {
      invariant(SMTP_REPLY_LINE.test(line) && line.length <= 510, `not an SMTP reply line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    const greeting = await running().greeting(ports.smtp);
    invariant(greeting.startsWith('220 '), `port 25 greets with ${JSON.stringify(greeting)}`);
  },
};

const POP3_TOKENS = ['%APOP%\r\n', 'USER alice@example.test\r\n', 'PASS x\r\n', 'APOP alice@example.test 0123456789abcdef0123456789abcdef\r\n', 'STAT\r\n', 'LIST\r\n', 'LIST 1\r\n', 'RETR 1\r\n', 'RETR 0\r\n', 'RETR 999\r\n', 'RETR -1\r\n', 'TOP 1 0\r\n', 'TOP 1 99999999999\r\n', 'DELE 1\r\n', 'RSET\r\n', 'UIDL\r\n', 'UIDL 2\r\n', 'NOOP\r\n', 'CAPA\r\n', 'STLS\r\n', 'AUTH PLAIN\r\n', 'AUTH\r\n', 'QUIT\r\n', ' ', '\r\n', '\n', '\0', '4294967296', '2'];
/** What a logged-in POP3 fuzz session needs at least, put back after inputs that DELE'd. */
const MESSAGES_KEPT = 3;

/** `%APOP%` in an input becomes a valid APOP login for this connection's greeting. */
function withLogin(input: Buffer, greeting: string): Buffer {
  const timestamp = /<[^>]*>/.exec(greeting)?.[0] ?? '';
  const login = Buffer.from(`APOP ${FUZZ_USER.address} ${apopDigest(timestamp, FUZZ_USER.apopSecret)}`);
  const parts: Buffer[] = [];
  let offset = 0;
  for (let at = input.indexOf('%APOP%'); at >= 0; at = input.indexOf('%APOP%', offset)) {
    parts.push(input.subarray(offset, at), login);
    offset = at + '%APOP%'.length;
  }
  parts.push(input.subarray(offset));
  return Buffer.concat(parts);
}

/** Delivers `count` messages to the fuzz user through port 25, as any sender would. */
async function deliver(count: number): Promise<void> {
  const script = Array.from({ length: count }, (_, i) => `MAIL FROM:<sender@elsewhere.test>\r\nRCPT TO:<${FUZZ_USER.address}>\r\nDATA\r\nFrom: sender@elsewhere.test\r\nSubject: ${i}\r\n\r\nline one\r\n..dotted\r\n.\r\n`).join('');
  const replies = await converse(running().ports.smtp, () => Buffer.from(`EHLO fuzz.test\r\n${script}`), SMTP_TRAILER);
  const accepted = replies.split('\r\n').filter((line) => /^250 2\.0\.0 /.test(line)).length;
  invariant(accepted >= count, `port 25 did not take the POP3 target's messages: ${replies}`);
}

const pop3Session: FuzzTarget = {
  name: 'pop3-session',
  about: 'a POP3 client on port 110: AUTHORIZATION and (after APOP) TRANSACTION commands, against a real server',
  ...corpusInputs('pop3-session', POP3_TOKENS, 16_384),
  setup: async () => {
    server = await startFuzzServer();
    await deliver(MESSAGES_KEPT);
  },
  teardown: async () => server?.stop(),
  async check(input) {
    const { ports } = running();
    await converse(ports.pop3, (greeting) => withLogin(input, greeting), POP3_TRAILER);
    // Still answering, and the maildrop is free again: a login and STAT succeed.
    const check = await converse(ports.pop3, (greeting) => withLogin(Buffer.from('%APOP%\r\nSTAT'), greeting), POP3_TRAILER);
    const stat = /\r\n\+OK (\d+) \d+\r\n/.exec(check.split(/\r\n(?=\+OK|-ERR)/).slice(0, 3).join('\r\n') + '\r\n');
    invariant(check.startsWith('+OK ') && stat, `POP3 no longer logs in and answers STAT: ${JSON.stringify(check.slice(0, 200))}`);
    const messages = Number(stat[1]);
    if (messages < MESSAGES_KEPT) await deliver(MESSAGES_KEPT - messages);
  },
};

export const SESSION_TARGETS = [smtpSession, pop3Session];
