// postmaster@ and abuse@ (RFC 5321 §4.5.1, RFC 2142) through the real command line:
// made by init and `domain add` (for the first user, or `--postmaster`), pending until
// their user exists, never overwriting an administrator's alias, never left reaching
// nobody by `user remove` or `alias remove`, removed with their domain.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runKakitome, type CliOptions, type CliResult } from '../harness/instance.ts';
import { makeTempDir, removeDir } from '../harness/processes.ts';

const PASSWORD = 'long enough password 1';

/** A new instance (init --domain a.test [extra…]); returns a `kakitome … --config` runner. */
async function instance(t: TestContext, extra: string[] = []) {
  const dir = await makeTempDir('kakitome-roles');
  t.after(() => removeDir(dir));
  const init = await runKakitome(['init', '--dir', join(dir, 'inst'), '--domain', 'a.test', ...extra]);
  const config = join(dir, 'inst', 'kakitome.toml');
  const cli = (args: string[], options: CliOptions = {}): Promise<CliResult> => runKakitome([...args, '--config', config], options);
  const ok = async (args: string[], options: CliOptions = {}) => {
    const r = await cli(args, options);
    assert.equal(r.code, 0, `kakitome ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const addUser = (address: string) => ok(['user', 'add', address, '--password-stdin'], { stdin: `${PASSWORD}\n` });
  return { init, cli, ok, addUser };
}

function assertOneLineError(r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `expected failure, got: ${r.stdout}`);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
}

test('init leaves postmaster@ and abuse@ waiting for the first user, who gets them; a later domain gets them at once', async (t) => {
  const { init, ok, addUser } = await instance(t);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /^postmaster@a\.test waits for the first user added \(until then mail to it gets 450 4\.2\.1, and is retried\)$/m);
  assert.match(init.stdout, /^abuse@a\.test waits for the first user added/m);
  assert.match(await ok(['alias', 'list']), /^postmaster@a\.test\s+\(waits for the first user added\)$/m);
  assert.match(await ok(['domain', 'list']), /^a\.test\s+0 users\s+2 aliases$/m);

  const added = await addUser('alice@a.test');
  assert.match(added, /^postmaster@a\.test -> alice@a\.test$/m);
  assert.match(added, /^abuse@a\.test -> alice@a\.test$/m);
  assert.doesNotMatch(await addUser('bob@a.test'), /->/, 'only the first user');

  const domain = await ok(['domain', 'add', 'b.test']);
  assert.match(domain, /^postmaster@b\.test -> alice@a\.test$/m);
  assert.match(domain, /^abuse@b\.test -> alice@a\.test$/m);
  assert.match(await ok(['domain', 'list']), /^b\.test\s+0 users\s+2 aliases$/m);
});

test('--postmaster on init and domain add: a remote address at once, a local user once it is added', async (t) => {
  const { init, cli, ok, addUser } = await instance(t, ['--postmaster', 'Hostmaster@Remote.Example']);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /^postmaster@a\.test -> hostmaster@remote\.example$/m);
  assert.doesNotMatch(init.stdout, /first user also receives/);

  assert.match(await ok(['domain', 'add', 'b.test', '--postmaster', 'boss@b.test']), /^postmaster@b\.test waits for boss@b\.test /m);
  assert.doesNotMatch(await addUser('alice@b.test'), /->/, 'the first user does not take what waits for boss@');
  const boss = await addUser('boss@b.test');
  assert.match(boss, /^postmaster@b\.test -> boss@b\.test$/m);
  assert.match(boss, /^abuse@b\.test -> boss@b\.test$/m);

  assertOneLineError(await cli(['domain', 'add', 'c.test', '--postmaster', 'not an address']), /invalid address/);
  assert.doesNotMatch(await ok(['domain', 'list']), /c\.test/, 'nothing written');
});

test('an alias the administrator set is never overwritten by the first user', async (t) => {
  const { ok, addUser } = await instance(t);
  await ok(['alias', 'add', 'abuse@a.test', 'desk@remote.example']);
  assert.doesNotMatch(await addUser('alice@a.test'), /abuse@/);
  const list = await ok(['alias', 'list']);
  assert.match(list, /^abuse@a\.test\s+desk@remote\.example$/m);
  assert.match(list, /^postmaster@a\.test\s+alice@a\.test$/m);
});

test('user remove of the last recipient of postmaster@ is refused, naming the aliases; alias add then remove changes it', async (t) => {
  const { cli, ok, addUser } = await instance(t);
  await addUser('alice@a.test');
  await addUser('carol@a.test');
  const refused = await cli(['user', 'remove', 'alice@a.test']);
  assertOneLineError(refused, /alice@a\.test is the last recipient of postmaster@a\.test, abuse@a\.test.*kakitome alias add postmaster@a\.test ADDRESS/);
  assert.match(await ok(['user', 'list']), /^alice@a\.test\b/m, 'nothing removed');

  await ok(['alias', 'add', 'postmaster@a.test', 'carol@a.test']);
  await ok(['alias', 'add', 'abuse@a.test', 'carol@a.test']);
  assert.match(await ok(['user', 'remove', 'alice@a.test']), /removed user alice@a\.test \(and from 2 alias\(es\)\)/);
  assert.match(await ok(['alias', 'list']), /^postmaster@a\.test\s+carol@a\.test$/m);

  // Removed by hand, a role address stays, waiting for a new target (450, not 550).
  const removed = await ok(['alias', 'remove', 'postmaster@a.test']);
  assert.match(removed, /^postmaster@a\.test waits for a target: kakitome alias add postmaster@a\.test ADDRESS/m);
  await ok(['alias', 'add', 'postmaster@a.test', 'ops@remote.example']);
  assert.match(await ok(['alias', 'list']), /^postmaster@a\.test\s+ops@remote\.example$/m);
});

test('domain remove takes the domain\'s own postmaster@ and abuse@ with it, and nothing else', async (t) => {
  const { cli, ok, addUser } = await instance(t);
  await addUser('alice@a.test');
  await ok(['domain', 'add', 'b.test']);
  assert.match(await ok(['domain', 'remove', 'b.test']), /removed domain b\.test/);
  assert.doesNotMatch(await ok(['alias', 'list']), /b\.test/);
  await ok(['domain', 'add', 'c.test']);
  await ok(['alias', 'add', 'team@a.test', 'postmaster@c.test']);
  assertOneLineError(await cli(['domain', 'remove', 'c.test']), /domain c\.test is a target of team@a\.test/);
});
