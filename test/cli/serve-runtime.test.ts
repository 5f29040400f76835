// `serve` runs with the runtime settings bin/kakitome.js gives it — V8's semi-space
// limit and glibc's single malloc arena (README, benchmarks: what each saves), in the
// same PID when started under Node 24 (re-executed in place); and a value the user set
// is kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suiteInstance, KAKITOME_BIN } from '../harness/instance.ts';
import { childEnv } from '../harness/processes.ts';
import { processTree } from '../harness/process-tree.ts';
import { ServeLog, ServeProcess } from '../harness/serve-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const stoppedInstance = suiteInstance({}, { stopped: true });

/** The process that serves: `pid` itself or a descendant whose command line runs Node 24 with serve's flag. */
function serveProcess(pid: number): { pid: number; args: string[]; env: Map<string, string> } {
  for (const { pid: candidate } of processTree(pid)) {
    const args = readFileSync(`/proc/${candidate}/cmdline`, 'utf8').split('\0').filter(Boolean);
    if (!args.includes('serve') || !args.some((arg) => arg.startsWith('--max-semi-space-size='))) continue;
    const env = new Map(readFileSync(`/proc/${candidate}/environ`, 'utf8').split('\0').filter(Boolean).map((entry) => {
      const at = entry.indexOf('=');
      return [entry.slice(0, at), entry.slice(at + 1)] as [string, string];
    }));
    return { pid: candidate, args, env };
  }
  throw new Error(`no serve process with --max-semi-space-size under ${pid}`);
}

async function started(extraEnv: NodeJS.ProcessEnv, t: { after: (fn: () => Promise<void>) => void }) {
  const log = new ServeLog();
  const env = childEnv({ KAKITOME_CONFIG: stoppedInstance().configPath, ...extraEnv });
  const serve = await ServeProcess.start(process.execPath, [KAKITOME_BIN, 'serve'], ROOT, log, 60_000, env);
  t.after(async () => {
    await serve.stop('SIGTERM', 20_000, log);
  });
  return serve;
}

test('serve under Node 24 runs, in the same PID, with --max-semi-space-size=16 and MALLOC_ARENA_MAX=1', async (t) => {
  const serve = await started({ MALLOC_ARENA_MAX: undefined }, t);
  const proc = serveProcess(serve.child.pid!);
  assert.equal(proc.pid, serve.child.pid, 're-executed in place, not a child process');
  assert.ok(proc.args.includes('--max-semi-space-size=16'), proc.args.join(' '));
  assert.equal(proc.env.get('MALLOC_ARENA_MAX'), '1');
});

test('a MALLOC_ARENA_MAX the user set is kept', async (t) => {
  const serve = await started({ MALLOC_ARENA_MAX: '4' }, t);
  assert.equal(serveProcess(serve.child.pid!).env.get('MALLOC_ARENA_MAX'), '4');
});
