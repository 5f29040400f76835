// One target's inputs, run in a worker thread of fuzz/campaign.ts. It runs `runs`
// inputs in rounds of fast-check (each with its own seed, so a failure found in one
// round does not stop the others), shrinks each failing input to a small one, and
// reports every distinct failure. Exceptions that escape the check asynchronously
// (an unhandled rejection, as in issue 10's POP3 crash) count as failures of the
// input that was running. In replay mode it runs one given input and reports its time.
import fc from 'fast-check';
import { parentPort, workerData } from 'node:worker_threads';
import { SharedInput } from './lib/shared-input.ts';
import { findTarget } from './targets/index.ts';

export interface CampaignJob {
  mode: 'campaign';
  target: string;
  runs: number;
  seed: number;
  /** Inputs per fast-check round (progress is reported after each). */
  round: number;
  shared: SharedArrayBuffer;
}

export interface ReplayJob {
  mode: 'replay';
  target: string;
  input: Uint8Array;
  shared: SharedArrayBuffer;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; runs: number }
  | { type: 'failure'; input: Uint8Array; error: string; seed: number }
  | { type: 'replayed'; ms: number; error?: string }
  | { type: 'done'; runs: number };

const job = workerData as CampaignJob | ReplayJob;
const target = findTarget(job.target);
const shared = new SharedInput(job.shared);
const post = (message: WorkerMessage) => parentPort!.postMessage(message);

let escaped: unknown;
process.on('unhandledRejection', (reason) => (escaped ??= reason));
process.on('uncaughtException', (error) => (escaped ??= error));

function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return `non-Error thrown: ${String(error)}`;
}

/** The first line and the first frame of ours: failures with the same signature are one defect. */
export function signature(error: string): string {
  const lines = error.split('\n');
  const frame = lines.find((line) => /\/(src|fuzz)\//.test(line) && line.trim().startsWith('at ')) ?? '';
  return `${lines[0]?.replace(/\d+/g, 'N')} ${frame.trim()}`;
}

async function runOne(input: Buffer): Promise<void> {
  shared.begin(input);
  escaped = undefined;
  await target.check(input);
  if (escaped !== undefined) throw escaped;
}

async function campaign(job: CampaignJob): Promise<void> {
  const seen = new Set<string>();
  let runs = 0;
  for (let round = 0; runs < job.runs; round++) {
    const numRuns = Math.min(job.round, job.runs - runs);
    const seed = (job.seed + round * 7919) | 0;
    const result = await fc.check(fc.asyncProperty(target.inputs, runOne), { numRuns, seed, verbose: 0 });
    runs += result.numRuns;
    if (result.failed && result.counterexample) {
      const error = describe(result.errorInstance);
      const key = signature(error);
      if (!seen.has(key)) {
        seen.add(key);
        post({ type: 'failure', input: new Uint8Array(result.counterexample[0]), error, seed });
      }
    }
    post({ type: 'progress', runs });
  }
  post({ type: 'done', runs });
}

async function replay(job: ReplayJob): Promise<void> {
  const started = performance.now();
  try {
    await runOne(Buffer.from(job.input));
    post({ type: 'replayed', ms: performance.now() - started });
  } catch (error) {
    post({ type: 'replayed', ms: performance.now() - started, error: describe(error) });
  }
}

await target.setup?.();
post({ type: 'ready' });
if (job.mode === 'campaign') await campaign(job);
else await replay(job);
await target.teardown?.();
