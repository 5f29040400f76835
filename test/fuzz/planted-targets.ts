// Targets with planted defects, loaded by fuzz/targets/index.ts through
// KAKITOME_FUZZ_EXTRA_TARGETS in test/fuzz/campaign.test.ts: a throw, a hang, a
// rejection that escapes (issue 10's POP3 crash was one) and unbounded memory.
import { fuzzInputs } from '../../fuzz/lib/inputs.ts';
import type { FuzzTarget } from '../../fuzz/lib/target.ts';

/** Seeds without the trigger word: the campaign has to put it in. */
const SEEDS = [Buffer.from('some text, more text')];
const inputs = (word: string) => fuzzInputs({ seeds: SEEDS, dictionary: [word, ' '] });

export const TARGETS: FuzzTarget[] = [
  {
    name: 'planted-throw',
    about: 'throws on inputs holding BOOM',
    seeds: SEEDS,
    inputs: inputs('BOOM'),
    check(input) {
      if (input.includes('BOOM')) throw new RangeError('planted: BOOM');
    },
  },
  {
    name: 'planted-hang',
    about: 'never returns on inputs holding HANG',
    seeds: SEEDS,
    inputs: inputs('HANG'),
    check(input) {
      // A synchronous endless loop: only the watchdog on the main thread can stop it.
      while (input.includes('HANG')) input.length;
    },
  },
  {
    name: 'planted-escape',
    about: 'leaves a rejected promise nobody handles on inputs holding LEAK',
    seeds: SEEDS,
    inputs: inputs('LEAK'),
    async check(input) {
      if (input.includes('LEAK')) void Promise.reject(new Error('planted: unhandled rejection'));
      await new Promise((resolve) => setImmediate(resolve));
    },
  },
  {
    name: 'planted-memory',
    about: 'keeps everything on inputs holding HOARD',
    seeds: SEEDS,
    inputs: inputs('HOARD'),
    check(input) {
      // Arrays of 256 Ki elements (1 MB or more), each in V8's large-object space: the
      // heap limit is reached in a few dozen steps, not after thousands of
      // young-generation collections that a loaded machine can stretch past the hang
      // limit. (Not long strings from Buffer: Node makes those external, off the heap.)
      const kept: number[][] = [];
      while (input.includes('HOARD')) kept.push(new Array<number>(256 * 1024).fill(kept.length));
    },
  },
];
