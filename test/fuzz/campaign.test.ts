// `npm run fuzz` as a user runs it (node fuzz/campaign.ts): a short campaign over every
// target must find nothing, and a campaign over targets with planted defects
// (test/fuzz/planted-targets.ts) must find, save and describe each one — a throw, a
// hang, an unhandled rejection and a heap that grows without bound — and exit 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGETS } from '../../fuzz/targets/index.ts';

const CAMPAIGN = fileURLToPath(new URL('../../fuzz/campaign.ts', import.meta.url));
const PLANTED = fileURLToPath(new URL('./planted-targets.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function campaign(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CAMPAIGN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The report's rows by target: inputs, failures, hangs, memory. */
function rows(stdout: string): Map<string, { inputs: number; failures: number; hangs: number; memory: number }> {
  const lines = stdout.trim().split('\n');
  assert.equal(lines[0], 'target\tinputs\tseconds\tinputs/s\tfailures\thangs\tmemory\tpeak RSS MB');
  return new Map(
    lines.slice(1).map((line) => {
      const [target, inputs, , , failures, hangs, memory] = line.split('\t');
      return [target!, { inputs: Number(inputs), failures: Number(failures), hangs: Number(hangs), memory: Number(memory) }];
    }),
  );
}

test('a short campaign over every fuzz target finds nothing and reports each target', { timeout: 600_000 /* hang guard */ }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'kakitome-fuzz-test-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const run = await campaign(['--runs', '1000', '--seed', '7', '--out', out]);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  const report = rows(run.stdout);
  assert.deepEqual([...report.keys()], TARGETS.map((target) => target.name));
  for (const [target, row] of report) assert.deepEqual(row, { inputs: 1000, failures: 0, hangs: 0, memory: 0 }, target);
  assert.deepEqual(await readdir(out), []);
});

test('a campaign finds, saves and describes a throw, a hang, an escaped rejection and unbounded memory', { timeout: 600_000 /* hang guard */ }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'kakitome-fuzz-test-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const planted = ['planted-throw', 'planted-hang', 'planted-escape', 'planted-memory'];
  // --hang-ms 3000, not less: on a loaded machine a worker collecting garbage near its
  // memory limit went 500 ms without an answer and was reported as a hang.
  const run = await campaign(
    [...planted.flatMap((name) => ['--target', name]), '--runs', '2000', '--hang-ms', '3000', '--memory-mb', '64', '--out', out],
    { KAKITOME_FUZZ_EXTRA_TARGETS: PLANTED },
  );
  assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
  const report = rows(run.stdout);
  assert.equal(report.get('planted-throw')?.failures, 1);
  assert.equal(report.get('planted-hang')?.hangs, 1);
  assert.equal(report.get('planted-escape')?.failures, 1);
  assert.equal(report.get('planted-memory')?.memory, 1);
  const expect: Record<string, { word: string; note: RegExp }> = {
    'planted-throw': { word: 'BOOM', note: /^failure in planted-throw[\s\S]*RangeError: planted: BOOM/ },
    'planted-hang': { word: 'HANG', note: /^hang in planted-hang[\s\S]*no result within 3000 ms/ },
    'planted-escape': { word: 'LEAK', note: /^failure in planted-escape[\s\S]*planted: unhandled rejection/ },
    'planted-memory': { word: 'HOARD', note: /^memory in planted-memory/ },
  };
  for (const [target, { word, note }] of Object.entries(expect)) {
    const files = (await readdir(join(out, target))).sort();
    assert.equal(files.length, 2, `${target}: ${files.join(', ')}`);
    const [bin, txt] = files as [string, string];
    assert.ok((await readFile(join(out, target, bin))).includes(word), `${target}: saved input lacks ${word}`);
    assert.match(await readFile(join(out, target, txt), 'utf8'), note);
    assert.match(await readFile(join(out, target, txt), 'utf8'), new RegExp(`replay: npm run fuzz -- --replay \\S+${bin} --target ${target}`));
  }
});
