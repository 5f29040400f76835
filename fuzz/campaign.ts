// `npm run fuzz`: runs fuzz targets (fuzz/targets/) for a number of inputs each and
// reports, per target, inputs, time, inputs per second, failures, hangs and peak RSS.
//
//   npm run fuzz -- [--target NAME]... [--runs N] [--seed S] [--hang-ms MS] [--memory-mb MB] [--out DIR] [--json FILE] [--list]
//   npm run fuzz -- --replay FILE --target NAME
//
// Each target runs in a worker thread; the main thread watches it. A failure (an
// exception or broken invariant, shrunk by fast-check) is saved as
// <out>/<target>/<hash>.bin with a .txt beside it (error, seed, command). An input
// that runs over --hang-ms (default 1000) is a hang: the worker is stopped, the input
// is run again alone in a fresh worker, and saved if it is slow there too. A worker
// that runs out of its memory limit (--memory-mb, default 1024) is a memory failure.
// Failures are told apart by their stack and all reported; a hang or a memory failure
// ends its target's campaign (the rest of the targets still run).
// Exit status 1 when anything was saved.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { SharedInput } from './lib/shared-input.ts';
import { TARGETS } from './targets/index.ts';
import type { CampaignJob, ReplayJob, WorkerMessage } from './worker.ts';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
export const CRASH_DIR = fileURLToPath(new URL('./crashes/', import.meta.url));
/** How often the main thread looks at a worker's progress and at RSS. */
const WATCH_MS = 100;
/** A session target's setup (a server start) may take this long before the first input. */
const SETUP_TIMEOUT_MS = 60_000;
const USAGE = `usage: npm run fuzz -- [--target NAME]... [--runs N] [--seed S] [--hang-ms MS] [--memory-mb MB] [--out DIR] [--json FILE]
       npm run fuzz -- --replay FILE --target NAME
       npm run fuzz -- --list
`;

export interface Finding {
  kind: 'failure' | 'hang' | 'memory';
  file: string;
  error: string;
}

export interface TargetReport {
  target: string;
  runs: number;
  seconds: number;
  perSecond: number;
  failures: number;
  hangs: number;
  memory: number;
  peakRssMb: number;
  findings: Finding[];
}

export interface CampaignOptions {
  runs: number;
  seed: number;
  hangMs: number;
  memoryMb: number;
  out: string;
  log: (line: string) => void;
}

function save(options: CampaignOptions, target: string, kind: Finding['kind'], input: Buffer, error: string, seed: number): Finding {
  const dir = join(options.out, target);
  mkdirSync(dir, { recursive: true });
  const hash = createHash('sha256').update(input).digest('hex').slice(0, 16);
  const file = join(dir, `${hash}.bin`);
  writeFileSync(file, input);
  const replay = `npm run fuzz -- --replay ${file} --target ${target}`;
  writeFileSync(join(dir, `${hash}.txt`), `${kind} in ${target} (seed ${seed})\nreplay: ${replay}\n\n${error}\n`);
  options.log(`  ${kind}: ${file}\n    ${error.split('\n')[0]}`);
  return { kind, file, error };
}

interface WorkerRun {
  worker: Worker;
  shared: SharedInput;
  messages: WorkerMessage[];
  wake: () => void;
  exit: { code: number; error?: Error } | undefined;
}

/**
 * The worker's young generation, capped. When a worker reaches its heap limit, Node
 * gives the collection in progress 16 MB more and stops the worker; a scavenge that may
 * promote more than that (the default young generation is larger) makes V8 abort the
 * whole process instead — "FATAL ERROR: Reached heap limit", the campaign gone with its
 * report. Seen in half of the runs of the planted memory target on a loaded machine;
 * none in as many runs with this cap.
 */
const YOUNG_GENERATION_MB = 8;

function startWorker(job: Omit<CampaignJob, 'shared'> | Omit<ReplayJob, 'shared'>, memoryMb: number): WorkerRun {
  const shared = new SharedInput();
  const worker = new Worker(WORKER, {
    workerData: { ...job, shared: shared.buffer },
    resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    stdout: true,
  });
  worker.stdout.resume(); // the code under test may log; the report is ours
  const run: WorkerRun = { worker, shared, messages: [], wake: () => {}, exit: undefined };
  worker.on('message', (message: WorkerMessage) => {
    run.messages.push(message);
    run.wake();
  });
  worker.on('error', (error) => {
    run.exit ??= { code: 1, error };
    run.wake();
  });
  worker.on('exit', (code) => {
    run.exit ??= { code };
    run.wake();
  });
  return run;
}

const tick = (run: WorkerRun) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, WATCH_MS);
    run.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });

/** Runs one input alone in a fresh worker: how long it takes there, or undefined past `limitMs`. */
async function timeAlone(target: string, input: Buffer, options: CampaignOptions, limitMs: number): Promise<number | undefined> {
  const run = startWorker({ mode: 'replay', target, input }, options.memoryMb);
  // The setup (a server start) has its own allowance; the input's clock starts at ready.
  let deadline = Date.now() + SETUP_TIMEOUT_MS;
  let ready = false;
  try {
    while (Date.now() < deadline && !run.exit) {
      if (!ready && run.messages.some((m) => m.type === 'ready')) {
        ready = true;
        deadline = Date.now() + limitMs;
      }
      const replayed = run.messages.find((m) => m.type === 'replayed');
      if (replayed) return replayed.ms;
      await tick(run);
    }
    return undefined;
  } finally {
    await run.worker.terminate();
  }
}

export async function fuzzTarget(target: string, options: CampaignOptions): Promise<TargetReport> {
  const findings: Finding[] = [];
  const started = performance.now();
  let runs = 0;
  let peakRss = process.memoryUsage().rss;
  let seed = options.seed;
  while (runs < options.runs) {
    const run = startWorker({ mode: 'campaign', target, runs: options.runs - runs, seed, round: 5_000 }, options.memoryMb);
    let ready = false;
    let lastStarted = 0;
    let lastProgressAt = Date.now();
    const runsBefore = runs;
    let stopped: 'hang' | 'exit' | 'done' | undefined;
    while (!stopped) {
      await tick(run);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      for (const message of run.messages.splice(0)) {
        if (message.type === 'ready') {
          // The hang clock starts with the first input, not with the setup.
          ready = true;
          lastProgressAt = Date.now();
        }
        if (message.type === 'progress') runs = runsBefore + message.runs;
        if (message.type === 'failure') findings.push(save(options, target, 'failure', Buffer.from(message.input), message.error, message.seed));
        if (message.type === 'done') {
          runs = runsBefore + message.runs;
          stopped = 'done';
        }
      }
      if (stopped) break;
      if (run.exit) {
        stopped = 'exit';
        break;
      }
      const startedNow = run.shared.started;
      if (startedNow !== lastStarted) {
        lastStarted = startedNow;
        lastProgressAt = Date.now();
      } else if (Date.now() - lastProgressAt > (ready ? options.hangMs : SETUP_TIMEOUT_MS)) {
        stopped = 'hang';
      }
    }
    const input = run.shared.current();
    await run.worker.terminate();
    if (stopped === 'done') break;
    // Inputs begun before the stop were run; count them so the campaign moves on.
    runs = Math.max(runs, runsBefore + run.shared.started);
    if (stopped === 'hang') {
      // A loaded machine can stall any input once: only an input that is slow alone is a hang.
      const ms = await timeAlone(target, input, options, options.hangMs * 10);
      if (ms === undefined || ms > options.hangMs) {
        findings.push(save(options, target, 'hang', input, `no result within ${options.hangMs} ms (alone: ${ms === undefined ? 'no result' : `${Math.round(ms)} ms`})`, seed));
        // Hangs carry no stack to tell one defect from another: the first one ends the target.
        break;
      } else {
        options.log(`  stall of ${options.hangMs} ms not reproduced (${Math.round(ms)} ms alone); continuing`);
      }
    } else {
      const error = run.exit?.error;
      const outOfMemory = (error as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      findings.push(save(options, target, outOfMemory ? 'memory' : 'failure', input, error?.stack ?? `worker exited with code ${run.exit?.code}`, seed));
      // Out of memory, like a hang, has no stack to tell defects apart; a failing setup lets no input run.
      if (outOfMemory || !ready) break;
    }
    seed += 104_729;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    target,
    runs,
    seconds,
    perSecond: runs / seconds,
    failures: findings.filter((f) => f.kind === 'failure').length,
    hangs: findings.filter((f) => f.kind === 'hang').length,
    memory: findings.filter((f) => f.kind === 'memory').length,
    peakRssMb: peakRss / 2 ** 20,
    findings,
  };
}

export function formatReport(reports: readonly TargetReport[]): string {
  const rows = reports.map((r) =>
    [r.target, String(r.runs), r.seconds.toFixed(1), Math.round(r.perSecond).toString(), String(r.failures), String(r.hangs), String(r.memory), r.peakRssMb.toFixed(0)].join('\t'),
  );
  return ['target\tinputs\tseconds\tinputs/s\tfailures\thangs\tmemory\tpeak RSS MB', ...rows].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', default: false },
      target: { type: 'string', multiple: true },
      runs: { type: 'string', default: '1000000' },
      seed: { type: 'string', default: '1' },
      'hang-ms': { type: 'string', default: '1000' },
      'memory-mb': { type: 'string', default: '1024' },
      out: { type: 'string', default: CRASH_DIR },
      json: { type: 'string' },
      replay: { type: 'string' },
      list: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.list) {
    for (const t of TARGETS) process.stdout.write(`${t.name}\t${t.about}\n`);
    return 0;
  }
  const names = values.target ?? TARGETS.map((t) => t.name);
  for (const name of names) {
    if (!TARGETS.some((t) => t.name === name)) throw new Error(`no fuzz target "${name}" (npm run fuzz -- --list)`);
  }
  const number = (key: 'runs' | 'seed' | 'hang-ms' | 'memory-mb') => {
    const value = Number(values[key]);
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${key} must be a non-negative integer`);
    return value;
  };
  const options: CampaignOptions = {
    runs: number('runs'),
    seed: number('seed'),
    hangMs: number('hang-ms'),
    memoryMb: number('memory-mb'),
    out: values.out,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  if (values.replay) {
    const { readFileSync } = await import('node:fs');
    if (names.length !== 1) throw new Error('--replay needs exactly one --target');
    const run = startWorker({ mode: 'replay', target: names[0]!, input: readFileSync(values.replay) }, options.memoryMb);
    while (!run.exit && !run.messages.some((m) => m.type === 'replayed')) await tick(run);
    await run.worker.terminate();
    const replayed = run.messages.find((m) => m.type === 'replayed');
    if (replayed?.type !== 'replayed') throw new Error(`replay worker stopped: ${run.exit?.error?.stack ?? 'no result'}`);
    process.stdout.write(`${replayed.error ?? 'no failure'} (${replayed.ms.toFixed(1)} ms)\n`);
    return replayed.error ? 1 : 0;
  }
  const reports: TargetReport[] = [];
  for (const name of names) {
    options.log(`${name}: ${options.runs} inputs, seed ${options.seed}`);
    reports.push(await fuzzTarget(name, options));
  }
  process.stdout.write(`${formatReport(reports)}\n`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(reports, null, 2)}\n`);
  return reports.some((r) => r.findings.length > 0) ? 1 : 0;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`fuzz: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
      process.exit(2);
    },
  );
}
