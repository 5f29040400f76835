// inspectAttachments over whole messages: names of parts, names inside archives
// (zip from Info-ZIP's zip, tar and gzip from GNU tar and gzip, 7z and RAR built by
// hand), encryption, zip bombs, nesting, and malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { MessageContent } from '../../../src/intake/content.ts';
import { DEFAULT_BLOCKED_EXTENSIONS } from '../../../src/filter/attachments/index.ts';
import { rar4, rar5, sevenZipEncodedHeader, sevenZipPlain } from './archive-fixtures.ts';
import { attachment, base64Lines, buildZip, deflatedZeros, entity, inspectMessage, message, multipartBody, runTool, summary, zipCli, type PartSpec } from './fixtures.ts';

const zipPart = (name: string, data: Buffer) => attachment(name, data, { type: 'application/zip' });

test('every default extension is refused as an attachment name', async (t) => {
  const extensions = [...DEFAULT_BLOCKED_EXTENSIONS];
  const report = await inspectMessage(t, message(extensions.map((e) => attachment(`file.${e}`, Buffer.from('x')))));
  assert.deepEqual(
    report.findings.map((f) => f.kind === 'blocked' && [f.name, f.reason, f.extension]),
    extensions.map((e) => [`file.${e}`, 'extension', e]),
  );
});

test('case, trailing dots and spaces, double extensions', async (t) => {
  const report = await inspectMessage(t, message([attachment('PAYLOAD.ExE. .', Buffer.from('x')), attachment('invoice.pdf.exe', Buffer.from('x')), attachment('scan.pdf      .exe', Buffer.from('x')), attachment('fine.pdf', Buffer.from('%PDF'))]));
  assert.deepEqual(summary(report), [
    { kind: 'blocked', name: 'PAYLOAD.ExE. .', path: ['PAYLOAD.ExE. .'], reason: 'extension', extension: 'exe' },
    { kind: 'blocked', name: 'invoice.pdf.exe', path: ['invoice.pdf.exe'], reason: 'double-extension', extension: 'exe' },
    { kind: 'blocked', name: 'scan.pdf      .exe', path: ['scan.pdf      .exe'], reason: 'double-extension', extension: 'exe' },
  ]);
});

test('a blocked part\'s range is the part: replacing it removes exactly the attachment', async (t) => {
  const evil = attachment('evil.exe', Buffer.from('MZ payload'));
  const raw = message([evil, attachment('ok.txt', Buffer.from('fine'))]);
  const report = await inspectMessage(t, raw);
  const [finding] = report.findings;
  assert.equal(raw.toString('latin1', finding!.partRange.start, finding!.partRange.end), entity(evil).toString('latin1'));
  const edited = await MessageContent.fromBuffer(raw).edit([{ ...finding!.partRange, insert: Buffer.from('Content-Type: text/plain\r\n\r\nevil.exe was removed') }]).read();
  const again = await inspectMessage(t, edited);
  assert.deepEqual(again.findings, []);
  assert.deepEqual(again.parts.filter((p) => p.structure === 'leaf').map((p) => p.names), [[], [], ['ok.txt']]);
});

test('RFC 2231 continuations and charsets, RFC 2047 B and Q words: the decoded name is judged', async (t) => {
  const named = (disposition: string): PartSpec => ({ headers: ['Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', disposition], body: base64Lines(Buffer.from('x')) });
  const report = await inspectMessage(
    t,
    message([
      named("Content-Disposition: attachment;\r\n filename*0*=utf-8''%E2%82%AC%20invoice;\r\n filename*1=.pdf;\r\n filename*2*=%2Ejs"),
      named("Content-Disposition: attachment; filename*=iso-8859-1'de'Gr%FC%DFe.vbs"),
      named('Content-Disposition: attachment; filename="=?UTF-8?B?c2V0dXAuZXhl?="'),
      named('Content-Disposition: attachment; filename="=?iso-8859-1?Q?r=E9sum=E9=2Escr?="'),
    ]),
  );
  assert.deepEqual(report.findings.map((f) => f.name), ['€ invoice.pdf.js', 'Grüße.vbs', 'setup.exe', 'résumé.scr']);
});

test('filename and name disagree: the worse one counts', async (t) => {
  const both = (typeName: string, fileName: string): PartSpec => ({
    headers: [`Content-Type: application/pdf; name="${typeName}"`, 'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename="${fileName}"`],
    body: base64Lines(Buffer.from('%PDF')),
  });
  const report = await inspectMessage(t, message([both('invoice.pdf', 'invoice.exe'), both('payload.hta', 'payload.pdf'), both('a.pdf', 'b.pdf')]));
  assert.deepEqual(report.findings.map((f) => f.name), ['invoice.exe', 'payload.hta']);
});

test('a nested message/rfc822 is walked; its attachment is found by its own range', async (t) => {
  const evil = attachment('evil.bat', Buffer.from('@echo off'));
  const inner = Buffer.concat([Buffer.from('Subject: fwd\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n'), multipartBody([evil], 'in')]);
  const raw = message([{ headers: ['Content-Type: message/rfc822'], body: inner }]);
  const report = await inspectMessage(t, raw);
  assert.deepEqual(summary(report), [{ kind: 'blocked', name: 'evil.bat', path: ['evil.bat'], reason: 'extension', extension: 'bat' }]);
  assert.equal(raw.toString('latin1', report.findings[0]!.partRange.start, report.findings[0]!.partRange.end), entity(evil).toString('latin1'));
});

test('a message/rfc822 sent base64-encoded is decoded and walked; findings carry the outer part\'s range', async (t) => {
  const inner = message([zipPart('inner.zip', zipCli(t, { 'run.ps1': 'Get-Process' }))]);
  const outer: PartSpec = { headers: ['Content-Type: message/rfc822; name="fwd.eml"', 'Content-Transfer-Encoding: base64'], body: base64Lines(inner) };
  const raw = message([outer]);
  const report = await inspectMessage(t, raw);
  assert.deepEqual(summary(report), [{ kind: 'blocked', name: 'run.ps1', path: ['fwd.eml', 'inner.zip', 'run.ps1'], reason: 'in-archive', extension: 'ps1' }]);
  assert.equal(raw.toString('latin1', report.findings[0]!.partRange.start, report.findings[0]!.partRange.end), entity(outer).toString('latin1'));
});

test('a blocked file inside a zip inside a zip', async (t) => {
  const inner = zipCli(t, { 'evil.exe': 'MZ', 'notes.txt': 'hello' });
  const outer = zipCli(t, { 'inner.zip': inner, 'readme.txt': 'read me' });
  const report = await inspectMessage(t, message([zipPart('outer.zip', outer)]));
  assert.deepEqual(summary(report), [{ kind: 'blocked', name: 'evil.exe', path: ['outer.zip', 'inner.zip', 'evil.exe'], reason: 'in-archive', extension: 'exe' }]);
  assert.deepEqual(report.parts.find((p) => p.archive)?.archive, { format: 'zip', entries: 2, encrypted: false, office: false });
});

test('an archive is recognised by its octets whatever it is called', async (t) => {
  const zip = zipCli(t, { 'payload.js': 'WScript.Echo(1)' });
  const report = await inspectMessage(t, message([attachment('invoice.pdf', zip, { type: 'application/pdf' })]));
  assert.deepEqual(report.findings.map((f) => f.path), [['invoice.pdf', 'payload.js']]);
});

test('an encrypted zip holding an .exe: reported as encrypted, not blocked, with the name it hides', async (t) => {
  const zip = zipCli(t, { 'evil.exe': 'MZ', 'doc.txt': 'text' }, ['-P', 'secret']);
  const report = await inspectMessage(t, message([zipPart('secret.zip', zip)]));
  assert.deepEqual(summary(report), [{ kind: 'encrypted', name: 'secret.zip', path: ['secret.zip'], format: 'zip', namesReadable: true, blockedNames: ['evil.exe'] }]);
  assert.equal(report.parts.find((p) => p.archive)?.archive?.encrypted, true);
});

test('an encrypted zip inside a zip is marked at its path; unencrypted neighbours are still checked', async (t) => {
  const secret = zipCli(t, { 'a.txt': 'a' }, ['-P', 'pw']);
  const outer = zipCli(t, { 'secret.zip': secret, 'tool.vbs': 'x' });
  const report = await inspectMessage(t, message([zipPart('bundle.zip', outer)]));
  assert.deepEqual(report.findings.map((f) => [f.kind, f.path]).sort(), [['blocked', ['bundle.zip', 'tool.vbs']], ['encrypted', ['bundle.zip', 'secret.zip']]]);
});

test('Office documents are not archives here; macro-enabled ones are refused by name', async (t) => {
  const parts = {
    '[Content_Types].xml': '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
    '_rels/.rels': '<Relationships/>',
    'word/document.xml': '<w:document/>',
    'word/embeddings/oleObject1.exe': 'MZ',
  };
  const docx = zipCli(t, parts);
  const report = await inspectMessage(t, message([attachment('report.docx', docx), attachment('macro.docm', docx), zipPart('fake.zip', docx)]));
  assert.deepEqual(summary(report), [
    { kind: 'blocked', name: 'macro.docm', path: ['macro.docm'], reason: 'extension', extension: 'docm' },
    // A .zip that carries [Content_Types].xml is still a zip to Explorer.
    { kind: 'blocked', name: 'word/embeddings/oleObject1.exe', path: ['fake.zip', 'word/embeddings/oleObject1.exe'], reason: 'in-archive', extension: 'exe' },
  ]);
  assert.deepEqual(report.parts.find((p) => p.names.includes('report.docx'))?.archive, { format: 'zip', entries: 4, encrypted: false, office: true });
});

test('a zip bomb: one entry declaring a thousand times its size is refused without inflating it', async (t) => {
  const bomb = buildZip([{ name: 'zeros.txt', compressed: deflatedZeros(1024), declaredSize: 1024 * 1024 * 1024 }]);
  const report = await inspectMessage(t, message([zipPart('bomb.zip', bomb)]));
  assert.deepEqual(
    report.findings.map((f) => f.kind === 'bomb' && [f.reason, f.path]),
    [['ratio', ['bomb.zip', 'zeros.txt']]],
  );
});

test('a nested zip that lies about its size is cut off where the lie ends', async (t) => {
  // inner.zip says 2000 octets and inflates to 64 MiB.
  const bomb = buildZip([{ name: 'inner.zip', compressed: deflatedZeros(64), declaredSize: 2000 }]);
  const report = await inspectMessage(t, message([zipPart('lying.zip', bomb)]), { memoryLimit: 4096 });
  assert.deepEqual(report.findings.map((f) => f.kind === 'bomb' && [f.reason, f.path]), [['inflated-beyond-declared', ['lying.zip', 'inner.zip']]]);
});

test('entries that share data (the overlapping zip bomb) are refused', async (t) => {
  const shared = buildZip([{ name: 'a.txt', data: Buffer.alloc(1000, 0x61) }, { name: 'b.txt', sameDataAs: 0 }, { name: 'c.txt', sameDataAs: 0 }]);
  const report = await inspectMessage(t, message([zipPart('overlap.zip', shared)]));
  assert.deepEqual(report.findings.map((f) => f.kind === 'bomb' && f.reason), ['overlapping-entries']);
});

test('42.zip-style nesting: bounded by the nested-archive count, the entry count and the depth', async (t) => {
  // Each level holds 16 copies of the level below; the leaf holds one small file.
  let level = buildZip([{ name: 'page.txt', data: Buffer.from('0'.repeat(100)) }]);
  for (let i = 0; i < 3; i++) level = buildZip(Array.from({ length: 16 }, (_, n) => ({ name: `l${i}-${n}.zip`, data: level })));
  const wide = await inspectMessage(t, message([zipPart('42.zip', level)]));
  assert.deepEqual(wide.findings.map((f) => f.kind === 'bomb' && f.reason), ['archive-count']);
  const counted = await inspectMessage(t, message([zipPart('42.zip', level)]), { maxEntries: 100 });
  assert.deepEqual(counted.findings.map((f) => f.kind === 'bomb' && f.reason), ['entry-count']);
  const deep = await inspectMessage(t, message([zipPart('42.zip', level)]), { maxArchiveDepth: 2, maxNestedArchives: 10_000 });
  assert.deepEqual(deep.findings.map((f) => f.kind === 'too-deep' && [f.limit, f.depth, f.path.length]), [['archive', 3, 3]]);
});

test('the expanded-size bound holds over declared sizes of the whole attachment', async (t) => {
  const zip = buildZip(Array.from({ length: 4 }, (_, i) => ({ name: `part${i}.bin`, data: Buffer.alloc(300_000, i) })));
  const report = await inspectMessage(t, message([zipPart('big.zip', zip)]), { maxExpandedSize: 1_000_000, maxRatio: 1_000_000 });
  assert.deepEqual(report.findings.map((f) => f.kind === 'bomb' && f.reason), ['expanded-size']);
});

test('tar, tar.gz and gzip: names read, nested archives opened, the gzip name (FNAME) judged', async (t) => {
  const tar = runTool(t, { 'docs/readme.txt': 'r', 'docs/install.cmd': 'x' }, 'tar', ['--format=ustar', '-cf', 'out.tar', 'docs'], 'out.tar');
  const tgz = runTool(t, { 'bin/tool.scr': 'x' }, 'tar', ['-czf', 'out.tgz', 'bin'], 'out.tgz');
  const longName = `${'d'.repeat(120)}/payload.wsf`;
  const gnu = runTool(t, { [longName]: 'x' }, 'tar', ['--format=gnu', '-cf', 'out.tar', 'd'.repeat(120)], 'out.tar');
  const gz = runTool(t, { 'evil.exe': 'MZ' }, 'gzip', ['-k', 'evil.exe'], 'evil.exe.gz');
  const zipInTar = runTool(t, { 'x.zip': zipCli(t, { 'inner.lnk': 'x' }) }, 'tar', ['-cf', 'out.tar', 'x.zip'], 'out.tar');
  const report = await inspectMessage(t, message([
    attachment('bundle.tar', tar),
    attachment('bin.tgz', tgz),
    attachment('long.tar', gnu),
    attachment('renamed.gz', gz),
    attachment('zipped.tar', zipInTar),
  ]));
  assert.deepEqual(report.findings.map((f) => f.path), [
    ['bundle.tar', 'docs/install.cmd'],
    ['bin.tgz', 'bin.tar', 'bin/tool.scr'],
    ['long.tar', longName],
    ['renamed.gz', 'evil.exe'],
    ['zipped.tar', 'x.zip', 'inner.lnk'],
  ]);
});

test('gzip bombs: a declared size (ISIZE) far past the ratio, or inflation past it', async (t) => {
  const zeros = gzipSync(Buffer.alloc(50 * 1024 * 1024));
  const report = await inspectMessage(t, message([attachment('zeros.bin.gz', zeros)]));
  assert.deepEqual(report.findings.map((f) => f.kind === 'bomb' && f.reason), ['ratio']);
  // ISIZE forged small: the inner tar is inflated and stopped at the ratio bound.
  const forged = Buffer.from(gzipSync(Buffer.concat([Buffer.from('ustar'.padStart(262, '\0')), Buffer.alloc(50 * 1024 * 1024)])));
  forged.writeUInt32LE(1000, forged.length - 4);
  const second = await inspectMessage(t, message([attachment('forged.tar.gz', forged)]), { memoryLimit: 65_536 });
  assert.deepEqual(second.findings.map((f) => f.kind === 'bomb' && f.reason), ['ratio']);
});

test('7z: names from a plain header; AES folders mark it encrypted; a packed header is reported, an encrypted one marked', async (t) => {
  const report = await inspectMessage(t, message([
    attachment('plain.7z', sevenZipPlain(['docs/a.txt', 'docs/run.vbs'])),
    attachment('aes.7z', sevenZipPlain(['secret.exe'], true)),
    attachment('hidden.7z', sevenZipEncodedHeader(true)),
    attachment('packed.7z', sevenZipEncodedHeader(false)),
  ]));
  assert.deepEqual(summary(report), [
    { kind: 'blocked', name: 'docs/run.vbs', path: ['plain.7z', 'docs/run.vbs'], reason: 'in-archive', extension: 'vbs' },
    { kind: 'encrypted', name: 'aes.7z', path: ['aes.7z'], format: '7z', namesReadable: true, blockedNames: ['secret.exe'] },
    { kind: 'encrypted', name: 'hidden.7z', path: ['hidden.7z'], format: '7z', namesReadable: false, blockedNames: [] },
    { kind: 'unreadable-archive', name: 'packed.7z', path: ['packed.7z'], format: '7z', reason: 'names-not-inspected', detail: 'the header is packed (LZMA), which is not decoded here' },
  ]);
});

test('RAR 4 and 5: names, encrypted entries, encrypted headers', async (t) => {
  const report = await inspectMessage(t, message([
    attachment('v5.rar', rar5([{ name: 'ok.txt' }, { name: 'go.bat' }])),
    attachment('v4.rar', rar4([{ name: 'ok.txt' }, { name: 'go.com' }])),
    attachment('v5enc.rar', rar5([{ name: 'a.txt' }, { name: 'x.exe', encrypted: true }])),
    attachment('v4enc.rar', rar4([{ name: 'y.exe', encrypted: true }])),
    attachment('hp5.rar', rar5([{ name: 'z.exe' }], true)),
    attachment('hp4.rar', rar4([{ name: 'z.exe' }], true)),
  ]));
  assert.deepEqual(report.findings.map((f) => [f.kind, f.path.join(' > '), f.kind === 'encrypted' ? f.namesReadable : '']), [
    ['blocked', 'v5.rar > go.bat', ''],
    ['blocked', 'v4.rar > go.com', ''],
    ['encrypted', 'v5enc.rar', true],
    ['encrypted', 'v4enc.rar', true],
    ['encrypted', 'hp5.rar', false],
    ['encrypted', 'hp4.rar', false],
  ]);
});

test('bzip2 and xz: the inner name is judged; the content is reported as not inspected', async (t) => {
  const report = await inspectMessage(t, message([attachment('evil.exe.xz', Buffer.from('\xfd7zXZ\0rest', 'latin1')), attachment('notes.txt.bz2', Buffer.from('BZh91AY&SY', 'latin1'))]));
  assert.deepEqual(report.findings.map((f) => [f.kind, f.path.join(' > ')]), [
    ['blocked', 'evil.exe.xz > evil.exe'],
    ['unreadable-archive', 'notes.txt.bz2'],
  ]);
});

test('an archive that is not one: unreadable, never an error', async (t) => {
  const report = await inspectMessage(t, message([zipPart('broken.zip', Buffer.from('PK\x03\x04 and then nothing useful')), attachment('broken.rar', Buffer.from('Rar!\x1a\x07\x01\x00\xff\xff\xff\xff\xff', 'latin1')), attachment('broken.tar', Buffer.alloc(600, 0x41)), attachment('broken.gz', Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]))]));
  assert.deepEqual(report.findings.map((f) => f.kind === 'unreadable-archive' && [f.path[0], f.reason]), [
    ['broken.zip', 'malformed'],
    ['broken.rar', 'malformed'],
    ['broken.tar', 'malformed'],
    ['broken.gz', 'malformed'],
  ]);
});

test('malformed MIME is inspected as far as it goes, without throwing', async (t) => {
  const exe = attachment('evil.exe', Buffer.from('MZ'));
  const good = message([exe]);
  const inputs = [
    good.subarray(0, good.lastIndexOf('--b0undary--')), // no close delimiter
    Buffer.from(good.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'), // LF only
    Buffer.from(good.toString('latin1').replace(/\r\n/g, '\r'), 'latin1'), // CR only: one long line
    // A nested multipart that reuses the outer boundary: the innermost claims the delimiter.
    Buffer.concat([Buffer.from('Content-Type: multipart/mixed; boundary=b0undary\r\n\r\n--b0undary\r\nContent-Type: multipart/mixed; boundary=b0undary\r\n\r\n--b0undary\r\n'), entity(exe), Buffer.from('\r\n--b0undary--\r\n')]),
    Buffer.from('Content-Type: multipart/mixed\r\n\r\n--\r\n--\r\n'),
    Buffer.from('Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n\r\n--\r\n'),
    Buffer.from('\r\n\r\n\r\n'),
    Buffer.from('Content-Type: application/zip; name=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!====****'),
    Buffer.from('Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: text/plain; name=x.exe\r\n'),
  ];
  const found: number[] = [];
  for (const raw of inputs) {
    const report = await inspectMessage(t, raw);
    for (const f of report.findings) assert.ok(f.partRange.start >= 0 && f.partRange.end <= raw.length && f.partRange.start <= f.partRange.end);
    found.push(report.findings.filter((f) => f.kind === 'blocked').length);
  }
  // The exe is still found where the structure allows it to be found.
  assert.deepEqual(found, [1, 1, 0, 1, 0, 0, 0, 0, 1]);
});

test('a message of a great many parts: the walk stops at maxParts with a finding; problems are capped', async (t) => {
  // 50 000 parts whose headers never end: each one a part and a problem.
  const raw = Buffer.concat([Buffer.from('Content-Type: multipart/mixed; boundary=p\r\n\r\n'), Buffer.from('--p\r\nX: y\r\n'.repeat(50_000))]);
  const report = await inspectMessage(t, raw, { maxParts: 1000 });
  assert.deepEqual(report.findings.map((f) => f.kind === 'too-many-parts' && f.limit), [1000]);
  assert.equal(report.parts.length, 1000);
  assert.equal(report.problems.length, 100);
});
