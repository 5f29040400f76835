// Schema v5 on an instance made before it (issue 10): every local domain gets the
// postmaster@ and abuse@ it lacks (RFC 5321 §4.5.1, RFC 2142), to the first user, or
// pending while there is none; a user or alias of that name is left as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { migrations } from '../../src/store/sqlite/migrations.ts';
import { openStore } from '../../src/store/store.ts';

/** A data directory holding a v4 database (the schema before role aliases) with the given rows. */
function v4DataDir(rows: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-v4-'));
  mkdirSync(join(dir, 'data'), { mode: 0o700 });
  const db = new DatabaseSync(join(dir, 'data', 'kakitome.db'));
  for (const migration of migrations.slice(0, 4)) db.exec(migration);
  db.exec(`PRAGMA user_version = 4; ${rows}`);
  db.close();
  return dir;
}

test('v5 gives existing domains their role aliases without touching those set by hand', async (t) => {
  const dir = v4DataDir(`
    INSERT INTO domains VALUES ('a.test', 1), ('b.test', 2);
    INSERT INTO users (address, domain, password_hash, created_at) VALUES ('alice@a.test', 'a.test', 'x', 1), ('bob@b.test', 'b.test', 'x', 2);
    INSERT INTO aliases VALUES ('postmaster@b.test', 'bob@b.test', 'b.test', 3);
  `);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openStore(join(dir, 'data'));
  try {
    const aliases = Object.fromEntries((await store.accounts.listAliases()).map((a) => [a.address, a.targets]));
    assert.deepEqual(aliases, {
      'abuse@a.test': ['alice@a.test'],
      'abuse@b.test': ['alice@a.test'],
      'postmaster@a.test': ['alice@a.test'],
      'postmaster@b.test': ['bob@b.test'],
    });
    assert.deepEqual(await store.accounts.listPendingAliases(), []);
  } finally {
    await store.close();
  }
});

test('v5 without any user leaves the role aliases pending for the first one', async (t) => {
  const dir = v4DataDir(`INSERT INTO domains VALUES ('a.test', 1);`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = openStore(join(dir, 'data'));
  try {
    assert.deepEqual((await store.accounts.listPendingAliases()).map((p) => [p.address, p.awaiting]), [
      ['abuse@a.test', null],
      ['postmaster@a.test', null],
    ]);
    await store.accounts.addUser('alice@a.test', 'a.test', 'x');
    assert.deepEqual((await store.accounts.getAlias('postmaster@a.test'))?.targets, ['alice@a.test']);
  } finally {
    await store.close();
  }
});
