// Every fuzz target's seed corpus (fuzz/corpus/<target>/) and every input a campaign
// ever saved (fuzz/crashes/<target>/*.bin, each with a .txt saying what it did) run
// through the target's check again: a defect once found stays fixed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TARGETS } from '../../fuzz/targets/index.ts';
import { CORPUS_DIR } from '../../fuzz/lib/inputs.ts';
import { CRASH_DIR } from '../../fuzz/campaign.ts';
import type { FuzzTarget } from '../../fuzz/lib/target.ts';

/** The target's seeds, then the inputs campaigns saved for it. */
function inputsOf(target: FuzzTarget): { file: string; bytes: Buffer }[] {
  const crashes = join(CRASH_DIR, target.name);
  const saved = existsSync(crashes) ? readdirSync(crashes).filter((name) => name.endsWith('.bin')).map((name) => join(crashes, name)) : [];
  return [...target.seeds.map((bytes, i) => ({ file: `seed ${i + 1}`, bytes })), ...saved.map((file) => ({ file, bytes: readFileSync(file) }))];
}

test('every fuzz target has a seed corpus, and every saved crash input has its note', () => {
  for (const target of TARGETS) assert.ok(target.seeds.length > 0, `${target.name} has no seeds`);
  for (const name of readdirSync(CORPUS_DIR)) assert.ok(TARGETS.some((t) => t.name === name), `fuzz/corpus/${name} belongs to no target`);
  const saved = existsSync(CRASH_DIR) ? readdirSync(CRASH_DIR) : [];
  for (const target of saved) {
    assert.ok(TARGETS.some((t) => t.name === target), `fuzz/crashes/${target} belongs to no target`);
    for (const name of readdirSync(join(CRASH_DIR, target)).filter((n) => n.endsWith('.bin'))) {
      assert.ok(existsSync(join(CRASH_DIR, target, name.replace(/\.bin$/, '.txt'))), `${target}/${name} has no .txt`);
    }
  }
});

for (const target of TARGETS) {
  test(`fuzz regressions: ${target.name}`, { timeout: 120_000 /* hang guard */ }, async () => {
    await target.setup?.();
    try {
      const inputs = inputsOf(target);
      assert.ok(inputs.length > 0);
      for (const { file, bytes } of inputs) {
        await assert.doesNotReject(async () => target.check(bytes), `${file}`);
      }
    } finally {
      await target.teardown?.();
    }
  });
}
