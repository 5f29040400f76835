// Processes under a PID, read from /proc: the tree a test starts (serve, a wrapper and
// its Node 24 child, npm and its shell), to find one of them or to check none is left.
import { readFileSync, readdirSync } from 'node:fs';

export interface Proc { pid: number; start: string }

/** pid → [ppid, start time] of every process now, from /proc. */
function processTable(): Map<number, { ppid: number; start: string; state: string }> {
  const table = new Map<number, { ppid: number; start: string; state: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid ... starttime (field 22); comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    table.set(Number(name), { state: fields[0]!, ppid: Number(fields[1]), start: fields[19]! });
  }
  return table;
}

/** The process `pid` and all its descendants, each with its start time (to tell a reused PID). */
export function processTree(pid: number): Proc[] {
  const table = processTable();
  const tree: Proc[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift()!;
    const entry = table.get(current);
    if (!entry) continue;
    tree.push({ pid: current, start: entry.start });
    for (const [child, info] of table) if (info.ppid === current) queue.push(child);
  }
  return tree;
}

/** Those of `tree` still alive (a zombie is dead: only its parent's wait is missing). */
export function alive(tree: readonly Proc[]): Proc[] {
  const table = processTable();
  return tree.filter((p) => {
    const entry = table.get(p.pid);
    return entry !== undefined && entry.start === p.start && entry.state !== 'Z';
  });
}

export function describeProcesses(procs: readonly Proc[]): string {
  return procs.map((p) => {
    try {
      return `${p.pid} ${readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').join(' ').trim()}`;
    } catch {
      return String(p.pid);
    }
  }).join('\n');
}
