// MessageContent: edits by offset, prepends, header(), and a spilled message read as a
// stream in pieces, never whole.
import { test } from 'node:test';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidEditError, MessageContent } from '../../src/intake/content.ts';
import { DraftMemoryBudget, DraftWriter, SPILL_BYTES } from '../../src/intake/draft-writer.ts';
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

test('drafts share a memory budget: one that does not fit goes to a scratch file at once; discarded ones give their share back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-content-'));
  const store = openStore(join(dir, 'data'), { create: true });
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const budget = new DraftMemoryBudget(100_000);
  const draft = async (octets: number) => {
    const writer = new DraftWriter(store.deliveries, budget);
    for (let sent = 0; sent < octets; sent += 10_000) writer.append(Buffer.alloc(10_000, 'a'));
    return { writer, content: await writer.finish() };
  };
  const first = await draft(80_000);
  assert.equal(first.content.inMemory, true);
  assert.equal(budget.used, 80_000);
  const second = await draft(80_000);
  assert.equal(second.content.inMemory, false, 'over the shared budget: spilled');
  assert.equal(budget.used, 80_000, 'the spilled draft holds no share');
  assert.equal((await second.content.read()).length, 80_000, 'nothing of it is lost');
  await first.writer.discard();
  await second.writer.discard();
  assert.equal(budget.used, 0);
  const third = await draft(80_000);
  assert.equal(third.content.inMemory, true, 'the share given back is used again');
  await third.writer.discard();
  assert.equal(messageFiles(join(dir, 'data')).length, 0);
});

/** What header() must give: the octets up to the first blank line; the blank line alone when the header is empty; all when there is no body. */
function referenceHeader(raw: Buffer): Buffer {
  if (raw.subarray(0, 2).equals(Buffer.from('\r\n'))) return raw.subarray(0, 2);
  const end = raw.indexOf('\r\n\r\n');
  return end < 0 ? raw : raw.subarray(0, end + 4);
}

test('header() in memory, however the content is cut into pieces, with a field prepended or not', () =>
  fc.assert(
    fc.asyncProperty(
      fc.array(fc.constantFrom('A', ':', ' ', '\r', '\n', '\r\n', '\r\n\r\n', 'x'), { maxLength: 40 }).map((parts) => parts.join('')),
      fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 6 }),
      async (text, cuts) => {
        const raw = Buffer.from(text);
        // Empty edits at the cuts split the one piece there.
        const content = MessageContent.fromBuffer(raw).edit([...new Set(cuts.filter((c) => c <= raw.length))].map((c) => ({ start: c, end: c })));
        assert.deepEqual(await content.header(), referenceHeader(raw), JSON.stringify(text));
        const field = Buffer.from('Received: x\r\n');
        assert.deepEqual(await content.prepend(field).header(), referenceHeader(Buffer.concat([field, raw])), JSON.stringify(text));
      },
    ),
    { numRuns: 500, seed: 61206 },
  ));
