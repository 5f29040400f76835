// Leftover processes and directories are what make a test suite flaky for the next
// run, so every child the harness starts is tracked and killed (by its own pid) when
// the test process ends, however it ends.
import type { ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';

const liveChildren = new Set<ChildProcess>();
let exitHooksInstalled = false;

export function trackChild(child: ChildProcess): void {
  installExitHooks();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  child.once('error', () => liveChildren.delete(child));
}

function killLeftovers(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
  liveChildren.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once('exit', killLeftovers);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, function onSignal() {
      killLeftovers();
      // Alone, we must not swallow the signal: restore the default and re-raise it.
      // When someone else listens (node:test does), they decide how to exit.
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      }
    });
  }
}

/** Directories of failed tests are kept for inspection; set KAKITOME_KEEP_TEST_DIRS=1 to keep all. */
export function keepTestDirs(): boolean {
  return process.env.KAKITOME_KEEP_TEST_DIRS === '1';
}

/**
 * Runs `finish(passed)` after the test `t` ends. `TestContext.passed` exists at
 * run time in Node 24 but is missing from @types/node, hence the cast.
 */
export function afterTest(t: TestContext, finish: (passed: boolean) => Promise<void>): void {
  t.after(async () => {
    const passed = (t as unknown as { passed?: boolean }).passed !== false;
    await finish(passed);
  });
}
