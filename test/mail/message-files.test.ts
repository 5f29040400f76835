// Reading saved mail for spam training: mbox files (RFC 4155, mboxrd quoting, LF and
// CRLF), Maildirs, directories of message files and single files, made in a temporary
// directory; the errors a user sees; the size limit; an mbox streamed in chunks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { collectionKind, countMessages, readMessages, splitMbox, type MessageFile } from '../../src/mail/message-files.ts';

const text = (buffers: readonly Buffer[]) => buffers.map((b) => b.toString('latin1'));

/** Every message and every skip of a collection, as text. */
async function readAll(path: string, maxMessageBytes?: number) {
  const skipped: [string, string][] = [];
  const messages: MessageFile[] = [];
  const options = { onSkip: (name: string, reason: string) => void skipped.push([name, reason]), ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }) };
  for await (const message of readMessages(path, options)) messages.push(message);
  return { names: messages.map((m) => m.name), texts: text(messages.map((m) => m.bytes)), skipped };
}

const MBOX = [
  'From alice@example.com Mon Jan  1 10:00:00 2024',
  'From: alice@example.com',
  'Subject: one',
  '',
  'Quoted lines:',
  '>From the start',
  '>>From twice',
  '>not from',
  'From here on, a body line after a text line.',
  '',
  'From bob@example.com Tue Jan  2 11:00:00 2024',
  'Subject: two',
  '',
  'last line',
  '',
  '',
].join('\n');

const MBOX_MESSAGES = [
  'From: alice@example.com\r\nSubject: one\r\n\r\nQuoted lines:\r\nFrom the start\r\n>From twice\r\n>not from\r\nFrom here on, a body line after a text line.\r\n',
  'Subject: two\r\n\r\nlast line\r\n',
];

describe('message files', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kakitome-message-files-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function write(relative: string, contents: string | Buffer): string {
    const path = join(dir, relative);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, contents);
    return path;
  }

  /** A directory of files, by path below it; returns the directory. */
  function tree(name: string, files: Record<string, string>): string {
    for (const [relative, contents] of Object.entries(files)) write(join(name, relative), contents);
    return join(dir, name);
  }

  test('an mbox: From_ lines removed, >From unquoted once, LF made CRLF, the separating empty line dropped', async () => {
    const path = write('lf.mbox', MBOX);
    assert.equal(await collectionKind(path), 'mbox');
    const { names, texts, skipped } = await readAll(path);
    assert.deepEqual(texts, MBOX_MESSAGES);
    assert.deepEqual(names, [`${path}#1`, `${path}#2`]);
    assert.deepEqual(skipped, []);
    assert.equal(await countMessages(path), 2);
  });

  test('a CRLF mbox gives the same messages; CRLF is not doubled', async () => {
    const path = write('crlf.mbox', MBOX.replaceAll('\n', '\r\n'));
    assert.deepEqual((await readAll(path)).texts, MBOX_MESSAGES);
    assert.deepEqual(text(splitMbox(Buffer.from('From a\r\nX: 1\nY: 2\r\n'))), ['X: 1\r\nY: 2\r\n']);
  });

  test('"From " splits after an empty line or when it carries a date; otherwise it is body', () => {
    const messages = splitMbox(Buffer.from([
      'From - Sat Jan 01 00:00:00 2000', // Thunderbird's From_ line
      'Subject: a',
      '',
      'Hello,',
      'From my desk: no split, a text line is before it... ',
      'From 9 to 5, Monday to Friday',
      'From x@example.com Mon Jan  1 10:00:00 +0000 2018', // no empty line before, but a date: Gmail's export
      'Subject: b',
      '',
      'From the start, after an empty line: RFC 4155 splits here',
      'body of c',
    ].join('\n')));
    assert.deepEqual(text(messages), [
      'Subject: a\r\n\r\nHello,\r\nFrom my desk: no split, a text line is before it... \r\nFrom 9 to 5, Monday to Friday\r\n',
      'Subject: b\r\n',
      'body of c', // the last line had no LF: none is added
    ]);
  });

  test('lines before the first From_ line belong to no message; a From_ line with nothing after it is an empty message', () => {
    assert.deepEqual(text(splitMbox(Buffer.from('preamble\nFrom a Mon Jan  1 10:00:00 2024\nbody\n'))), ['body\r\n']);
    assert.deepEqual(text(splitMbox(Buffer.from('From a\n\nFrom b\nx\n'))), ['', 'x\r\n']);
    assert.deepEqual(splitMbox(Buffer.alloc(0)), []);
    assert.deepEqual(text(splitMbox(Buffer.from('From a\nx\n\n\n\n'))), ['x\r\n\r\n\r\n'], 'only the separating empty line goes');
  });

  test('an empty message in an mbox is told to onSkip, and counted', async () => {
    const path = write('empty-one.mbox', 'From a\n\nFrom b\nSubject: b\n');
    const { names, skipped } = await readAll(path);
    assert.deepEqual(names, [`${path}#2`]);
    assert.deepEqual(skipped, [[`${path}#1`, 'empty']]);
    assert.equal(await countMessages(path), 2);
  });

  test('a Maildir: cur/ then new/, each by name, not tmp/ nor dot files nor Maildir++ subfolders; LF made CRLF', async () => {
    const root = tree('Maildir', {
      'cur/1700000002.M2.host:2,S': 'Subject: cur 2\n\nb\n',
      'cur/1700000001.M1.host:2,S': 'Subject: cur 1\r\n\r\na\r\n',
      'new/1700000003.M3.host': 'Subject: new 3\n\nc\n',
      'tmp/1700000004.M4.host': 'Subject: being delivered\n\n',
      'cur/.hidden': 'Subject: hidden\n\n',
      '.Spam/cur/1700000005.M5.host:2,': 'Subject: another folder\n\n',
      'new/1700000006.M6.host': '',
    });
    assert.equal(await collectionKind(root), 'maildir');
    const { names, texts, skipped } = await readAll(root);
    assert.deepEqual(names, [
      join(root, 'cur/1700000001.M1.host:2,S'),
      join(root, 'cur/1700000002.M2.host:2,S'),
      join(root, 'new/1700000003.M3.host'),
    ]);
    assert.deepEqual(texts, ['Subject: cur 1\r\n\r\na\r\n', 'Subject: cur 2\r\n\r\nb\r\n', 'Subject: new 3\r\n\r\nc\r\n']);
    assert.deepEqual(skipped, [[join(root, 'new/1700000006.M6.host'), 'empty']]);
    assert.equal(await countMessages(root), 4);
    assert.equal(await collectionKind(join(root, '.Spam')), 'maildir', 'a Maildir++ folder named itself is a Maildir');
  });

  test('a directory: files depth first by name, dot files skipped, a Maildir inside read as one, an mbox inside split', async () => {
    const root = tree('saved', {
      'b.eml': 'Subject: b\n\n',
      'a.eml': 'Subject: a\n\n',
      '.DS_Store': 'junk',
      'sub/z.eml': 'Subject: sub z\n\n',
      'sub/deeper/x': 'Subject: deeper x (no .eml: any file)\n\n',
      'c-folder.mbox': 'From a Mon Jan  1 10:00:00 2024\nSubject: mbox 1\n\nFrom b Mon Jan  1 10:00:00 2024\nSubject: mbox 2\n',
      'd-maildir/cur/1:2,S': 'Subject: maildir cur\n\n',
      'd-maildir/tmp/2': 'Subject: maildir tmp\n\n',
      '.git/config': 'not mail',
    });
    assert.equal(await collectionKind(root), 'eml-directory');
    const { names, texts } = await readAll(root);
    assert.deepEqual(names, [
      join(root, 'a.eml'),
      join(root, 'b.eml'),
      `${join(root, 'c-folder.mbox')}#1`,
      `${join(root, 'c-folder.mbox')}#2`,
      join(root, 'd-maildir/cur/1:2,S'),
      join(root, 'sub/deeper/x'),
      join(root, 'sub/z.eml'),
    ]);
    assert.equal(texts[0], 'Subject: a\r\n\r\n');
    assert.equal(texts[2], 'Subject: mbox 1\r\n');
    assert.equal(await countMessages(root), 7);
  });

  test('a single message file: LF made CRLF, CRLF left alone, bare CR kept', async () => {
    const path = write('one.eml', 'Subject: mixed\r\nX: lf\n\r\nbody\rwith a bare CR\n');
    assert.equal(await collectionKind(path), 'eml');
    const { names, texts } = await readAll(path);
    assert.deepEqual(names, [path]);
    assert.deepEqual(texts, ['Subject: mixed\r\nX: lf\r\n\r\nbody\rwith a bare CR\r\n']);
    assert.equal(await countMessages(path), 1);
  });

  test('a missing path, a FIFO: one line naming the path', async () => {
    const missing = join(dir, 'no-such-mbox');
    const oneLine = (what: RegExp) => (error: Error) => !error.message.includes('\n') && error.message.startsWith(missing) && what.test(error.message);
    await assert.rejects(collectionKind(missing), oneLine(/: no such file or directory$/));
    await assert.rejects(countMessages(missing), oneLine(/: no such file or directory$/));
    await assert.rejects(readAll(missing), oneLine(/: no such file or directory$/));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(collectionKind(fifo), (error: Error) => !error.message.includes('\n') && error.message.startsWith(`${fifo}: not a file or a directory`));
    await assert.rejects(readAll(join(dir, 'one.eml', 'below-a-file')), /one\.eml\/below-a-file: a path component is not a directory$/);
  });

  test('a message over maxMessageBytes is skipped, not cut, and told to onSkip; one at the limit is read', async () => {
    const big = `Subject: big\r\n\r\n${'x'.repeat(100)}\r\n`; // 118 bytes
    const path = write('sizes.mbox', `From a\n${big}\nFrom b\nSubject: small\n\nFrom c\n${big}`);
    const { names, texts, skipped } = await readAll(path, 117);
    assert.deepEqual(names, [`${path}#2`]);
    assert.deepEqual(texts, ['Subject: small\r\n']);
    assert.deepEqual(skipped, [[`${path}#1`, 'larger than 117 bytes'], [`${path}#3`, 'larger than 117 bytes']]);
    assert.deepEqual((await readAll(path, 118)).skipped, []);
    assert.equal(await countMessages(path), 3);
    // A file: the limit is on the CRLF bytes, so 100 LF lines of 1 byte (200 bytes on disk) need 300.
    const file = write('lines.eml', 'x\n'.repeat(100));
    assert.deepEqual((await readAll(file, 299)).skipped, [[file, 'larger than 299 bytes']]);
    assert.equal((await readAll(file, 300)).texts[0], 'x\r\n'.repeat(100));
  });

  test('a multi-megabyte mbox read in chunks yields what splitMbox yields, lines longer than a chunk included', async () => {
    const parts: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const eol = i % 3 === 0 ? '\r\n' : '\n';
      const body = i % 500 === 7 ? 'y'.repeat(600_000) : `line ${i} `.repeat(1 + (i % 300));
      parts.push(
        i % 7 === 3 ? `From - Sat Jan 01 00:00:0${i % 10} 2000${eol}` : `${i === 0 ? '' : eol}From sender${i}@example.com Mon Jan  1 10:00:00 2024${eol}`,
        `Subject: message ${i}${eol}${eol}${body}${eol}>From quoted${eol}From unquoted after a text line${eol}`,
      );
    }
    const bytes = Buffer.from(parts.join(''), 'latin1');
    assert.ok(bytes.length > 4_000_000, `${bytes.length} bytes`);
    const path = write('large.mbox', bytes);
    const whole = splitMbox(readFileSync(path));
    assert.equal(whole.length, 2000);
    const { names, texts, skipped } = await readAll(path);
    assert.deepEqual(skipped, []);
    assert.equal(names.at(-1), `${path}#2000`);
    assert.ok(texts.every((t, i) => t === whole[i]!.toString('latin1')), 'a streamed message differs from splitMbox');
    assert.equal(texts.length, whole.length);
    assert.equal(await countMessages(path), 2000);
    // With a limit below the 600,000-byte lines, their messages are skipped and the rest unchanged.
    const limited = await readAll(path, 500_000);
    assert.deepEqual(limited.skipped.map(([name]) => name), [7, 507, 1007, 1507].map((i) => `${path}#${i + 1}`));
    assert.deepEqual(limited.texts, whole.filter((m) => m.length <= 500_000).map((m) => m.toString('latin1')));
  });
});
