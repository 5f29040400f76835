// The attachment step on drafts made here: which messages it inspects at all (plain text
// skips the walk; a file name or any other type or encoding does not), and what a
// single-part message that is itself the blocked file gets.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEFAULT_BLOCKED_EXTENSIONS } from '../../../src/filter/attachments/extensions.ts';
import { MessageContent } from '../../../src/intake/content.ts';
import { attachmentsStep } from '../../../src/intake/steps/attachments.ts';
import type { Draft, IntakeContext, StepVerdict } from '../../../src/intake/step.ts';

const context = { origin: 'mta', queueId: 'q', mailFrom: '', envelopeRecipients: [], client: null, hostname: 'mail.example.test', now: new Date(0), logger: pino({ level: 'silent' }) } as IntakeContext;
const draftOf = (raw: string): Draft => {
  const content = MessageContent.fromBuffer(Buffer.from(raw));
  return { original: content, content, recipients: [], notes: {}, topOctets: 0 };
};
const said = (verdict: StepVerdict) => (verdict.action === 'reject' || verdict.action === 'tempfail' ? `${verdict.reply.code} ${verdict.reply.enhanced} ${verdict.reply.text}` : verdict.action);

let dir: string;
let step: ReturnType<typeof attachmentsStep>;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kakitome-att-step-'));
  step = attachmentsStep({ direction: 'inbound', action: 'strip', blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS, scratchDir: join(dir, 'scan'), maxBytes: 1_000_000 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('plain text passes untouched; a single-part message that is a blocked file is refused even under strip', async () => {
  assert.equal(said(await step.run(draftOf('Subject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n'), context)), 'accept');
  assert.equal(said(await step.run(draftOf('Subject: hi\r\n\r\nno MIME at all\r\n'), context)), 'accept');
  const named = [
    'Content-Disposition: attachment; filename="setup.exe"',
    'Content-Type: text/plain; name="notes.js"',
    'Content-Type: (x) text/plain; name*=utf-8\'\'run%2Ebat',
  ];
  for (const field of named) {
    assert.match(said(await step.run(draftOf(`Subject: hi\r\n${field}\r\n\r\nbody\r\n`), context)), /^554 5\.7\.1 message refused: attachment "[^"]+" is not accepted/, field);
  }
  const encoded = 'Subject: hi\r\nContent-Type: application/x-msdownload\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="a.scr"\r\n\r\nTVqQAA==\r\n';
  assert.match(said(await step.run(draftOf(encoded), context)), /^554 5\.7\.1 message refused: attachment "a\.scr"/);
});
