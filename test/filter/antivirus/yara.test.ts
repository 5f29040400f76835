// The yara engine with the real YARA-X binding and rules the test writes: what it finds
// and what it does not, rule files that do not compile, a directory without rules, a
// message over its limit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { YaraEngine, YaraRulesError } from '../../../src/filter/antivirus/yara.ts';
import type { MessageSource } from '../../../src/filter/antivirus/engine.ts';
import { EICAR } from '../../harness/clamd.ts';
import { YARA_MARKER, YARA_RULE } from '../../harness/yara.ts';

const pieces = (...parts: string[]): MessageSource => async function* () {
  for (const part of parts) yield Buffer.from(part);
};
const never = new AbortController().signal;

describe('yara engine (YARA-X)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kakitome-yara-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function rulesDir(name: string, files: Record<string, string>): string {
    const path = join(dir, name);
    rmSync(path, { recursive: true, force: true });
    mkdirSync(path);
    for (const [file, text] of Object.entries(files)) writeFileSync(join(path, file), text);
    return path;
  }

  test('a rule matches across the pieces of a streamed message; EICAR, which no rule names, is clean to yara', async () => {
    const engine = new YaraEngine({ rulesDir: rulesDir('one', { 'marker.yar': YARA_RULE, 'notes.txt': 'not a rule file' }), maxBytes: 1_000_000 });
    await engine.load();
    const half = YARA_MARKER.length >> 1;
    assert.deepEqual(
      await engine.scan(pieces('Subject: x\r\n\r\n', YARA_MARKER.slice(0, half), YARA_MARKER.slice(half), '\r\n'), never),
      { verdict: 'infected', signature: 'Kakitome_Test_Marker' },
    );
    assert.deepEqual(await engine.scan(pieces(EICAR), never), { verdict: 'clean' });
    assert.match((await engine.version()) ?? '', /^YARA-X rules [0-9a-f]{16} \(1 file\)$/);
  });

  test('every .yar and .yara file is loaded; the version changes with the rules', async () => {
    const first = new YaraEngine({ rulesDir: rulesDir('two', { 'a.yar': YARA_RULE, 'b.YARA': 'rule Second { strings: $s = "second-marker" condition: $s }' }), maxBytes: 1000 });
    await first.load();
    assert.deepEqual(await first.scan(pieces('a second-marker here'), never), { verdict: 'infected', signature: 'Second' });
    const other = new YaraEngine({ rulesDir: rulesDir('three', { 'a.yar': YARA_RULE }), maxBytes: 1000 });
    await other.load();
    assert.notEqual(await first.version(), await other.version());
  });

  test('rules that do not compile, an empty directory, a missing one: YaraRulesError naming the directory', async () => {
    const broken = rulesDir('broken', { 'bad.yar': 'rule Broken { condition: $undefined }' });
    await assert.rejects(new YaraEngine({ rulesDir: broken, maxBytes: 1000 }).load(), (error: Error) => error instanceof YaraRulesError && error.message.includes(broken) && /do not compile/.test(error.message));
    const empty = rulesDir('empty', {});
    await assert.rejects(new YaraEngine({ rulesDir: empty, maxBytes: 1000 }).load(), /has no \.yar or \.yara file/);
    await assert.rejects(new YaraEngine({ rulesDir: join(dir, 'absent'), maxBytes: 1000 }).load(), /cannot read the yara rules directory/);
  });

  test('a message over the limit is not scanned: a failure (451), not clean; not loaded: a failure too', async () => {
    const engine = new YaraEngine({ rulesDir: rulesDir('limit', { 'a.yar': YARA_RULE }), maxBytes: 100 });
    assert.equal((await engine.scan(pieces('x'), never)).verdict, 'failed');
    await engine.load();
    const verdict = await engine.scan(pieces('x'.repeat(60), 'y'.repeat(60)), never);
    assert.equal(verdict.verdict, 'failed');
    assert.match((verdict as { reason: string }).reason, /longer than yara's limit of 100 octets/);
  });
});
