// `serve` runs with the runtime settings bin/kakitome.js gives it — V8's semi-space
// limit and glibc's single malloc arena (README, benchmarks: what each saves) — whether
// started under Node 24 (the same PID, re-executed) or through the wrapper under an
// older system Node (its Node 24 child); and a value the user set is kept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startInstance, KAKITOME_BIN, type Instance } from '../harness/instance.ts';
import { childEnv } from '../harness/processes.ts';
import { ServeLog, ServeProcess } from '../harness/serve-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let instance: Instance;
before(async () => {
  instance = await startInstance();
  await instance.stop();
});
after(async () => {
  await instance?.close();
});

/** The process that serves: `pid` itself or a descendant whose command line runs Node 24 with serve's flag. */
function serveProcess(pid: number): { pid: number; args: string[]; env: Map<string, string> } {
  const read = (p: number) => ({
    pid: p,
    args: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean),
    env: new Map(readFileSync(`/proc/${p}/environ`, 'utf8').split('\0').filter(Boolean).map((entry) => {
      const at = entry.indexOf('=');
      return [entry.slice(0, at), entry.slice(at + 1)] as [string, string];
    })),
  });
  const children = (p: number) =>
    readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number).filter((child) => {
      try {
        return Number(readFileSync(`/proc/${child}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]) === p;
      } catch {
        return false;
      }
    });
  for (const queue = [pid]; queue.length > 0;) {
    const current = queue.shift()!;
    const proc = read(current);
    if (proc.args.includes('serve') && proc.args.some((arg) => arg.startsWith('--max-semi-space-size='))) return proc;
    queue.push(...children(current));
  }
  throw new Error(`no serve process with --max-semi-space-size under ${pid}`);
}

async function started(extraEnv: NodeJS.ProcessEnv, t: { after: (fn: () => Promise<void>) => void }) {
  const log = new ServeLog();
  const env = childEnv({ KAKITOME_CONFIG: instance.configPath, ...extraEnv });
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
