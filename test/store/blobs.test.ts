import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { dirname, join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { BlobStore, InvalidBlobNameError, isBlobName, newBlobName } from '../../src/store/blobs.ts';
import { countBlobFiles, makeTempDir, removeTempDir } from './helpers.ts';

// The CommonJS face of node:fs/promises: a method replaced there reaches the ES module
// bindings of every importer (blobs.ts's `open`) after syncBuiltinESMExports().
const fsPromises = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');

describe('BlobStore', () => {
  let dataDir: string;
  let blobs: BlobStore;

  before(async () => {
    dataDir = makeTempDir();
    blobs = BlobStore.open(dataDir);
  });
  after(() => removeTempDir(dataDir));

  test('creates 256 shard directories with mode 0700', () => {
    assert.equal(statSync(blobs.root).mode & 0o777, 0o700);
    const shards = readdirSync(blobs.root).sort();
    assert.equal(shards.length, 256);
    assert.equal(shards[0], '00');
    assert.equal(shards[255], 'ff');
    for (const shard of shards) assert.equal(statSync(join(blobs.root, shard)).mode & 0o777, 0o700);
  });

  test('round-trips a Buffer byte for byte, in a 0600 file', async () => {
    const content = Buffer.from('Subject: hi\r\n\r\nbody with a NUL \0 and 8-bit \xff bytes\r\n', 'latin1');
    const { name, size } = await blobs.write(content);
    assert.equal(size, content.byteLength);
    assert.ok(isBlobName(name));
    assert.deepEqual(await blobs.read(name), content);
    assert.equal(statSync(blobs.path(name)).mode & 0o777, 0o600);
    assert.equal(await text(blobs.open(name)), content.toString());
  });

  test('writes an async iterable of chunks and counts its bytes', async () => {
    const chunks = [Buffer.from('a\r\n'), new Uint8Array([98, 13, 10]), Buffer.alloc(100_000, 120)];
    async function* produce() {
      for (const chunk of chunks) yield chunk;
    }
    const { name, size } = await blobs.write(produce());
    assert.equal(size, 3 + 3 + 100_000);
    assert.deepEqual(await blobs.read(name), Buffer.concat(chunks));
  });

  test('a failing content stream leaves no file behind', async () => {
    const name = newBlobName();
    async function* failing() {
      yield Buffer.from('partial');
      throw new Error('client went away');
    }
    await assert.rejects(blobs.write(failing(), name), /client went away/);
    assert.equal(existsSync(blobs.path(name)), false);
  });

  test('never overwrites an existing file (O_EXCL)', async () => {
    const { name } = await blobs.write(Buffer.from('first'));
    await assert.rejects(blobs.write(Buffer.from('second'), name), { code: 'EEXIST' });
    assert.equal((await blobs.read(name)).toString(), 'first');
  });

  test('names are random 26-character base32 ids, sharded by their first byte', () => {
    const names = new Set(Array.from({ length: 2000 }, () => newBlobName()));
    assert.equal(names.size, 2000);
    const shards = new Set<string>();
    for (const name of names) {
      assert.match(name, /^[a-z2-7]{26}$/);
      const path = blobs.path(name);
      assert.equal(path, join(blobs.root, path.split('/').at(-2)!, name));
      shards.add(path.split('/').at(-2)!);
    }
    assert.ok(shards.size > 200, `2000 names should spread over most of the 256 shards, got ${shards.size}`);
    // 'a' = 0 and 'b' = 1: first byte 0b00000_000 → shard 00; '7' = 31, '7' = 31 → 0xff.
    assert.ok(blobs.path('aaaaaaaaaaaaaaaaaaaaaaaaaa').endsWith('/00/aaaaaaaaaaaaaaaaaaaaaaaaaa'));
    assert.ok(blobs.path('77aaaaaaaaaaaaaaaaaaaaaaaa').endsWith('/ff/77aaaaaaaaaaaaaaaaaaaaaaaa'));
  });

  test('path() rejects every name that is not a well-formed id', () => {
    const bad = [
      '',
      '..',
      '../x',
      '../../etc/passwd',
      '/etc/passwd',
      'aa/../../../etc/passwd',
      'aaaaaaaaaaaaaaaaaaaaaaaaa/', // 26 characters with a slash
      'aaaaaaaaaaaaaaaaaaaaaaaaa', // 25 characters
      'aaaaaaaaaaaaaaaaaaaaaaaaaaa', // 27 characters
      'AAAAAAAAAAAAAAAAAAAAAAAAAA', // upper case
      'aaaaaaaaaaaaaaaaaaaaaaaaa3', // last character carries non-zero padding bits
      'aaaaaaaaaaaaaaaaaaaaaaaa0a', // 0 is not in the alphabet
      'aaaaaaaaaaaaaaaaaaaaaaaaa\0',
      'aaaaaaaaaaaaaaaaaaaaaaaaaa\n',
      '%2e%2e%2faaaaaaaaaaaaaaaaa',
    ];
    for (const name of bad) {
      assert.throws(() => blobs.path(name), InvalidBlobNameError, JSON.stringify(name));
      assert.throws(() => blobs.open(name), InvalidBlobNameError);
    }
  });

  test('read, remove and write refuse bad names too', async () => {
    await assert.rejects(blobs.read('../x'), InvalidBlobNameError);
    await assert.rejects(blobs.remove('/etc/passwd'), InvalidBlobNameError);
    await assert.rejects(blobs.write(Buffer.from('x'), '../../evil'), InvalidBlobNameError);
    await assert.rejects(blobs.syncDirs(['../x']), InvalidBlobNameError);
  });

  test('remove() deletes a file and reports a missing one', async () => {
    const { name } = await blobs.write(Buffer.from('bye'));
    assert.equal(await blobs.remove(name), true);
    assert.equal(existsSync(blobs.path(name)), false);
    assert.equal(await blobs.remove(name), false);
  });

  test('syncDirs() fsyncs the shard directory of each given name, once per shard', async (t) => {
    // Names from newBlobName() land in random shards (newName() would put them in one).
    const written = await Promise.all([1, 2, 3, 4].map((n) => blobs.write(Buffer.from(`n${n}`), newBlobName())));
    // A name given twice: its shard is still synced once.
    const names = [...written.map((blob) => blob.name), written[0]!.name];
    const expected = [...new Set(names.map((name) => dirname(blobs.path(name))))].sort();
    // Watch every directory handle blobs.ts opens through node:fs/promises and syncs.
    const synced: string[] = [];
    const realOpen = fsPromises.open;
    const watched = t.mock.method(fsPromises, 'open', async (path: string, ...rest: unknown[]) => {
      const handle: FileHandle = await realOpen(path, ...(rest as [string]));
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        await sync();
        synced.push(String(path));
      };
      return handle;
    });
    syncBuiltinESMExports();
    try {
      await blobs.syncDirs(names);
    } finally {
      watched.mock.restore();
      syncBuiltinESMExports();
    }
    assert.deepEqual(synced.sort(), expected);
    assert.ok(expected.length >= 2 && expected.every((dir) => dirname(dir) === blobs.root), 'the shards under the blobs root');
  });

  test('newName() keeps 64 new names in a row in one shard, then takes the next', async () => {
    const names = Array.from({ length: 64 * 3 }, () => blobs.newName());
    assert.equal(new Set(names).size, names.length, 'every name is new');
    for (const name of names) assert.ok(isBlobName(name), name);
    const shards = names.map((name) => dirname(blobs.path(name)));
    const runs = shards.filter((shard, index) => index === 0 || shard !== shards[index - 1]);
    assert.ok(runs.length === 3 || runs.length === 4, `three or four runs of one shard (the first may be partly used): ${runs.length}`);
    assert.equal(new Set(runs).size, runs.length, 'each run in another shard');
    const first = parseInt(runs[0]!.slice(-2), 16);
    runs.forEach((shard, index) => assert.equal(parseInt(shard.slice(-2), 16), (first + index) % 256, 'shards taken in turn'));
    // Written and read back under such names like any other.
    const { name } = await blobs.write(Buffer.from('sharded'));
    assert.equal((await blobs.read(name)).toString(), 'sharded');
  });

  test('entries() lists blob files and skips anything else', async () => {
    const { name } = await blobs.write(Buffer.from('listed'));
    writeFileSync(join(blobs.root, '00', 'not-a-blob'), 'x');
    const entries = [];
    for await (const entry of blobs.entries()) entries.push(entry);
    assert.ok(entries.some((entry) => entry.name === name));
    assert.ok(entries.every((entry) => isBlobName(entry.name)));
    assert.equal(entries.length, await countBlobFiles(blobs));
  });

  test('refuses a blobs root that is a symlink', async () => {
    const elsewhere = makeTempDir();
    const victim = makeTempDir();
    try {
      mkdirSync(join(victim, 'target'));
      symlinkSync(join(victim, 'target'), join(elsewhere, 'blobs'));
      assert.throws(() => BlobStore.open(elsewhere), /not a directory/);
    } finally {
      removeTempDir(elsewhere);
      removeTempDir(victim);
    }
  });
});
