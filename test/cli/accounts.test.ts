// Domains, users, APOP secrets and aliases through the real command line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { runKakitome, type CliOptions, type CliResult } from '../harness/instance.ts';
import { makeTempDir, removeDir } from '../harness/processes.ts';
import { openStore } from '../../src/store/store.ts';
import { deliverToUsers, storedContents } from '../store/deliver.ts';

let dir: string;
let config: string;
const kakitome = (args: string[], options: CliOptions = {}): Promise<CliResult> =>
  runKakitome([...args, '--config', config], options);

function assertOneLineError(r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `expected failure, got: ${r.stdout}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(r.stderr.startsWith('kakitome: '), r.stderr);
}

function userRow(address: string): { password_hash: string; apop_secret: string | null } | undefined {
  const db = new DatabaseSync(join(dir, 'data', 'kakitome.db'), { readOnly: true });
  try {
    return db.prepare('SELECT password_hash, apop_secret FROM users WHERE address = ?').get(address) as never;
  } finally {
    db.close();
  }
}

before(async () => {
  dir = join(await makeTempDir('kakitome-accounts'), 'inst');
  const r = await runKakitome(['init', '--dir', dir, '--domain', 'example.test']);
  assert.equal(r.code, 0, r.stderr);
  config = join(dir, 'kakitome.toml');
});
after(() => removeDir(join(dir, '..')));

test('domains: add (with DKIM records), duplicate refused, list, remove only when empty', async () => {
  const add = await kakitome(['domain', 'add', 'Bücher.Example']);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /^added domain xn--bcher-kva\.example;/m);
  assert.match(add.stdout, /^k\d{8}e\._domainkey\.xn--bcher-kva\.example\./m);
  assertOneLineError(await kakitome(['domain', 'add', 'xn--bcher-kva.example']), /domain xn--bcher-kva\.example already exists/);
  assertOneLineError(await kakitome(['domain', 'add', 'a@b.example']), /invalid domain/);

  const list = await kakitome(['domain', 'list']);
  assert.match(list.stdout, /^example\.test\s+\d+ users\s+\d+ aliases$/m);
  // Its postmaster@ and abuse@ (RFC 5321 §4.5.1, RFC 2142), pending: there is no user yet.
  assert.match(list.stdout, /^xn--bcher-kva\.example\s+0 users\s+2 aliases$/m);

  const remove = await kakitome(['domain', 'remove', 'bücher.example']);
  assert.equal(remove.code, 0, remove.stderr);
  assert.doesNotMatch((await kakitome(['domain', 'list'])).stdout, /bcher/);
  assertOneLineError(await kakitome(['domain', 'remove', 'bücher.example']), /no such domain/);
  assertOneLineError(await kakitome(['dns', 'bücher.example']), /not a local domain/);
});

test('users: password from stdin is hashed with scrypt, never stored in clear', async () => {
  const r = await kakitome(['user', 'add', 'Alice@Example.Test', '--password-stdin'], { stdin: 'correct horse battery\n' });
  assert.equal(r.code, 0, r.stderr);
  // The first user of the instance receives the postmaster@ and abuse@ mail that init left pending.
  assert.equal(r.stdout, 'added user alice@example.test\nabuse@example.test -> alice@example.test\npostmaster@example.test -> alice@example.test\n');
  const row = userRow('alice@example.test');
  assert.match(row!.password_hash, /^\$scrypt\$/);
  assert.ok(!row!.password_hash.includes('correct horse'));
  assertOneLineError(await kakitome(['user', 'add', 'alice@example.test', '--password-stdin'], { stdin: 'another password\n' }), /user alice@example\.test already exists/);
});

test('users: a generated password is printed once and is strong', async () => {
  const r = await kakitome(['user', 'add', 'bob@example.test']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^password: [A-Za-z2-9]{24}$/m);
});

for (const [address, pattern] of [
  ['../x@example.test', /invalid address/],
  ['a@b@example.test', /more than one @/],
  ['ev\u0001il@example.test', /control character/],
  [`${'x'.repeat(65)}@example.test`, /longer than 64/],
  ['carol@elsewhere.test', /elsewhere\.test is not a local domain/],
] as const) {
  test(`users: ${JSON.stringify(address).slice(0, 40)} is refused and nothing is written`, async () => {
    assertOneLineError(await kakitome(['user', 'add', address, '--password-stdin'], { stdin: 'long enough password\n' }), pattern);
    assert.doesNotMatch((await kakitome(['user', 'list'])).stdout, /carol|x{10}|\.\.|ev/);
  });
}

test('users: weak passwords and unknown users are refused', async () => {
  assertOneLineError(await kakitome(['user', 'add', 'dave@example.test', '--password-stdin'], { stdin: 'short\n' }), /password too short/);
  assert.equal(userRow('dave@example.test'), undefined);
  assertOneLineError(await kakitome(['user', 'add', 'dave@example.test', '--password-stdin'], { stdin: '' }), /password too short/);
  assertOneLineError(await kakitome(['user', 'passwd', 'nobody@example.test', '--password-stdin'], { stdin: 'long enough password\n' }), /no such user: nobody@example\.test/);
  assertOneLineError(await kakitome(['user', 'remove', 'nobody@example.test']), /no such user/);
  assertOneLineError(await kakitome(['user', 'apop', 'nobody@example.test']), /no such user/);
});

test('users: passwd replaces the hash', async () => {
  await kakitome(['user', 'add', 'erin@example.test', '--password-stdin'], { stdin: 'first password 1\n' });
  const before = userRow('erin@example.test')!.password_hash;
  const r = await kakitome(['user', 'passwd', 'erin@example.test', '--password-stdin'], { stdin: 'second password 2\r\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual(userRow('erin@example.test')!.password_hash, before);
});

test('APOP secret: separate from the password, set, generated, removed', async () => {
  await kakitome(['user', 'add', 'frank@example.test', '--password-stdin'], { stdin: 'same-as-login-12\n' });
  assertOneLineError(
    await kakitome(['user', 'apop', 'frank@example.test', '--secret-stdin'], { stdin: 'same-as-login-12\n' }),
    /APOP secret must differ from the login password/,
  );
  assert.equal(userRow('frank@example.test')!.apop_secret, null);
  const set = await kakitome(['user', 'apop', 'frank@example.test', '--secret-stdin'], { stdin: 'franklogin-secret\n' });
  assert.equal(set.code, 0, set.stderr);
  assert.equal(userRow('frank@example.test')!.apop_secret, 'franklogin-secret');

  const generated = await kakitome(['user', 'apop', 'frank@example.test']);
  assert.equal(generated.code, 0, generated.stderr);
  const secret = /^apop secret: (\S+)$/m.exec(generated.stdout)?.[1];
  assert.equal(userRow('frank@example.test')!.apop_secret, secret);
  assert.match((await kakitome(['user', 'list'])).stdout, /^frank@example\.test\s+apop$/m);

  assert.equal((await kakitome(['user', 'apop', 'frank@example.test', '--off'])).code, 0);
  assert.equal(userRow('frank@example.test')!.apop_secret, null);
});

test('aliases: local targets must exist, remote targets forward, no alias over a user', async () => {
  await kakitome(['user', 'add', 'gina@example.test', '--password-stdin'], { stdin: 'gina password 1\n' });
  const r = await kakitome(['alias', 'add', 'Sales@example.test', 'gina@example.test', 'partner@remote.example']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'alias sales@example.test -> gina@example.test, partner@remote.example\n');
  assert.match((await kakitome(['alias', 'list'])).stdout, /^sales@example\.test\s+gina@example\.test, partner@remote\.example$/m);
  assertOneLineError(await kakitome(['alias', 'add', 'info@example.test', 'ghost@example.test']), /ghost@example\.test is in a local domain but is no user or alias/);
  assertOneLineError(await kakitome(['alias', 'add', 'gina@example.test', 'alice@example.test']), /already a user/);
  assertOneLineError(await kakitome(['alias', 'add', 'x@other.test', 'gina@example.test']), /not a local domain/);
  assertOneLineError(await kakitome(['alias', 'add', 'loop@example.test', 'loop@example.test']), /point to itself/);
  assertOneLineError(await kakitome(['user', 'add', 'sales@example.test']), /already an alias/);
  assertOneLineError(await kakitome(['domain', 'remove', 'example.test']), /still has \d+ user\(s\) and \d+ alias\(es\)/);
});

test('user remove deletes the mailbox, its message files and alias links', async () => {
  await kakitome(['user', 'add', 'hank@example.test', '--password-stdin'], { stdin: 'hank password 1\n' });
  await kakitome(['alias', 'add', 'team@example.test', 'hank@example.test', 'alice@example.test']);
  const store = openStore(join(dir, 'data'));
  let blob: string;
  try {
    const user = (await store.accounts.getUser('hank@example.test'))!;
    const before = new Set(storedContents(join(dir, 'data')));
    await deliverToUsers(store, Buffer.from('Subject: hi\r\n\r\nhello\r\n'), [user.id]);
    const added = storedContents(join(dir, 'data')).filter((name) => !before.has(name));
    assert.equal(added.length, 1);
    blob = added[0]!;
  } finally {
    await store.close();
  }
  const r = await kakitome(['user', 'remove', 'hank@example.test']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /removed user hank@example\.test \(and from 1 alias\(es\)\)/);
  const reopened = openStore(join(dir, 'data'));
  try {
    assert.equal(storedContents(join(dir, 'data')).includes(blob), false);
    assert.deepEqual((await reopened.accounts.getAlias('team@example.test'))?.targets, ['alice@example.test']);
  } finally {
    await reopened.close();
  }
});
