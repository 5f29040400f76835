// A command whose reader goes away (`kakitome quarantine list | head -1`) stops quietly:
// exit status 0 and nothing on stderr, not an unhandled EPIPE with a stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KAKITOME_BIN, runKakitome } from '../harness/instance.ts';

test('stdout closed by its reader before the command writes: exit 0, no stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-epipe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const init = await runKakitome(['init', '--dir', join(dir, 'i'), '--domain', 'example.test', '--port-offset', '20000', '--listen', '127.0.0.1', '--dns', '127.0.0.1:1']);
  assert.equal(init.code, 0, init.stderr);
  const config = join(dir, 'i', 'kakitome.toml');
  const child = spawn(process.execPath, [KAKITOME_BIN, '--config', config, 'domain', 'list'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader is gone before the first line
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(stderr, '');
  assert.equal(code, 0);
});
