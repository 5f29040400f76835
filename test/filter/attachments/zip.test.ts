import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { readZipDirectory, readZipEntry, sniffZipEntry } from '../../../src/filter/attachments/zip.ts';
import { bufferSource, fileSource } from '../../../src/filter/attachments/source.ts';
import { buildZip, tempDir, zipCli } from './fixtures.ts';

const LIMITS = { maxEntries: 100 };

async function list(zip: Buffer, limits = LIMITS) {
  const directory = await readZipDirectory(bufferSource(zip), limits);
  assert.ok(directory.ok, JSON.stringify(directory));
  return directory;
}

async function contents(zip: Buffer, index: number, limit = 1 << 20) {
  const directory = await list(zip);
  const pieces: Buffer[] = [];
  const result = await readZipEntry(bufferSource(zip), directory.entries[index]!, limit, (piece) => void pieces.push(piece));
  return { result, data: Buffer.concat(pieces) };
}

test('a zip from Info-ZIP: names, methods, sizes, data', async (t) => {
  const text = 'hello '.repeat(1000);
  const zip = zipCli(t, { 'a.txt': text, 'dir/b.exe': 'MZ', 'stored.bin': Buffer.from([1, 2, 3]) });
  const directory = await list(zip);
  assert.deepEqual(directory.entries.map((e) => [e.names, e.method, e.uncompressedSize, e.encrypted]), [
    [['a.txt'], 8, text.length, false],
    [['dir/b.exe'], 0, 2, false],
    [['stored.bin'], 0, 3, false],
  ]);
  assert.deepEqual(await contents(zip, 0), { result: { ok: true, size: text.length }, data: Buffer.from(text) });
  assert.deepEqual((await contents(zip, 2)).data, Buffer.from([1, 2, 3]));
  assert.deepEqual((await sniffZipEntry(bufferSource(zip), directory.entries[0]!))?.subarray(0, 6), Buffer.from('hello '));
});

test('read from a file as well as from memory', async (t) => {
  const zip = zipCli(t, { 'x.js': 'alert(1)' });
  const path = join(tempDir(t), 'x.zip');
  await writeFile(path, zip);
  const handle = await open(path);
  t.after(() => handle.close());
  const directory = await readZipDirectory(fileSource(handle, zip.length), LIMITS);
  assert.ok(directory.ok);
  assert.deepEqual(directory.entries.map((e) => e.names), [['x.js']]);
});

test('encryption: traditional (flag bit 0) from zip -P, strong (bit 6), AES (method 99)', async (t) => {
  const zip = zipCli(t, { 'evil.exe': 'MZ' }, ['-P', 'secret']);
  const directory = await list(zip);
  assert.equal(directory.entries[0]!.flags & 1, 1);
  assert.ok(directory.entries[0]!.encrypted);
  assert.deepEqual(await readZipEntry(bufferSource(zip), directory.entries[0]!, 100, () => {}), { ok: false, reason: 'encrypted', detail: 'the entry is encrypted' });
  const strong = await list(buildZip([{ name: 'a.exe', data: Buffer.from('x'), flags: 0x40 }]));
  assert.ok(strong.entries[0]!.encrypted);
  const aes = await list(buildZip([{ name: 'a.exe', compressed: Buffer.from('x'), method: 99, extra: Buffer.from('0199070002004145030800', 'hex') }]));
  assert.ok(aes.entries[0]!.encrypted);
});

test('names: the UTF-8 flag, CP437 octets, and the Info-ZIP Unicode Path field (both names kept)', async () => {
  const utf8 = await list(buildZip([{ name: 'résumé.pdf', flags: 0x800 }, { name: 'dir/' }]));
  assert.deepEqual(utf8.entries.map((e) => [e.names, e.directory]), [[['résumé.pdf'], false], [['dir/'], true]]);
  // No flag, UTF-8 octets: read as CP437/latin1 and as UTF-8.
  const unflagged = await list(buildZip([{ name: 'x', nameBytes: Buffer.from('ü.txt', 'utf8') }]));
  assert.deepEqual(unflagged.entries[0]!.names, [Buffer.from('ü.txt', 'utf8').toString('latin1'), 'ü.txt']);
  const unicodePath = Buffer.concat([Buffer.from([0x75, 0x70, 13, 0, 1, 0, 0, 0, 0]), Buffer.from('evil.exe')]);
  const spoofed = await list(buildZip([{ name: 'harmless.txt', extra: unicodePath }]));
  assert.deepEqual(spoofed.entries[0]!.names, ['harmless.txt', 'evil.exe']);
});

test('ZIP64 end record, locator and extra fields', async () => {
  const zip = buildZip([{ name: 'a.txt', data: Buffer.from('abc') }, { name: 'b.scr', data: Buffer.from('MZ') }], { zip64: true });
  const directory = await list(zip);
  assert.ok(directory.zip64);
  assert.deepEqual(directory.entries.map((e) => [e.names[0], e.uncompressedSize]), [['a.txt', 3], ['b.scr', 2]]);
  assert.deepEqual((await contents(zip, 1)).data, Buffer.from('MZ'));
});

test('octets before the archive (a self-extractor) shift every offset; the reader finds them', async (t) => {
  const zip = Buffer.concat([Buffer.from('MZ'.padEnd(5000, '\0')), zipCli(t, { 'inner.vbs': 'x' })]);
  const directory = await list(zip);
  assert.equal(directory.prefix, 5000);
  assert.deepEqual(directory.entries.map((e) => e.names), [['inner.vbs']]);
  assert.deepEqual((await contents(zip, 0)).data, Buffer.from('x'));
});

test('a whole second archive in the comment: both directories are read', async () => {
  // A reader that takes the last end record sees only decoy.txt; one that checks the
  // comment length of the first sees real.exe. Both are listed.
  const decoy = buildZip([{ name: 'decoy.txt', data: Buffer.from('d') }]);
  const real = buildZip([{ name: 'real.exe', data: Buffer.from('MZ') }], { comment: decoy });
  const directory = await list(real);
  assert.deepEqual(directory.entries.map((e) => e.names[0]).sort(), ['decoy.txt', 'real.exe']);
});

test('an end record count smaller than the directory does not hide entries', async () => {
  const zip = buildZip([{ name: 'a.txt' }, { name: 'b.exe' }], { declaredCount: 1 });
  assert.deepEqual((await list(zip)).entries.map((e) => e.names[0]), ['a.txt', 'b.exe']);
});

test('limits and bounds: too many entries, offsets outside the file, not a zip', async () => {
  const many = buildZip(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}.txt` })));
  assert.deepEqual(await readZipDirectory(bufferSource(many), { maxEntries: 10 }), { ok: false, reason: 'too-many-entries', detail: 'more than 10 entries' });
  const good = buildZip([{ name: 'a.txt', data: Buffer.from('abc') }]);
  const badOffset = Buffer.from(good);
  badOffset.writeUInt32LE(0x7fffffff, good.length - 6); // central directory offset
  const result = await readZipDirectory(bufferSource(badOffset), LIMITS);
  assert.equal(result.ok, false);
  assert.deepEqual(await readZipDirectory(bufferSource(Buffer.from('not a zip at all, just text')), LIMITS), { ok: false, reason: 'not-a-zip', detail: 'no end of central directory record' });
  assert.equal((await readZipDirectory(bufferSource(Buffer.alloc(3)), LIMITS)).ok, false);
  // Every truncation of a real zip: a result, never a throw.
  for (let cut = 0; cut < good.length; cut++) {
    const directory = await readZipDirectory(bufferSource(good.subarray(0, cut)), LIMITS);
    if (directory.ok) for (const entry of directory.entries) await readZipEntry(bufferSource(good.subarray(0, cut)), entry, 100, () => {});
  }
});

test('an entry that inflates past its declared size, or past the limit, is cut off', async () => {
  const data = Buffer.alloc(100_000, 0x41);
  const lying = buildZip([{ name: 'small.txt', data, declaredSize: 1000 }]);
  const { result } = await contents(lying, 0);
  assert.deepEqual(result, { ok: false, reason: 'exceeds-declared', detail: 'more than 1000 octets' });
  const honest = buildZip([{ name: 'big.txt', data }]);
  assert.equal((await contents(honest, 0, 5000)).result.ok, false);
  const corrupt = buildZip([{ name: 'bad.txt', compressed: Buffer.from([0xff, 0xff, 0xff]), declaredSize: 10 }]);
  assert.equal((await contents(corrupt, 0)).result.ok ? 'ok' : 'malformed', 'malformed');
  const unsupported = buildZip([{ name: 'x.txt', method: 14, compressed: deflateRawSync('x') }]);
  assert.equal(((await contents(unsupported, 0)).result as { reason: string }).reason, 'unsupported-method');
});
