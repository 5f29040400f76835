import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileNameCandidates } from '../../../src/filter/attachments/names.ts';
import { decodeEncodedWords } from '../../../src/filter/attachments/encoded-words.ts';
import { parameterValues, parseFieldValue, withoutComments } from '../../../src/filter/attachments/parameters.ts';
import { inspectMessage } from './fixtures.ts';

/** Header fields as the walker gives them: values as octet strings (latin1). */
const fields = (...lines: string[]) =>
  lines.map((line) => {
    const colon = line.indexOf(':');
    return { name: line.slice(0, colon), value: Buffer.from(line.slice(colon + 1).trim(), 'utf8').toString('latin1') };
  });

test('plain filename and name, quoted and not', () => {
  assert.deepEqual(fileNameCandidates(fields('Content-Disposition: attachment; filename="report.pdf"')), ['report.pdf']);
  assert.deepEqual(fileNameCandidates(fields('Content-Type: application/pdf; name=report.pdf')), ['report.pdf']);
  assert.deepEqual(fileNameCandidates(fields('Content-Disposition: attachment; filename="a \\"quoted\\" name.txt"')), ['a "quoted" name.txt']);
  assert.deepEqual(fileNameCandidates(fields('Content-Type: text/plain')), []);
});

test('a mismatch between filename and name gives both (the policy judges the worse)', () => {
  const names = fileNameCandidates(fields('Content-Type: application/pdf; name="invoice.pdf"', 'Content-Disposition: attachment; filename="invoice.exe"'));
  assert.deepEqual(names.sort(), ['invoice.exe', 'invoice.pdf']);
  // Two filename parameters, two Content-Disposition fields: every one.
  assert.deepEqual(
    fileNameCandidates(fields('Content-Disposition: attachment; filename="a.txt"; filename="b.vbs"', 'Content-Disposition: inline; filename=c.js')).sort(),
    ['a.txt', 'b.vbs', 'c.js'],
  );
  // Content-Disposition name (a common mistake clients honour).
  assert.deepEqual(fileNameCandidates(fields('Content-Disposition: attachment; name="x.hta"')), ['x.hta']);
});

test('an unquoted value with spaces: the token and the whole text', () => {
  assert.deepEqual(fileNameCandidates(fields('Content-Disposition: attachment; filename=scan.pdf      .exe')), ['scan.pdf', 'scan.pdf      .exe']);
});

test('RFC 2231 §4: charset and language, percent-encoded octets', () => {
  assert.deepEqual(fileNameCandidates(fields("Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.exe")), ['€ rates.exe']);
  assert.deepEqual(fileNameCandidates(fields("Content-Disposition: attachment; filename*=iso-8859-1'fr'r%E9sum%E9.pdf")), ['résumé.pdf']);
  assert.deepEqual(fileNameCandidates(fields("Content-Disposition: attachment; filename*=us-ascii'en-us'evil%2Ejs")), ['evil.js']);
  // An unknown charset keeps the octets (as latin1), so the extension still shows.
  assert.deepEqual(fileNameCandidates(fields("Content-Disposition: attachment; filename*=x-unknown-42''%C0%C1.vbs")), ['\u00c0\u00c1.vbs']);
  // Without the quotes it is still percent-decoded.
  assert.deepEqual(fileNameCandidates(fields('Content-Type: application/x; name*=evil%2Escr')), ['evil.scr']);
});

test('RFC 2231 §3 continuations, encoded and not, in any order, joined before decoding', () => {
  assert.deepEqual(
    fileNameCandidates(fields("Content-Disposition: attachment; filename*1*=%A9%20report; filename*0*=utf-8''%C2; filename*2=.pdf.exe")),
    ['© report.pdf.exe'],
  );
  assert.deepEqual(fileNameCandidates(fields('Content-Type: application/x; name*0="long name "; name*1="part two"; name*2=".bat"')), ['long name part two.bat']);
  // A section given twice: the first counts.
  assert.deepEqual(fileNameCandidates(fields('Content-Type: application/x; name*0="a"; name*0="b"; name*1=".cmd"')), ['a.cmd']);
  // Plain and continued forms together: both are names.
  assert.deepEqual(fileNameCandidates(fields('Content-Disposition: attachment; filename="safe.txt"; filename*0="evil"; filename*1=".exe"')).sort(), ['evil.exe', 'safe.txt']);
});

test('RFC 2047 encoded words in quoted names (B and Q), adjacent words joined', () => {
  assert.deepEqual(fileNameCandidates(fields('Content-Type: application/x; name="=?UTF-8?B?ZXZpbC5leGU=?="')), ['=?UTF-8?B?ZXZpbC5leGU=?=', 'evil.exe']);
  assert.ok(fileNameCandidates(fields('Content-Disposition: attachment; filename="=?iso-8859-1?Q?r=E9sum=E9_final.pif?="')).includes('résumé final.pif'));
  // A multi-octet character split across two words.
  assert.equal(decodeEncodedWords('=?utf-8?B?4oI=?= =?utf-8?B?rC5qcw==?='), '€.js');
  assert.equal(decodeEncodedWords('x =?utf-8?q?a?= y'), 'x a y');
  assert.equal(decodeEncodedWords('=?bogus-charset?q?ok.bat?='), 'ok.bat');
});

test('8-bit names without a charset: UTF-8 when valid, octets otherwise', () => {
  assert.deepEqual(fileNameCandidates(fields('Content-Disposition: attachment; filename="日本語.exe"')), ['日本語.exe']);
  const latin1 = [{ name: 'Content-Disposition', value: 'attachment; filename="caf\u00e9.js"' }];
  assert.deepEqual(fileNameCandidates(latin1), ['caf\u00e9.js']);
});

test('parameter parsing keeps semicolons in quotes and ignores junk', () => {
  const value = parseFieldValue('Multipart/Mixed; boundary="a;b"; junk; =x; charset=utf-8');
  assert.equal(value.value, 'multipart/mixed');
  assert.deepEqual(parameterValues(value, 'boundary'), ['a;b']);
  assert.deepEqual(parameterValues(value, 'charset'), ['utf-8']);
});

test('comments (RFC 5322 §3.2.2) are not part of a media type or an encoding: a commented multipart is still walked', async (t) => {
  assert.equal(withoutComments('(a (nested) comment) multipart/mixed'), '  multipart/mixed');
  assert.equal(withoutComments('multipart/mixed (\\) still a comment) ; boundary="(not one)"'), 'multipart/mixed   ; boundary="(not one)"');
  assert.equal(parseFieldValue('(x) Multipart/Mixed; boundary="b"').value, 'multipart/mixed');
  const raw = Buffer.from([
    'From: a@remote.example', 'MIME-Version: 1.0', 'Content-Type: (hidden) Multipart/Mixed; boundary="b"', '',
    '--b', 'Content-Type: text/plain', '', 'hello',
    '--b', 'Content-Type: application/octet-stream', 'Content-Disposition: attachment; filename="run.exe"', 'Content-Transfer-Encoding: base64 (yes, base64)', '', 'TVqQAA==',
    '--b--', '',
  ].join('\r\n'));
  const report = await inspectMessage(t, raw);
  assert.deepEqual(report.findings.map((f) => [f.kind, f.name]), [['blocked', 'run.exe']]);
  assert.equal(report.parts.find((p) => p.names.includes('run.exe'))?.transferEncoding, 'base64');
});
