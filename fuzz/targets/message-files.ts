// The mbox splitter (src/mail/message-files.ts) that reads a user's saved mail for spam
// training: any octets as an mbox. Checked against the splitting rule written plainly,
// line by line; every message CRLF only and no From_ line left at its start; no more
// bytes out than in (each bare LF may gain a CR); the same messages whatever the
// chunking, with those over a size limit dropped; and written back as mboxrd, the same
// messages again.
import { looksLikeFromLine, MboxSplitter, splitMbox, type SplitMessage } from '../../src/mail/message-files.ts';
import { corpusInputs } from '../lib/inputs.ts';
import { invariant, type FuzzTarget } from '../lib/target.ts';

/** The rule of src/mail/message-files.ts, on a string of latin1 lines. */
function splitPlainly(input: Buffer): string[] {
  const lines = input.toString('latin1').split('\n');
  const messages: string[][] = [];
  let afterBlank = true;
  lines.forEach((line, i) => {
    const terminated = i < lines.length - 1;
    if (!terminated && line === '') return;
    const content = terminated && line.endsWith('\r') ? line.slice(0, -1) : line;
    if (content.startsWith('From ') && (afterBlank || looksLikeFromLine(Buffer.from(content, 'latin1')))) {
      messages.push([]);
      afterBlank = false;
      return;
    }
    afterBlank = terminated && content === '';
    messages.at(-1)?.push(content.replace(/^>(>*From )/, '$1') + (terminated ? '\r\n' : ''));
  });
  return messages.map((message) => {
    if (message.at(-1) === '\r\n') message.pop(); // the separating empty line
    return message.join('');
  });
}

const FROM_LINE = 'From fuzz@example.com Thu Jan  1 00:00:00 1970\r\n';

/** mboxrd: a From_ line, the message with ">*From " lines quoted once more, an empty line. */
function writeMboxrd(messages: readonly Buffer[]): Buffer {
  return Buffer.from(messages.map((message) => {
    const text = message.toString('latin1');
    const quoted = text.split('\n').map((line) => (/^>*From /.test(line) ? `>${line}` : line)).join('\n');
    return `${FROM_LINE}${quoted}${text === '' || text.endsWith('\r\n') ? '' : '\r\n'}\r\n`;
  }).join(''), 'latin1');
}

const sameMessages = (a: readonly SplitMessage[], b: readonly SplitMessage[]) =>
  a.length === b.length && a.every((m, i) => (m === null || b[i] === null ? m === b[i] : m.equals(b[i]!)));

const mboxSplit: FuzzTarget = {
  name: 'mbox-split',
  about: 'mbox files given for spam training: From_ lines, >From quoting, LF and CRLF, chunking, the size limit',
  ...corpusInputs('mbox-split', ['From ', 'From a@b.example Mon Jan  1 10:00:00 2024\n', 'From - Sat Jan 01 00:00:00 2000\r\n', '>From ', '>>From ', '\n', '\r\n', '\n\n', '\r\n\r\n', '\r', '>', ' ', 'Jan', '12:34', '2024', 'Subject: x\n'], 65_536),
  check(input) {
    const messages = splitMbox(input);
    const plain = splitPlainly(input);
    invariant(messages.length === plain.length && messages.every((m, i) => m.toString('latin1') === plain[i]), 'split differs from the rule written plainly');
    let total = 0;
    for (const message of messages) {
      total += message.length;
      for (let lf = message.indexOf(0x0a); lf >= 0; lf = message.indexOf(0x0a, lf + 1)) invariant(message[lf - 1] === 0x0d, 'a bare LF in a message');
      const end = message.indexOf('\r\n');
      const first = end < 0 ? message : message.subarray(0, end);
      invariant(!looksLikeFromLine(first) || input.includes(Buffer.concat([Buffer.from('>'), first])), 'a message starts with a From_ line that was not quoted');
    }
    let lfs = 0;
    for (let lf = input.indexOf(0x0a); lf >= 0; lf = input.indexOf(0x0a, lf + 1)) lfs++;
    invariant(total <= input.length + lfs, 'more bytes out than in with a CR per LF');

    // Chunks of 1 to 97 bytes and a limit of 0 to 510 bytes, both from the input itself.
    const limit = 2 * (input.at(-1) ?? 0);
    const splitter = new MboxSplitter(limit);
    const chunked: SplitMessage[] = [];
    for (let at = 0, k = 0; at < input.length; k++) {
      const size = 1 + ((input[k % input.length]! * 7 + k) % 97);
      splitter.push(input.subarray(at, at + size), chunked);
      at += size;
    }
    splitter.end(chunked);
    invariant(sameMessages(chunked, messages.map((m) => (m.length > limit ? null : m))), 'chunked with a limit differs from splitMbox');

    const again = splitMbox(writeMboxrd(messages));
    const expected = messages.map((m) => (m.length === 0 || m.subarray(-2).equals(Buffer.from('\r\n')) ? m : Buffer.concat([m, Buffer.from('\r\n')])));
    invariant(sameMessages(again, expected), 'written back as mboxrd and split again, the messages differ');
  },
};

export const MESSAGE_FILE_TARGETS: readonly FuzzTarget[] = [mboxSplit];
