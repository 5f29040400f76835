// Schema v9 on an instance made before it: the spam model's token weights (the third
// part of the model until then) are dropped; its counts and 4-gram weights stay, and its
// version moves so that a running serve loads it again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { migrations } from '../../src/store/sqlite/migrations.ts';
import { openStore } from '../../src/store/store.ts';
import { INSTANCE_SCOPE } from '../../src/store/spam.ts';

const le = (...columns: (Uint32Array | Uint16Array | Float32Array)[]) => Buffer.concat(columns.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));

test('v9 drops the token weights of a stored spam model and keeps its counts and 4-gram weights', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-v8-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'data'), { mode: 0o700 });
  const db = new DatabaseSync(join(dir, 'data', 'kakitome.db'));
  for (const migration of migrations.slice(0, 8)) db.exec(migration);
  db.exec('PRAGMA user_version = 8');
  const tokens = le(Uint32Array.of(7, 9), Uint32Array.of(3, 0), Uint32Array.of(0, 2), Uint16Array.of(100, 101));
  db.prepare('INSERT INTO spam_models VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(INSTANCE_SCOPE, 3, 2, tokens, le(Uint32Array.of(5), Float32Array.of(1.5)), le(Uint32Array.of(42), Float32Array.of(-0.25)), 4, 1000);
  db.close();

  const store = openStore(join(dir, 'data'));
  try {
    const model = await store.spam.load(INSTANCE_SCOPE);
    assert.ok(model);
    assert.deepEqual([model.spamMessages, model.hamMessages, model.version], [3, 2, 5], 'the version moved: serve loads it again');
    assert.deepEqual([...model.tokens.hashes], [7, 9]);
    assert.deepEqual([...model.tokens.spam], [3, 0]);
    assert.deepEqual([...model.tokens.ham], [0, 2]);
    assert.deepEqual([...model.grams.indices], [42]);
    assert.deepEqual([...model.grams.values], [-0.25]);
    assert.ok(!('weights' in model));
  } finally {
    await store.close();
  }
  const after = new DatabaseSync(join(dir, 'data', 'kakitome.db'));
  try {
    const columns = (after.prepare('PRAGMA table_info(spam_models)').all() as { name: string }[]).map((c) => c.name);
    assert.ok(!columns.includes('weights'), columns.join(', '));
  } finally {
    after.close();
  }
});
