// A benchmark peer's daemon (Postfix's master, Dovecot, rspamd): started in the
// foreground as our child, in its own process group, its output kept for error
// messages; measured and stopped together with the processes it starts.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { trackChild } from '../../test/harness/cleanup.ts';
import { childEnv, settlesWithin } from '../../test/harness/processes.ts';
import { childrenOf, cpuSeconds, pssBytes, statusBytes, stillRunning } from './procfs.ts';

export interface Daemon {
  child: ChildProcess;
  pid: number;
  /** What it wrote to stdout and stderr so far. */
  output(): string;
  /** Whether it has exited (during startup: it failed). */
  exited(): boolean;
  /** SIGTERM (it signals its own children), SIGKILL after 10 s, then stragglers by pid. */
  stop(): Promise<void>;
}

/**
 * Spawns `command` in its own process group (detached): a Ctrl-C of the benchmark
 * reaches the benchmark, which stops the daemon in order, and a daemon that signals its
 * group on SIGTERM (Postfix's master) finds one.
 */
export function startDaemon(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Daemon {
  const child = spawn(command, args, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  trackChild(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${command}`);
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    pid,
    output: () => output,
    exited: () => !running(),
    stop: async () => {
      const family = childrenOf(pid);
      if (running()) child.kill('SIGTERM');
      if (!(await settlesWithin(exited, 10_000))) {
        child.kill('SIGKILL');
        await exited;
      }
      const deadline = Date.now() + 10_000;
      while (family.some(stillRunning) && Date.now() < deadline) await sleep(100);
      for (const straggler of family.filter(stillRunning)) process.kill(straggler.pid, 'SIGKILL');
    },
  };
}

/** CPU seconds of `pid` and its children (a daemon waits for its children, so the exited ones are in its cutime/cstime). */
export function familyCpuSeconds(pid: number): number {
  return cpuSeconds(pid) + childrenOf(pid).reduce((sum, child) => sum + cpuSeconds(child.pid), 0);
}

export interface FamilyMemory {
  processes: number;
  rssBytes: number;
  /** Σ PSS: shared pages counted once over all the processes. */
  pssBytes: number;
}

/** Resident memory of `pid` and its children now. */
export function familyMemory(pid: number): FamilyMemory {
  const pids = [pid, ...childrenOf(pid).map((child) => child.pid)];
  let rssBytes = 0;
  let pss = 0;
  for (const one of pids) {
    rssBytes += statusBytes(one, 'VmRSS') ?? 0;
    pss += pssBytes(one) ?? 0;
  }
  return { processes: pids.length, rssBytes, pssBytes: pss };
}
