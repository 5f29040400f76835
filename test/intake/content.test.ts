// MessageContent: edits by offset, prepends, header(), and a spilled message read as a
// stream in pieces, never whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidEditError, MessageContent } from '../../src/intake/content.ts';
import { DraftWriter, SPILL_BYTES } from '../../src/intake/draft-writer.ts';
import { openStore } from '../../src/store/store.ts';
import { messageFiles } from '../store/deliver.ts';

const text = async (content: MessageContent) => (await content.read()).toString();

test('edits replace and remove ranges; prepends go on top; the original is untouched', async () => {
  const original = MessageContent.fromBuffer(Buffer.from('A: 1\r\nB: 2\r\nC: 3\r\n\r\nbody\r\n'));
  const edited = original.edit([
    { start: 6, end: 12 }, // B: 2
    { start: 0, end: 1, insert: Buffer.from('X') },
  ]);
  assert.equal(await text(edited), 'X: 1\r\nC: 3\r\n\r\nbody\r\n');
  const prepended = edited.prepend('Top: yes\r\n');
  assert.equal(await text(prepended), 'Top: yes\r\nX: 1\r\nC: 3\r\n\r\nbody\r\n');
  assert.equal(prepended.size, Buffer.byteLength('Top: yes\r\nX: 1\r\nC: 3\r\n\r\nbody\r\n'));
  assert.equal(await text(original), 'A: 1\r\nB: 2\r\nC: 3\r\n\r\nbody\r\n');
  assert.equal((await prepended.header()).toString(), 'Top: yes\r\nX: 1\r\nC: 3\r\n\r\n');
  assert.throws(() => original.edit([{ start: 0, end: 5 }, { start: 3, end: 8 }]), InvalidEditError);
  assert.throws(() => original.edit([{ start: 0, end: 999 }]), InvalidEditError);
});

test('a message without a body: header() is all of it; an empty header is the blank line', async () => {
  assert.equal((await MessageContent.fromBuffer(Buffer.from('A: 1\r\n')).header()).toString(), 'A: 1\r\n');
  assert.equal((await MessageContent.fromBuffer(Buffer.from('\r\nbody\r\n')).header()).toString(), '\r\n');
});

test('past SPILL_BYTES the content goes to a scratch file, is streamed in pieces, edited without copying, and removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-content-'));
  const store = openStore(join(dir, 'data'), { create: true });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const writer = new DraftWriter(store.deliveries);
  const header = 'Subject: big\r\nX-Forged: yes\r\n\r\n';
  const line = Buffer.from(`${'x'.repeat(998)}\r\n`);
  writer.append(Buffer.from(header));
  const lines = Math.ceil((3 * SPILL_BYTES) / line.length);
  for (let i = 0; i < lines; i++) {
    if (!writer.append(line)) await new Promise((resolve) => writer.drainTarget()!.once('drain', resolve));
  }
  const content = await writer.finish();
  assert.equal(content.inMemory, false);
  assert.equal(content.size, header.length + lines * line.length);
  assert.equal(messageFiles(join(dir, 'data')).length, 1, 'one scratch file');

  const forged = header.indexOf('X-Forged');
  const edited = content.edit([{ start: forged, end: forged + 'X-Forged: yes\r\n'.length }]).prepend('Received: by us\r\n');
  assert.equal((await edited.header()).toString(), 'Received: by us\r\nSubject: big\r\n\r\n');
  let largest = 0;
  let total = 0;
  for await (const chunk of edited.stream()) {
    largest = Math.max(largest, (chunk as Buffer).length);
    total += (chunk as Buffer).length;
  }
  assert.equal(total, edited.size);
  assert.ok(largest <= 64 * 1024, `read in pieces, the largest ${largest} octets`);

  await writer.discard();
  assert.equal(messageFiles(join(dir, 'data')).length, 0, 'the scratch file is gone');
});
