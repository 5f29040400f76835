// bin/kakitome.js keeps Node's compile cache in node_modules/.cache/kakitome-compile,
// a directory only this user can write (the cache holds code the process runs), and
// leaves Node's own NODE_COMPILE_CACHE / NODE_DISABLE_COMPILE_CACHE to Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KAKITOME_BIN } from '../harness/instance.ts';
import { childEnv } from '../harness/processes.ts';

const CACHE = fileURLToPath(new URL('../../node_modules/.cache/kakitome-compile/', import.meta.url));

function kakitome(env: NodeJS.ProcessEnv): void {
  const run = spawnSync(process.execPath, [KAKITOME_BIN, '--help'], { env: childEnv(env), encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^Usage: kakitome/m);
}

/** Every file under DIR, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

test('kakitome keeps its compile cache in node_modules/.cache/kakitome-compile, mode 0700 and owned by the user', async () => {
  // Made afresh (another kakitome running meanwhile only misses its cache once). Another
  // test's kakitome may write into it while it goes (ENOTEMPTY): rm tries again.
  await rm(CACHE, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  kakitome({ NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined });
  const info = await stat(CACHE);
  assert.ok(info.isDirectory());
  assert.equal(info.mode & 0o777, 0o700);
  assert.equal(info.uid, process.getuid!());
  assert.ok((await filesUnder(CACHE)).length > 0, 'the cache holds the compiled modules');
});

test("NODE_COMPILE_CACHE puts Node's cache where it names, and kakitome's own directory gains nothing", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kakitome-ccache-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  kakitome({ NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined });
  const before = (await filesUnder(CACHE)).length;
  kakitome({ NODE_COMPILE_CACHE: dir, NODE_DISABLE_COMPILE_CACHE: undefined });
  assert.ok((await filesUnder(dir)).length > 0, 'Node wrote its cache to NODE_COMPILE_CACHE');
  assert.equal((await filesUnder(CACHE)).length, before);
});
