// The antivirus step with the real engines (clamd from Debian, YARA-X), on drafts made
// here: every file of clamav-testfiles, attached base64, quoted-printable and inside a
// forwarded message, is caught — also those clamd's own mail parser misses, because the
// step scans each encoded attachment decoded as well; YARA sees decoded attachments too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ClamdEngine } from '../../../src/filter/antivirus/clamd.ts';
import { YaraEngine } from '../../../src/filter/antivirus/yara.ts';
import { EngineVersions } from '../../../src/filter/antivirus/engine.ts';
import { MessageContent } from '../../../src/intake/content.ts';
import { antivirusStep } from '../../../src/intake/steps/antivirus.ts';
import type { Draft, IntakeContext, StepVerdict } from '../../../src/intake/step.ts';
import { EICAR, SIGNATURE, startClamd, TESTFILES_DIR, type Clamd } from '../../harness/clamd.ts';
import { YARA_MARKER, YARA_RULE } from '../../harness/yara.ts';
import { messageWith, type Wrapping } from '../../filter/antivirus/mime-samples.ts';

const HEADERS = { from: 'a@remote.example', to: 'b@example.test', subject: 'sample' };
const context = { origin: 'mta', queueId: 'q', mailFrom: '', envelopeRecipients: [], client: null, hostname: 'mail.example.test', now: new Date(0), logger: pino({ level: 'silent' }) } as IntakeContext;
const draftOf = (raw: string | Buffer): Draft => {
  const content = MessageContent.fromBuffer(Buffer.from(raw));
  return { original: content, content, recipients: [], notes: {}, topOctets: 0 };
};
const refusal = (verdict: StepVerdict) => (verdict.action === 'reject' || verdict.action === 'tempfail' ? `${verdict.reply.code} ${verdict.reply.text}` : verdict.action);

describe('antivirus step, clamd and yara', () => {
  let clamd: Clamd;
  let dir: string;
  let step: ReturnType<typeof antivirusStep>;
  let versions: EngineVersions;
  const engines: Array<ClamdEngine | YaraEngine> = [];
  before(async () => {
    clamd = await startClamd();
    dir = mkdtempSync(join(tmpdir(), 'kakitome-av-step-'));
    mkdirSync(join(dir, 'rules'));
    writeFileSync(join(dir, 'rules', 'test.yar'), YARA_RULE);
    const yara = new YaraEngine({ rulesDir: join(dir, 'rules'), maxBytes: 50_000_000 });
    await yara.load();
    engines.push(new ClamdEngine({ target: { socket: clamd.socket } }), yara);
    versions = new EngineVersions(engines);
    step = antivirusStep({ engines, action: 'reject', versions, failOpen: false, scanTimeoutMs: 30_000, scratchDir: join(dir, 'scan'), maxBytes: 50_000_000 });
  });
  after(async () => {
    for (const engine of engines) await engine.close();
    await clamd.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every clamav-testfiles file, attached base64, quoted-printable or in a forwarded message: 554', async () => {
    const missed: string[] = [];
    for (const name of readdirSync(TESTFILES_DIR).filter((file) => file.startsWith('clam'))) {
      const file = readFileSync(join(TESTFILES_DIR, name));
      for (const wrapping of ['base64', 'quoted-printable', 'forwarded'] as Wrapping[]) {
        const verdict = await step.run(draftOf(messageWith(file, name, wrapping, HEADERS)), context);
        if (!/^554 message refused: malware found by clamd/.test(refusal(verdict))) missed.push(`${name} ${wrapping}: ${refusal(verdict)}`);
      }
    }
    assert.deepEqual(missed, [], missed.join('\n'));
  });

  test('yara finds its marker in a base64 attachment only once it is decoded; a clean message passes, noting what was scanned', async () => {
    const marked = messageWith(Buffer.from(`payload ${YARA_MARKER} payload`), 'notes.bin', 'base64', HEADERS);
    assert.ok(!marked.includes(YARA_MARKER), 'the marker is not on the wire');
    assert.equal(refusal(await step.run(draftOf(marked), context)), '554 message refused: malware found by yara (Kakitome_Test_Marker)');
    const clean = await step.run(draftOf(messageWith(Buffer.from('a harmless file'), 'harmless.txt', 'base64', HEADERS)), context);
    assert.deepEqual(clean, { action: 'accept', notes: { antivirus: 'clean (clamd, yara; 1 decoded part)', scannedWith: await versions.current() } });
    assert.match(String(clean.notes?.scannedWith), /^clamd ClamAV [\d.]+.*; yara YARA-X rules [0-9a-f]{16} \(1 file\)$/);
  });

  test('a single-part message sent base64 is decoded too; plain text is not walked; a Content-Type with a comment and odd case still is', async () => {
    const encoded = Buffer.from(`the ${YARA_MARKER} inside`).toString('base64');
    const single = `From: <a@remote.example>\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: BASE64\r\n\r\n${encoded}\r\n`;
    assert.equal(refusal(await step.run(draftOf(single), context)), '554 message refused: malware found by yara (Kakitome_Test_Marker)');
    assert.deepEqual(await step.run(draftOf('From: <a@remote.example>\r\nSubject: plain\r\n\r\njust text\r\n'), context), { action: 'accept', notes: { antivirus: 'clean (clamd, yara; 0 decoded parts)', scannedWith: await versions.current() } });
    const commented = messageWith(Buffer.from(`x ${YARA_MARKER} x`), 'n.bin', 'base64', HEADERS).replace('Content-Type: multipart/mixed;', 'Content-Type: (a comment) Multipart/Mixed;');
    assert.equal(refusal(await step.run(draftOf(commented), context)), '554 message refused: malware found by yara (Kakitome_Test_Marker)');
  });

  test('a 3 MB attachment is spooled to the scratch directory while scanned, and nothing is left there', async () => {
    const big = Buffer.concat([Buffer.alloc(3 * 1024 * 1024, 'z'), Buffer.from(YARA_MARKER)]);
    assert.equal(refusal(await step.run(draftOf(messageWith(big, 'big.bin', 'base64', HEADERS)), context)), '554 message refused: malware found by yara (Kakitome_Test_Marker)');
    assert.deepEqual(readdirSync(join(dir, 'scan')), []);
  });

  /** A message with a text part and `file` attached unencoded (7bit): clamd's hash signatures match it only when the part is scanned as the file. */
  const unencoded = (file: string, name: string) =>
    [
      'From: <a@remote.example>', 'To: <b@example.test>', 'Subject: unencoded', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b0"', '',
      '--b0', 'Content-Type: text/plain', '', 'Hello.',
      '--b0', `Content-Type: application/octet-stream; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`, 'Content-Transfer-Encoding: 7bit', '', file,
      '--b0--', '',
    ].join('\r\n');

  test('an attachment sent unencoded (7bit) is scanned as the file it is: 554; replace finds that very part and puts the notice in its place', async () => {
    const sample = unencoded(EICAR, 'eicar.com');
    assert.equal(refusal(await step.run(draftOf(sample), context)), `554 message refused: malware found by clamd (${SIGNATURE.eicar})`);
    const replacing = antivirusStep({ engines, action: 'replace', versions, failOpen: false, scanTimeoutMs: 30_000, scratchDir: join(dir, 'scan'), maxBytes: 50_000_000 });
    const verdict = await replacing.run(draftOf(sample), context);
    assert.equal(verdict.action, 'modify');
    assert.ok(verdict.action === 'modify');
    const [edit, ...more] = verdict.edits ?? [];
    assert.equal(more.length, 0, 'one part replaced');
    const part = sample.slice(edit!.start, edit!.end);
    assert.match(part, /^Content-Type: application\/octet-stream; name="eicar\.com"/);
    assert.ok(part.includes(EICAR), 'the replaced range is the infected part');
    assert.match(edit!.insert!.toString(), new RegExp(`"eicar\\.com": ${SIGNATURE.eicar.replace(/\./g, '\\.')} \\(found by clamd\\)`));
    assert.deepEqual(verdict.quarantine, { reason: 'virus', detail: `clamd: ${SIGNATURE.eicar} in "eicar.com"` });
  });

  test('what is scanned decoded is not scanned again: the rest of a message with a 1 MB base64 attachment is a few hundred octets', async () => {
    const seen: number[] = [];
    const counting = { name: 'counter', scan: async (source: () => AsyncIterable<Buffer>) => {
      let n = 0;
      for await (const chunk of source()) n += chunk.length;
      seen.push(n);
      return { verdict: 'clean' as const };
    }, version: async () => '1', close: async () => {} };
    const counted = antivirusStep({ engines: [counting], action: 'reject', versions: new EngineVersions([counting]), failOpen: false, scanTimeoutMs: 30_000, scratchDir: join(dir, 'scan'), maxBytes: 50_000_000 });
    const file = Buffer.alloc(1024 * 1024, 7);
    assert.equal((await counted.run(draftOf(messageWith(file, 'data.bin', 'base64', HEADERS)), context)).action, 'accept');
    assert.equal(seen.length, 2, 'the attachment, then the rest');
    assert.equal(seen[0], file.length, 'the attachment decoded');
    assert.ok(seen[1]! < 1000, `the rest without the attachment's 1.4 MB of base64: ${seen[1]} octets`);
    // Malformed (no close delimiter): a program may read it otherwise, so the whole message is scanned too.
    seen.length = 0;
    const malformed = messageWith(file, 'data.bin', 'base64', HEADERS).replace('--outer-b0undary--', '');
    assert.equal((await counted.run(draftOf(malformed), context)).action, 'accept');
    assert.deepEqual(seen, [file.length, Buffer.byteLength(malformed)]);
  });
});
