// SMTP command syntax: MAIL/RCPT arguments and paths (src/smtp/path.ts, mailbox.ts,
// address-literal.ts), the command line splitter (src/net/command-input.ts), the
// DATA reader (src/smtp/data-reader.ts) and SASL PLAIN (src/auth/sasl-plain.ts).
import fc from 'fast-check';
import { isHeloArgument, parsePathArgument } from '../../src/smtp/path.ts';
import { isDomain, parseMailbox } from '../../src/smtp/mailbox.ts';
import { isAddressLiteral } from '../../src/smtp/address-literal.ts';
import { CommandInput, LINE_TOO_LONG } from '../../src/net/command-input.ts';
import { DataReader } from '../../src/smtp/data-reader.ts';
import { decodeSaslPlain } from '../../src/auth/sasl-plain.ts';
import { corpusInputs } from '../lib/inputs.ts';
import { invariant, type FuzzTarget } from '../lib/target.ts';

/** An input for the chunking targets: chunk lengths, 0xfe, then the stream (see cutAsSent). */
function chunkedInputs(name: string, tokens: readonly string[]) {
  const { seeds, inputs } = corpusInputs(name, tokens, 16_384);
  return { seeds, inputs: fc.tuple(inputs, fc.array(fc.nat({ max: 253 }), { maxLength: 12 })).map(([bytes, cuts]) => Buffer.concat([Buffer.from(cuts), Buffer.of(0xfe), bytes])) };
}

/**
 * The stream and its chunks as they would arrive from a socket: the bytes before the
 * first 0xfe are chunk lengths; an input without 0xfe (a corpus file) is one chunk.
 */
function cutAsSent(input: Buffer): { stream: Buffer; chunks: Buffer[] } {
  const mark = input.indexOf(0xfe);
  if (mark < 0) return { stream: input, chunks: [input] };
  const stream = input.subarray(mark + 1);
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const cut of input.subarray(0, mark)) {
    chunks.push(stream.subarray(offset, offset + cut));
    offset += cut;
  }
  chunks.push(stream.subarray(offset));
  return { stream, chunks };
}

const PATH_TOKENS = ['FROM:', 'TO:', '<', '>', '<>', '@', '"', '\\', ':', ',', '.', '[', ']', 'IPv6:', '::', ' ', 'SIZE=', 'BODY=8BITMIME', 'SMTPUTF8', 'AUTH=<>', 'RET=HDRS', 'ENVID=x', 'NOTIFY=NEVER', '=', 'postmaster', 'Postmaster', 'xn--', 'é', '\u00ff', '\u3042', '\r', '\n', '\0', '%', '!', '127.0.0.1', 'example.test'];

const smtpPath: FuzzTarget = {
  name: 'smtp-path',
  about: 'MAIL FROM / RCPT TO arguments and HELO/EHLO arguments from the client',
  ...corpusInputs('smtp-path', PATH_TOKENS, 4096),
  check(input) {
    const text = input.toString('utf8');
    isHeloArgument(text);
    for (const keyword of ['FROM', 'TO'] as const) {
      const parsed = parsePathArgument(text, keyword);
      if (!parsed.ok || !parsed.path) continue;
      const { path } = parsed;
      // Issue 10 defect 5: outside quotes there is one "@", so no domain holds another.
      if (!path.domainLiteral) invariant(!path.domain.includes('@') && isDomain(path.domain), `domain ${JSON.stringify(path.domain)} is no Domain`);
      else invariant(isAddressLiteral(`[${path.domain}]`), `literal ${JSON.stringify(path.domain)} is no address literal`);
      invariant(Buffer.byteLength(path.raw) <= 254, 'path longer than RFC 5321 §4.5.3.1.3 allows');
      invariant(!/[\r\n\0]/.test(path.address), 'control character in a parsed address');
      const again = parseMailbox(path.raw);
      invariant(again?.address === path.address, `parsing ${JSON.stringify(path.raw)} twice differs`);
    }
  },
};

const commandLines: FuzzTarget = {
  name: 'command-lines',
  about: 'the byte stream of an SMTP/POP3 session cut into command lines, in any chunking',
  ...chunkedInputs('command-lines', ['\r\n', '\n', '\r', 'EHLO x', 'QUIT', '\0', ' ']),
  check(input) {
    const { stream, chunks } = cutAsSent(input);
    const linesOf = (chunks: Buffer[]) => {
      const commandInput = new CommandInput();
      const lines: (string | symbol)[] = [];
      for (const chunk of chunks) {
        commandInput.append(chunk);
        for (let line = commandInput.takeLine(64); line !== undefined; line = commandInput.takeLine(64)) {
          invariant(line === LINE_TOO_LONG || (Buffer.byteLength(line) <= 64 * 3 && !line.includes('\n')), 'a line over the bound or holding LF');
          lines.push(line);
        }
      }
      return lines;
    };
    const whole = linesOf([stream]);
    const pieces = linesOf(chunks);
    invariant(JSON.stringify(whole.map(String)) === JSON.stringify(pieces.map(String)), 'lines depend on how the input was cut');
  },
};

const DATA_TOKENS = ['\r\n', '\r\n.\r\n', '\r\n..', '.', '\r', '\n', '\0', 'Received: x\r\n', 'Subject: ', ':', ' ', '\t', '\r\n\r\n', 'MAIL FROM:<a@b>\r\n'];
const LIMITS = { maxMessageBytes: 4096, maxHeaderBytes: 1024, maxHeaderFields: 20 };

const dataReader: FuzzTarget = {
  name: 'data-reader',
  about: 'the DATA phase: dot-stuffing, the terminator, bare CR/LF, NUL and the size and header limits',
  ...chunkedInputs('data-reader', DATA_TOKENS),
  check(input) {
    const { stream, chunks } = cutAsSent(input);
    const read = (chunks: Buffer[]) => {
      const reader = new DataReader(LIMITS);
      const content: Buffer[] = [];
      for (const [i, chunk] of chunks.entries()) {
        const result = reader.push(chunk);
        content.push(...result.content);
        // What follows the terminator, in this chunk and the later ones, is the next command.
        const rest = () => Buffer.concat([result.rest ?? Buffer.alloc(0), ...chunks.slice(i + 1)]);
        if (result.done) return { content: Buffer.concat(content), rest: rest(), problem: reader.problem, received: reader.receivedCount };
      }
      return { content: Buffer.concat(content), rest: undefined, problem: reader.problem, received: reader.receivedCount };
    };
    const whole = read([stream]);
    const pieces = read(chunks);
    invariant(whole.content.equals(pieces.content), 'message content depends on how DATA was cut');
    invariant(whole.problem === pieces.problem, `problem ${whole.problem} vs ${pieces.problem} by chunking`);
    invariant(whole.received === pieces.received, 'Received count depends on chunking');
    invariant((whole.rest === undefined) === (pieces.rest === undefined) && (!whole.rest || whole.rest.equals(pieces.rest!)), 'end of data depends on chunking');
    if (whole.problem === undefined) {
      // Accepted content holds no bare CR, bare LF or NUL and ends before the terminator.
      invariant(!/\r(?!\n)|(?<!\r)\n|\0/.test(whole.content.toString('latin1')), 'accepted content holds a bare CR/LF or NUL');
      invariant(whole.content.length <= LIMITS.maxMessageBytes, 'accepted content over the size limit');
    }
  },
};

const saslPlain: FuzzTarget = {
  name: 'sasl-plain',
  about: 'AUTH PLAIN responses (base64 of authzid NUL authcid NUL password)',
  ...corpusInputs('sasl-plain', ['=', '==', 'AA', 'AGEAYg==', '+', '/', '*', ' '], 2048),
  check(input) {
    const credentials = decodeSaslPlain(input.toString('latin1'));
    if (credentials) invariant(credentials.username !== '' && credentials.password !== '', 'empty username or password accepted');
  },
};

export const SMTP_SYNTAX_TARGETS = [smtpPath, commandLines, dataReader, saslPlain];
