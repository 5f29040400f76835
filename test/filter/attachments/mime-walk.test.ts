import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { walkMime, type MimeEvent, type MimePart, type MimeWalkOptions } from '../../../src/filter/attachments/mime-walk.ts';
import { MessageContent } from '../../../src/intake/content.ts';
import { attachment, base64Lines, entity, message, multipartBody, tempDir } from './fixtures.ts';

interface Seen {
  part: Omit<MimePart, 'body'>;
  body: Buffer | undefined;
  inMemory: boolean | undefined;
}

async function walk(raw: Buffer | Buffer[], scratchDir: string, options: Partial<MimeWalkOptions> = {}): Promise<{ parts: Seen[]; problems: string[] }> {
  const parts: Seen[] = [];
  const problems: string[] = [];
  for await (const event of walkMime(raw, { spool: { memoryLimit: 1024, maxSize: 1 << 20, scratchDir }, ...options }) as AsyncIterable<MimeEvent>) {
    if (event.kind === 'problem') {
      problems.push(event.problem);
      continue;
    }
    const { body, ...part } = event;
    parts.push({ part, body: body ? await body.read(0, body.size) : undefined, inMemory: body?.inMemory });
  }
  return { parts, problems };
}

const leaves = (parts: Seen[]) => parts.filter((p) => p.part.structure === 'leaf');
const text = (raw: Buffer, part: Seen) => raw.toString('latin1', part.part.range.start, part.part.range.end);

test('ranges cover each part from its header to the end of its body, without the CRLF before the boundary', async (t) => {
  const zip = Buffer.from('PK\x03\x04 not really a zip, but it starts like one', 'latin1');
  const raw = message([attachment('a.zip', zip), { headers: ['Content-Type: text/html'], body: '<p>x</p>\r\n' }]);
  const { parts, problems } = await walk(raw, tempDir(t));
  assert.deepEqual(problems, []);
  const [plain, archive, html] = leaves(parts);
  assert.equal(text(raw, plain!), 'Content-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.');
  assert.equal(text(raw, archive!), entity(attachment('a.zip', zip)).toString('latin1'));
  assert.equal(text(raw, html!), 'Content-Type: text/html\r\n\r\n<p>x</p>\r\n');
  assert.deepEqual(leaves(parts).map((p) => p.part.number), [[1], [2], [3]]);
  assert.equal(archive!.part.archive, 'zip');
  assert.deepEqual(archive!.body, zip);
  assert.equal(archive!.part.decodedSize, zip.length);
  assert.equal(raw.toString('latin1', archive!.part.bodyStart, archive!.part.range.end), base64Lines(zip));
  // The container comes last, covering the whole message.
  assert.deepEqual(parts.at(-1)!.part.range, { start: 0, end: raw.length });
  assert.equal(parts.at(-1)!.part.structure, 'multipart');
  // Removing a part with a ContentEdit leaves a well-formed multipart.
  const edited = await MessageContent.fromBuffer(raw).edit([{ ...archive!.part.range, insert: Buffer.from('Content-Type: text/plain\r\n\r\n(removed)') }]).read();
  const again = await walk(edited, tempDir(t));
  assert.deepEqual(leaves(again.parts).map((p) => p.part.mediaType), ['text/plain', 'text/plain', 'text/html']);
  assert.deepEqual(again.problems, []);
});

test('the same parts whatever the input\'s pieces (one octet at a time, CR and LF apart)', async (t) => {
  const zip = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256))]);
  const body = message([attachment('x.zip', zip), { headers: ['Content-Type: text/plain', 'Content-Transfer-Encoding: quoted-printable'], body: 'a=3Db=\r\nc  \r\nd' }]);
  // A preamble and an epilogue with lines that start like boundaries, LF-only lines among CRLF ones.
  const raw = Buffer.concat([
    body.subarray(0, body.indexOf('--b0undary')),
    Buffer.from('preamble\n-- not a boundary\r\n--b0undaryX\r\n'),
    body.subarray(body.indexOf('--b0undary')),
    Buffer.from('epilogue\r\n--b0undary-\n-\r\nend'),
  ]);
  const whole = await walk(raw, tempDir(t));
  assert.deepEqual(leaves(whole.parts)[1]!.body, zip);
  const bytes = [...raw].map((octet) => Buffer.of(octet));
  const split = await walk(bytes, tempDir(t));
  assert.deepEqual(split, whole);
  for (const at of [17, 400, 1000, 1001, raw.indexOf('\r\n--b0undary') + 1]) {
    assert.deepEqual(await walk([raw.subarray(0, at), raw.subarray(at)], tempDir(t)), whole, `split at ${at}`);
  }
});

test('base64 and quoted-printable bodies are decoded into the spool; past the memory limit into a 0600 file, removed afterwards', async (t) => {
  const dir = tempDir(t);
  const big = Buffer.alloc(5000, 7);
  big.write('PK\x03\x04', 0, 'latin1');
  const raw = message([
    attachment('big.zip', big),
    { headers: ['Content-Type: application/zip; name="qp.zip"', 'Content-Transfer-Encoding: quoted-printable'], body: 'PK=03=04abc =\r\ndef  \r\nghi=\r\n' },
  ]);
  const modes: number[] = [];
  for await (const event of walkMime(raw, { spool: { memoryLimit: 1024, maxSize: 1 << 20, scratchDir: dir } })) {
    if (event.kind !== 'part' || !event.body) continue;
    if (!event.body.inMemory) {
      const { statSync } = await import('node:fs');
      const [file] = readdirSync(dir);
      modes.push(statSync(`${dir}/${file}`).mode & 0o777);
      assert.deepEqual(await event.body.read(0, event.body.size), big);
    } else {
      assert.equal((await event.body.read(0, event.body.size)).toString('latin1'), 'PK\x03\x04abc def\r\nghi');
    }
  }
  assert.deepEqual(modes, [0o600]);
  assert.deepEqual(readdirSync(dir), []);
});

test('a caller that stops early leaves no scratch file', async (t) => {
  const dir = tempDir(t);
  const raw = message([attachment('a.zip', Buffer.alloc(4000, 0x50)), attachment('b.zip', Buffer.alloc(4000, 0x50))]);
  let seen = 0;
  for await (const event of walkMime(raw, { spool: { memoryLimit: 100, maxSize: 1 << 20, scratchDir: dir } })) {
    if (event.kind === 'part' && event.body) {
      seen++;
      break;
    }
  }
  assert.equal(seen, 1);
  assert.deepEqual(readdirSync(dir), []);
});

test('bodies that need no inspection are not kept; an archive by magic octets is, whatever its name', async (t) => {
  const raw = message([
    attachment('photo.jpg', Buffer.from('\xff\xd8\xff\xe0 jpeg', 'latin1')),
    attachment('invoice.pdf', Buffer.from('PK\x03\x04 a zip in disguise', 'latin1')),
    attachment('data.bin', Buffer.from('7z\xbc\xaf\x27\x1c', 'latin1')),
  ]);
  const { parts } = await walk(raw, tempDir(t));
  const [, jpg, pdf, bin] = leaves(parts);
  assert.equal(jpg!.body, undefined);
  assert.equal(jpg!.part.archive, undefined);
  assert.equal(pdf!.part.archive, 'zip');
  assert.ok(pdf!.body);
  assert.equal(bin!.part.archive, '7z');
});

test('nested message/rfc822 and multipart: every leaf, numbered, with its range', async (t) => {
  const inner = Buffer.concat([
    Buffer.from('From: x@example.test\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n'),
    multipartBody([{ headers: ['Content-Type: text/plain'], body: 'inner text' }, attachment('evil.exe', Buffer.from('MZ'))], 'inner'),
  ]);
  const raw = message([{ headers: ['Content-Type: message/rfc822'], body: inner }]);
  const { parts, problems } = await walk(raw, tempDir(t));
  assert.deepEqual(problems, []);
  const evil = parts.find((p) => p.part.names.includes('evil.exe'))!;
  assert.deepEqual(evil.part.number, [2, 1, 2]);
  assert.equal(evil.part.depth, 3);
  assert.equal(text(raw, evil), entity(attachment('evil.exe', Buffer.from('MZ'))).toString('latin1'));
  assert.deepEqual(parts.map((p) => p.part.structure), ['leaf', 'leaf', 'leaf', 'multipart', 'message', 'multipart']);
});

test('multipart/digest parts default to message/rfc822 (RFC 2046 §5.1.5)', async (t) => {
  const digest = Buffer.concat([
    Buffer.from('Content-Type: multipart/digest; boundary=d\r\n\r\n'),
    multipartBody([Buffer.from('\r\nContent-Type: text/plain; name="a.vbs"\r\n\r\nx')], 'd'),
  ]);
  const { parts } = await walk(digest, tempDir(t));
  assert.deepEqual(parts.map((p) => [p.part.structure, p.part.mediaType]), [['leaf', 'text/plain'], ['message', 'message/rfc822'], ['multipart', 'multipart/digest']]);
  assert.deepEqual(parts[0]!.part.names, ['a.vbs']);
});

test('LF-only line ends', async (t) => {
  const raw = Buffer.from(message([attachment('a.zip', Buffer.from('PK\x03\x04lf only'))]).toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
  const { parts, problems } = await walk(raw, tempDir(t));
  assert.deepEqual(problems, []);
  const zip = leaves(parts)[1]!;
  assert.deepEqual(zip.body, Buffer.from('PK\x03\x04lf only'));
  assert.ok(text(raw, zip).startsWith('Content-Type: application/octet-stream; name="a.zip"\n'));
  assert.ok(text(raw, zip).endsWith(base64Lines(Buffer.from('PK\x03\x04lf only'))));
});

test('a missing close delimiter: the last part ends with the input', async (t) => {
  const full = message([attachment('a.zip', Buffer.from('PK\x03\x04end'))]);
  const raw = full.subarray(0, full.lastIndexOf('--b0undary--'));
  const { parts, problems } = await walk(raw, tempDir(t));
  assert.deepEqual(problems, ['missing-close-delimiter']);
  const zip = leaves(parts)[1]!;
  assert.equal(zip.part.range.end, raw.length);
  assert.deepEqual(zip.body, Buffer.from('PK\x03\x04end'));
});

test('a nested part that reuses the outer boundary, or ends at the outer one: no throw, every name seen', async (t) => {
  const nested = Buffer.from(
    [
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      '--outer',
      'Content-Type: multipart/alternative; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/plain',
      '',
      'no close delimiter for inner',
      '--outer',
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      '--outer',
      'Content-Type: application/octet-stream; name="x.scr"',
      '',
      'MZ',
      '--outer--',
      '',
    ].join('\r\n'),
  );
  const { parts, problems } = await walk(nested, tempDir(t));
  assert.ok(problems.includes('missing-close-delimiter'));
  assert.ok(parts.some((p) => p.part.names.includes('x.scr')));
  for (const p of parts) assert.ok(p.part.range.start <= p.part.range.end && p.part.range.end <= nested.length);
});

test('nesting past the depth limit is reported on the container, not walked, not thrown', async (t) => {
  let body = entity(attachment('deep.exe', Buffer.from('MZ')));
  for (let i = 0; i < 30; i++) body = Buffer.concat([Buffer.from(`Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n`), multipartBody([body], `b${i}`)]);
  const { parts } = await walk(body, tempDir(t), { maxDepth: 20 });
  const deep = parts.filter((p) => p.part.tooDeep);
  assert.equal(deep.length, 1);
  assert.equal(deep[0]!.part.depth, 20);
  assert.ok(!parts.some((p) => p.part.names.includes('deep.exe')));
});

test('a header with no blank line, an over-long header, an unknown encoding: problems, not errors', async (t) => {
  const raw = Buffer.from(
    [
      'Content-Type: multipart/mixed; boundary=z',
      '',
      '--z',
      'Content-Type: application/zip; name="nohead.zip"',
      '--z',
      `X-Long: ${'a'.repeat(200)}`,
      'Content-Type: text/plain; name="late.bat"',
      '',
      'x',
      '--z',
      'Content-Type: application/octet-stream; name="u.zip"',
      'Content-Transfer-Encoding: x-uuencode',
      '',
      'begin 644 u.zip',
      '--z--',
    ].join('\r\n'),
  );
  const { parts, problems } = await walk(raw, tempDir(t), { maxHeaderBytes: 100 });
  assert.deepEqual(problems.sort(), ['header-not-ended', 'header-too-long', 'unknown-transfer-encoding']);
  assert.deepEqual(leaves(parts).map((p) => p.part.names), [['nohead.zip'], [], ['u.zip']]);
});

test('boundaries after the close delimiter still start parts (some clients show them)', async (t) => {
  const raw = Buffer.from(['Content-Type: multipart/mixed; boundary=q', '', '--q', '', 'a', '--q--', '--q', 'Content-Type: text/plain; name="after.js"', '', 'b', '--q--', ''].join('\r\n'));
  const { parts, problems } = await walk(raw, tempDir(t));
  assert.deepEqual(problems, ['part-after-close-delimiter']);
  assert.ok(parts.some((p) => p.part.names.includes('after.js')));
});

test('an empty input and a message without a body', async (t) => {
  const empty = await walk(Buffer.alloc(0), tempDir(t));
  assert.deepEqual(empty.parts.map((p) => p.part.range), [{ start: 0, end: 0 }]);
  const headerOnly = await walk(Buffer.from('Subject: x\r\n'), tempDir(t));
  assert.deepEqual(headerOnly.parts.map((p) => [p.part.range, p.part.mediaType]), [[{ start: 0, end: 12 }, 'text/plain']]);
});
