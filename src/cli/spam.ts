// `kakitome spam train|learn|score|eval|status`: the spam classifier from the command
// line. Training reads saved mail (src/mail/message-files.ts: mbox, Maildir, a directory
// of message files, a single file), learns it into the instance's model or a user's
// layer (src/filter/spam/model.ts), prunes it to its bound and saves it with a version
// check (src/store/spam.ts): a running `serve` picks the new version up with the next
// message. `score` and `eval` change nothing.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { configPathOf, withStore } from './context.ts';
import { CliError } from './errors.ts';
import { iso, print, printable, printTable } from './io.ts';
import { countMessages, readMessages } from '../mail/message-files.ts';
import { scoreLayers, SpamModel, trainedTotals, type LabelledMessage } from '../filter/spam/model.ts';
import { classifierPoints, verdictOf } from '../filter/spam/score.ts';
import { auc, confusion, recallAtFpr, stratifiedFolds, type Judged } from '../filter/spam/metrics.ts';
import { seededRandom, shuffleInPlace } from '../filter/spam/seeded.ts';
import { INSTANCE_SCOPE } from '../store/spam.ts';
import type { Store } from '../store/store.ts';
import { configSchema, type Config } from '../config/schema.ts';
import { parseWholeNumber } from './init.ts';
import { featuresOf, layersOf, learnMessages, saveLearning } from '../app/spam-learning.ts';
import { createIntake } from '../app/intake.ts';
import { junkSummary, sendJunkDigests } from '../app/junk.ts';
import { INBOX, JUNK } from '../store/mailboxes.ts';
import { createResolver } from '../dns/resolver.ts';
import { mailauthResolver } from '../policy/spf/resolver.ts';
import { createLogger } from '../server/log.ts';


export function registerSpamCommands(program: Command): void {
  const spam = program.command('spam').description('the spam classifier: train, learn, score, eval, status; users\' junk: junk, unjunk, digest');

  spam
    .command('train')
    .description("train the classifier from saved mail (mbox, Maildir, a directory of .eml, a file): the instance's model, or with --user that user's")
    .requiredOption('--spam <path>', 'spam: an mbox file, a Maildir, or a directory of messages')
    .requiredOption('--ham <path>', 'ham (good mail), the same kinds')
    .option('--user <address>', "train this user's own model (on top of the instance's)")
    .option('--seed <n>', 'the order of the training passes', parseWholeNumber, 1)
    .option('--replace', 'start from an empty model and replace the stored one (to train again from scratch), instead of adding to it')
    .action((opts: { spam: string; ham: string; user?: string; seed: number; replace?: boolean }, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const scope = await scopeOf(store, opts.user);
        const started = performance.now();
        const scratch = scratchDir();
        try {
          const sources = [{ path: opts.spam, spam: true }, { path: opts.ham, spam: false }];
          const { messages, skipped } = await readAll(sources, scratch, config.smtp.max_message_size);
          for (const { path, spam: isSpam } of sources) {
            if (!messages.some((m) => m.spam === isSpam)) throw new CliError(`${path}: no messages found`);
          }
          const { model, below } = await saveLearning(store.spam, scope, config, (target, layers) => target.train(messages, opts.seed, layers), { replace: opts.replace });
          const seconds = ((performance.now() - started) / 1000).toFixed(1);
          const learnedSpam = messages.filter((m) => m.spam).length;
          print(`trained ${scopeName(opts.user)}${opts.replace ? ' afresh' : ''} on ${learnedSpam} spam and ${messages.length - learnedSpam} ham in ${seconds} s${skippedText(skipped)}; ${modelSummary(model, config, below)}`);
        } finally {
          rmSync(scratch, { recursive: true, force: true });
        }
      }),
    );

  spam
    .command('learn')
    .description('learn single messages (a correction): each FILE (or every message of an mbox or Maildir) as spam or as ham')
    .argument('<files...>', 'message files, mbox files or Maildirs')
    .option('--spam', 'the messages are spam')
    .option('--ham', 'the messages are ham')
    .option('--user <address>', "learn into this user's own model")
    .action((files: string[], opts: { spam?: boolean; ham?: boolean; user?: string }, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        if (Boolean(opts.spam) === Boolean(opts.ham)) throw new CliError('say what the messages are: --spam or --ham');
        const scope = await scopeOf(store, opts.user);
        const scratch = scratchDir();
        try {
          const { messages, skipped } = await readAll(files.map((path) => ({ path, spam: opts.spam === true })), scratch, config.smtp.max_message_size);
          if (messages.length === 0) throw new CliError(`${files.join(', ')}: no messages found`);
          const { model, below } = await learnMessages(store.spam, scope, config, messages);
          print(`learned ${messages.length} message${messages.length === 1 ? '' : 's'} as ${opts.spam ? 'spam' : 'ham'} into ${scopeName(opts.user)}${skippedText(skipped)}; ${modelSummary(model, config, below)}`);
        } finally {
          rmSync(scratch, { recursive: true, force: true });
        }
      }),
    );

  spam
    .command('score')
    .description('one line per message: SCORE VERDICT FILE, SCORE in [0,1] (the classifier), VERDICT spam, unsure or ham; changes nothing')
    .argument('<files...>', 'message files, mbox files or Maildirs')
    .option('--user <address>', "score with this user's own model on top of the instance's")
    .action((files: string[], opts: { user?: string }, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const scope = await scopeOf(store, opts.user);
        const layers = await layersOf(store.spam, scope);
        const trained = trainedTotals(layers);
        if (trained.ham < config.spam.min_ham || trained.spam < config.spam.min_spam) {
          process.stderr.write(
            `kakitome: the model has learned ${trained.ham} ham and ${trained.spam} spam; serve lets it score only from ${config.spam.min_ham} and ${config.spam.min_spam} (kakitome spam train)\n`,
          );
        }
        const scratch = scratchDir();
        try {
          for (const path of files) {
            for await (const message of messagesOf(path, config.smtp.max_message_size, (name, why) => process.stderr.write(`kakitome: ${name}: skipped (${why})\n`))) {
              const { score } = scoreLayers(layers, await featuresOf(message.bytes, scratch, config.smtp.max_message_size));
              print(`${score.toFixed(4)} ${verdictOf(score, config.spam.junk_score)} ${printable(message.name)}`);
            }
          }
        } finally {
          rmSync(scratch, { recursive: true, force: true });
        }
      }),
    );

  spam
    .command('eval')
    .description('k-fold evaluation on saved mail with fresh models (nothing stored changes): accuracy, precision, recall, FPR, F1, AUC, recall at FPR ≤ 0.1 %')
    .requiredOption('--spam <path>', 'spam: an mbox file, a Maildir, or a directory of messages')
    .requiredOption('--ham <path>', 'ham, the same kinds')
    .option('--folds <n>', 'number of folds (2 or more)', parseWholeNumber, 5)
    .option('--seed <n>', 'the shuffle of the folds and the training order', parseWholeNumber, 1)
    .action(async (opts: { spam: string; ham: string; folds: number; seed: number }, cmd: Command) => {
      if (opts.folds < 2) throw new CliError(`--folds must be at least 2, got ${opts.folds}`);
      const config = await configOrDefaults(cmd);
      const scratch = scratchDir();
      try {
        const { messages, skipped } = await readAll([{ path: opts.spam, spam: true }, { path: opts.ham, spam: false }], scratch, config.smtp.max_message_size);
        const spamCount = messages.filter((m) => m.spam).length;
        if (spamCount < opts.folds || messages.length - spamCount < opts.folds) {
          throw new CliError(`${opts.folds} folds need at least ${opts.folds} spam and ${opts.folds} ham; found ${spamCount} spam and ${messages.length - spamCount} ham`);
        }
        print(`${spamCount} spam, ${messages.length - spamCount} ham${skippedText(skipped)}; ${opts.folds} folds, seed ${opts.seed}; spam at score ≥ ${cutoffOf(config.spam.junk_score).toFixed(4)} (junk_score ${config.spam.junk_score})`);
        const folds = stratifiedFolds(messages, opts.folds, (items, isSpam) => shuffleInPlace(items, seededRandom(opts.seed + (isSpam ? 1 : 0))));
        const rows = [['FOLD', 'ACCURACY', 'PRECISION', 'RECALL', 'FPR', 'F1', 'AUC', 'RECALL@FPR≤0.1%']];
        const all: Judged[] = [];
        for (let k = 0; k < opts.folds; k++) {
          const model = new SpamModel();
          model.train(folds.flatMap((fold, i) => (i === k ? [] : fold)), opts.seed + k);
          const judged = folds[k]!.map((m) => ({ spam: m.spam, score: scoreLayers([model], m).score }));
          all.push(...judged);
          rows.push([String(k + 1), ...measures(judged, config.spam.junk_score)]);
        }
        rows.push(['total', ...measures(all, config.spam.junk_score)]);
        printTable(rows);
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    });

  spam
    .command('digest')
    .description('send the junk digests that are due now (serve does it hourly): users whose junk mode is digest get one message listing what went to Junk')
    .action((_opts, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const intake = createIntake(config, store, mailauthResolver(createResolver(config.dns.servers)), createLogger('warn', 2));
        const sent = await sendJunkDigests({ ...store, intake }, { junkKeepMs: config.spam.junk_keep });
        print(`${sent} junk digest${sent === 1 ? '' : 's'} sent`);
      }),
    );

  spam
    .command('junk <address>')
    .description("what is in the user's Junk: one line per message, UID, when, From, Subject, score")
    .action((address: string, _opts, cmd: Command) =>
      withStore(cmd, async ({ store }) => {
        const { junk } = await junkOf(store, address);
        const messages = junk === undefined ? [] : await store.mailboxes.listMessages(junk);
        if (messages.length === 0) {
          print(`${address}: Junk is empty`);
          return;
        }
        const rows = [['UID', 'RECEIVED', 'SCORE', 'FROM', 'SUBJECT']];
        for (const message of messages) {
          const summary = await junkSummary(store.mailboxes, message);
          rows.push([String(message.uid), iso(message.receivedAt), summary.score || '-', printable(summary.from) || '-', printable(summary.subject) || '-']);
        }
        printTable(rows);
      }),
    );

  spam
    .command('unjunk <address> <uids...>')
    .description("moves messages from the user's Junk to INBOX (POP3 then shows them); with --learn, the user's model learns them as ham")
    .option('--learn', "learn them as ham into the user's own model")
    .action((address: string, uids: string[], opts: { learn?: boolean }, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const { userId, junk } = await junkOf(store, address);
        const messages = junk === undefined ? [] : await store.mailboxes.listMessages(junk);
        const chosen = uids.map((uid) => messages.find((m) => String(m.uid) === uid) ?? fail(`${address}: no message with UID ${uid} in Junk (kakitome spam junk ${address})`));
        if (opts.learn) {
          const scratch = scratchDir();
          try {
            const learned: LabelledMessage[] = [];
            for (const message of chosen) learned.push({ ...(await featuresOf(await store.mailboxes.readMessage(message.id), scratch, config.smtp.max_message_size)), spam: false });
            await learnMessages(store.spam, userId, config, learned);
          } finally {
            rmSync(scratch, { recursive: true, force: true });
          }
        }
        const moved = await store.mailboxes.move(userId, junk!, chosen.map((m) => m.id), INBOX);
        print(`moved ${moved} message${moved === 1 ? '' : 's'} from ${address}'s Junk to INBOX${opts.learn ? `, learned as ham into ${address}'s model` : ''}`);
      }),
    );

  spam
    .command('status')
    .description('the models: messages learned, features, size in the database, last change')
    .action((_opts, cmd: Command) =>
      withStore(cmd, async ({ store, config }) => {
        const models = await store.spam.list();
        if (models.length === 0) {
          print('no model yet: kakitome spam train --spam PATH --ham PATH');
          return;
        }
        const rows = [['MODEL', 'SPAM', 'HAM', 'FEATURES', 'BYTES', 'UPDATED']];
        for (const model of models) {
          const name = model.scope === INSTANCE_SCOPE ? 'instance' : ((await store.accounts.getUserById(model.scope))?.address ?? `user ${model.scope}`);
          rows.push([name, String(model.spamMessages), String(model.hamMessages), String(model.tokens), String(model.bytes), iso(model.updatedAt)]);
        }
        printTable(rows);
        const instance = models.find((m) => m.scope === INSTANCE_SCOPE);
        if (!instance || instance.hamMessages < config.spam.min_ham || instance.spamMessages < config.spam.min_spam) {
          print(`the classifier abstains until the instance's model has learned ${config.spam.min_ham} ham and ${config.spam.min_spam} spam ([spam] min_ham, min_spam); the rules act meanwhile`);
        }
      }),
    );
}

/** The probability the junk score stands for: spam at or above it. */
const cutoffOf = (junkScore: number) => 1 / (1 + Math.exp(-junkScore));

function measures(judged: readonly Judged[], junkScore: number): string[] {
  // classifierPoints(score) ≥ junk_score, as the step decides.
  const called = judged.map((j) => ({ spam: j.spam, score: classifierPoints(j.score) >= junkScore ? 1 : 0 }));
  const c = confusion(called, 0.5);
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  return [pct(c.accuracy), pct(c.precision), pct(c.recall), pct(c.fpr), c.f1.toFixed(4), auc(judged).toFixed(5), pct(recallAtFpr(judged, 0.001))];
}

function fail(message: string): never {
  throw new CliError(message);
}

/** The user's id and Junk mailbox (undefined while nothing went there). */
async function junkOf(store: Store, address: string): Promise<{ userId: number; junk: number | undefined }> {
  const userId = await scopeOf(store, address);
  return { userId, junk: await store.mailboxes.findMailbox(userId, JUNK) };
}

async function scopeOf(store: Store, user: string | undefined): Promise<number> {
  if (user === undefined) return INSTANCE_SCOPE;
  const record = await store.accounts.getUser(user.toLowerCase());
  if (!record) throw new CliError(`no such user: ${user}`);
  return record.id;
}

const scopeName = (user: string | undefined) => (user === undefined ? "the instance's model" : `${user}'s model`);

function modelSummary(model: SpamModel, config: Config, below: readonly SpamModel[] = []): string {
  const { spam, ham } = model.trained;
  const features = model.counts.size;
  const total = trainedTotals([...below, model]);
  const ready = total.ham >= config.spam.min_ham && total.spam >= config.spam.min_spam;
  const onTop = below.length > 0 ? ", on top of the instance's" : '';
  return `the model has learned ${spam} spam and ${ham} ham, ${features} features${onTop}${ready ? '' : ` (mail is scored by it from ${config.spam.min_ham} ham and ${config.spam.min_spam} spam learned on)`}`;
}

const skippedText = (skipped: number) => (skipped === 0 ? '' : ` (${skipped} skipped, named above)`);

function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), 'kakitome-spam-'));
}

/** A collection's messages; reading errors become one line. */
async function* messagesOf(path: string, maxBytes: number, onSkip: (name: string, why: string) => void) {
  try {
    yield* readMessages(path, { maxMessageBytes: maxBytes, onSkip });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** Every message of the sources as its features' hashes, with a progress bar on a terminal. */
async function readAll(sources: readonly { path: string; spam: boolean }[], scratch: string, maxBytes: number): Promise<{ messages: LabelledMessage[]; skipped: number }> {
  const progress = process.stderr.isTTY ? new ProgressBar(await totalOf(sources)) : undefined;
  const messages: LabelledMessage[] = [];
  let skipped = 0;
  const onSkip = (name: string, why: string) => {
    skipped++;
    progress?.clear();
    process.stderr.write(`kakitome: ${printable(name)}: skipped (${why})\n`);
    progress?.advance();
  };
  for (const { path, spam } of sources) {
    for await (const message of messagesOf(path, maxBytes, onSkip)) {
      messages.push({ ...(await featuresOf(message.bytes, scratch, maxBytes)), spam });
      progress?.advance();
    }
  }
  progress?.clear();
  return { messages, skipped };
}

async function totalOf(sources: readonly { path: string }[]): Promise<number> {
  let total = 0;
  for (const { path } of sources) {
    try {
      total += await countMessages(path);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  }
  return total;
}

/** `reading [#########...........]  1234/5678` on stderr, redrawn at most ten times a second. */
class ProgressBar {
  readonly #total: number;
  #done = 0;
  #drawnAt = 0;

  constructor(total: number) {
    this.#total = Math.max(total, 1);
  }

  advance(): void {
    this.#done++;
    const now = performance.now();
    if (now - this.#drawnAt < 100 && this.#done < this.#total) return;
    this.#drawnAt = now;
    const width = 30;
    const filled = Math.min(width, Math.round((width * this.#done) / this.#total));
    process.stderr.write(`\rreading [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total}`);
  }

  clear(): void {
    process.stderr.write('\r\u001b[K');
  }
}

/** The config if there is one (for [spam] junk_score and the size limit); eval runs without an instance too, with the defaults. */
async function configOrDefaults(cmd: Command): Promise<Pick<Config, 'spam' | 'smtp'>> {
  const path = configPathOf(cmd);
  const named = cmd.optsWithGlobals<{ config?: string }>().config !== undefined || process.env.KAKITOME_CONFIG !== undefined;
  if (!named && !existsSync(path)) return configSchema.parse({ hostname: 'localhost' });
  return loadConfig(path);
}
