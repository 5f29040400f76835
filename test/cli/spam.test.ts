// `kakitome spam eval`, run as a user would on saved mail, without an instance: the
// table of measures per fold and in total, and the one-line refusals; `spam train` and
// `spam score` refusals that need no server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runKakitome } from '../harness/instance.ts';
import { makeTempDir } from '../harness/processes.ts';

const SPAM_WORDS = ['viagra', 'winner', 'lottery', 'casino', 'jackpot', 'prize', 'pharmacy', 'bitcoin'];
const HAM_WORDS = ['kernel', 'patch', 'review', 'release', 'branch', 'merge', 'meeting', 'agenda'];
const body = (words: readonly string[], i: number) => words.filter((_, j) => (i + j) % 3 !== 0).join(' ');

/** An mbox of spam (mboxrd, LF line ends, as mutt writes) and a directory of ham .eml files. */
async function corpus(dir: string, count: number): Promise<{ spam: string; ham: string }> {
  const spam = join(dir, 'spam.mbox');
  const ham = join(dir, 'ham');
  await mkdir(ham, { recursive: true });
  const mbox: string[] = [];
  for (let i = 0; i < count; i++) {
    mbox.push(`From spammer${i}@bad.invalid Mon Dec  7 10:00:00 2026\nFrom: <spammer${i}@bad.invalid>\nSubject: ${SPAM_WORDS[i % 8]} now\n\n${body(SPAM_WORDS, i)}\n>From the winners\n`);
    await writeFile(join(ham, `${i}.eml`), `From: <dev${i}@good.invalid>\nSubject: ${HAM_WORDS[i % 8]} notes\n\n${body(HAM_WORDS, i)}\n`);
  }
  await writeFile(spam, mbox.join('\n'));
  return { spam, ham };
}

test('spam eval: per fold and in total, accuracy, precision, recall, FPR, F1, AUC and recall at FPR ≤ 0.1 %; no instance needed', async (t) => {
  const dir = await makeTempDir('kakitome-spam-eval');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { spam, ham } = await corpus(dir, 12);
  const result = await runKakitome(['spam', 'eval', '--spam', spam, '--ham', ham, '--folds', '3', '--seed', '4'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  const lines = result.stdout.trimEnd().split('\n');
  assert.equal(lines[0], '12 spam, 12 ham; 3 folds, seed 4; spam at score ≥ 0.9526 (junk_score 3)');
  assert.match(lines[1]!, /^FOLD\s+ACCURACY\s+PRECISION\s+RECALL\s+FPR\s+F1\s+AUC\s+RECALL@FPR≤0\.1%$/);
  assert.deepEqual(lines.slice(2).map((line) => line.split(/\s+/)[0]), ['1', '2', '3', 'total']);
  for (const line of lines.slice(2)) {
    // Separable small corpora: every fold perfect.
    assert.match(line, /^\S+\s+100\.00 %\s+100\.00 %\s+100\.00 %\s+0\.00 %\s+1\.0000\s+1\.00000\s+100\.00 %$/, line);
  }
  const again = await runKakitome(['spam', 'eval', '--spam', spam, '--ham', ham, '--folds', '3', '--seed', '4'], { cwd: dir });
  assert.equal(again.stdout, result.stdout, 'the same seed gives the same folds and figures');
});

test('spam eval and train refuse what cannot work, in one line', async (t) => {
  const dir = await makeTempDir('kakitome-spam-eval');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { spam, ham } = await corpus(dir, 2);
  const said = async (args: string[]) => {
    const result = await runKakitome(args, { cwd: dir });
    assert.equal(result.code, 1, `${args.join(' ')}: ${result.stdout}`);
    assert.equal(result.stderr.split('\n').length, 2, result.stderr);
    return result.stderr;
  };
  assert.equal(await said(['spam', 'eval', '--spam', spam, '--ham', ham, '--folds', '1']), 'kakitome: --folds must be at least 2, got 1\n');
  assert.equal(await said(['spam', 'eval', '--spam', spam, '--ham', ham, '--folds', '3']), 'kakitome: 3 folds need at least 3 spam and 3 ham; found 2 spam and 2 ham\n');
  assert.equal(await said(['spam', 'eval', '--spam', join(dir, 'nowhere'), '--ham', ham]), `kakitome: ${join(dir, 'nowhere')}: no such file or directory\n`);
  assert.match(await said(['spam', 'train', '--spam', spam, '--ham', ham, '--config', join(dir, 'none.toml')]), /^kakitome: .*none\.toml: cannot read: ENOENT/);
});
