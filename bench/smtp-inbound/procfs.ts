// Memory and process-tree figures from Linux /proc, for the peak-RSS column.
import { readFileSync, readdirSync } from 'node:fs';

/** A `kB` field of /proc/PID/status (VmHWM = peak resident set, VmRSS = now), in bytes; undefined when gone. */
export function statusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** Proportional set size (shared pages divided among their users), in bytes. */
export function pssBytes(pid: number): number | undefined {
  try {
    const match = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc times (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds used by `pid` (all its threads, user + system), plus those of its
 * children that have exited and been waited for; 0 when gone.
 */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "PID (COMM) ", field 3 (state) is rest[0]: utime (14), stime (15), cutime (16), cstime (17).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return ((rest[11] ?? 0) + (rest[12] ?? 0) + (rest[13] ?? 0) + (rest[14] ?? 0)) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
}

function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "PID (COMM) STATE PPID …"; COMM may itself hold spaces and parentheses.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const rest = stat.slice(close + 2).split(' ');
    return { pid, ppid: Number(rest[1]), comm: stat.slice(open + 1, close) };
  } catch {
    return undefined;
  }
}

/** The direct children of `parent` that are alive now. */
export function childrenOf(parent: number): ProcessInfo[] {
  const children: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProcess(Number(name));
    if (info && info.ppid === parent) children.push(info);
  }
  return children;
}

/** Whether `info.pid` still runs the same program (guards against pid reuse). */
export function stillRunning(info: ProcessInfo): boolean {
  const now = readProcess(info.pid);
  return now !== undefined && now.comm === info.comm;
}

export const mb = (bytes: number | undefined): string => (bytes === undefined ? 'n/a' : `${(bytes / 1048576).toFixed(1)} MB`);

function cpuTimes(): { busy: number; total: number } {
  // First line of /proc/stat: "cpu user nice system idle iowait irq softirq steal …" (USER_HZ ticks).
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/** CPU seconds all CPUs of the machine have been busy since boot (for differences). */
export function machineBusySeconds(): number {
  return cpuTimes().busy / TICKS_PER_SECOND;
}

/**
 * The share of all CPUs' time spent busy during the next `ms` milliseconds. Unlike the
 * load average, not inflated by processes waiting for fsync (Postfix leaves dozens).
 */
export async function cpuBusy(ms = 1000): Promise<number> {
  const before = cpuTimes();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = cpuTimes();
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : 0;
}
