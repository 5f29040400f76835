// The spam filter's parts for serve: the models as the store keeps them (loaded once,
// reloaded when `kakitome spam train|learn` saved a new version), the step's settings
// from [spam], and the expiry of Junk.
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { keywordPattern } from '../config/pattern.ts';
import { SpamModel } from '../filter/spam/model.ts';
import type { SpamRule } from '../filter/spam/score.ts';
import type { SpamModels, SpamStepOptions } from '../intake/steps/spam.ts';
import { DnsblChecker } from '../policy/dnsbl/index.ts';
import { networkList } from '../policy/access/networks.ts';
import type { AccountStore } from '../store/accounts.ts';
import { INSTANCE_SCOPE, type SpamStore } from '../store/spam.ts';
import { SCAN_SCRATCH_DIR } from './antivirus.ts';

/** Users' models kept in memory at once (the least recently used goes). */
const USER_MODELS_CACHED = 256;
/** A model's version is asked again at most this often: a saved model is used within it. */
export const VERSION_CHECK_MS = 250;

interface Cached {
  version: number;
  model: SpamModel | undefined;
  /** performance.now() of the last version check. */
  checkedAt: number;
}

/** The models of the store, each reloaded when its version changed since it was loaded (asked at most every VERSION_CHECK_MS). */
export class StoredSpamModels implements SpamModels {
  readonly #store: SpamStore;
  #instance: Cached = { version: 0, model: undefined, checkedAt: -Infinity };
  readonly #users = new Map<number, Cached>();
  #loading: Promise<void> | undefined;

  constructor(store: SpamStore) {
    this.#store = store;
  }

  async layers(userId?: number): Promise<SpamModel[]> {
    const instance = await this.#current();
    const base = instance ? [instance] : [];
    if (userId === undefined) return base;
    const user = await this.#user(userId);
    // A user's layer alone, while there is no instance model, is still the user's.
    return user ? [...base, user] : base;
  }

  junkMode(userId: number) {
    return this.#store.junkMode(userId);
  }

  async #current(): Promise<SpamModel | undefined> {
    if (performance.now() - this.#instance.checkedAt < VERSION_CHECK_MS) return this.#instance.model;
    const version = await this.#store.version(INSTANCE_SCOPE);
    this.#instance.checkedAt = performance.now();
    if (version !== this.#instance.version) {
      // One load at a time: concurrent messages wait for the same one.
      this.#loading ??= (async () => {
        const stored = await this.#store.load(INSTANCE_SCOPE);
        this.#instance = { version: stored?.version ?? 0, model: stored && SpamModel.fromData(stored), checkedAt: performance.now() };
      })().finally(() => (this.#loading = undefined));
      await this.#loading;
    }
    return this.#instance.model;
  }

  async #user(userId: number): Promise<SpamModel | undefined> {
    let cached = this.#users.get(userId);
    if (!cached || performance.now() - cached.checkedAt >= VERSION_CHECK_MS) {
      const version = await this.#store.version(userId);
      if (!cached || cached.version !== version) {
        const stored = version === 0 ? undefined : await this.#store.load(userId);
        cached = { version: stored?.version ?? 0, model: stored && SpamModel.fromData(stored, { sparse: true }), checkedAt: performance.now() };
      } else cached.checkedAt = performance.now();
    }
    this.#users.delete(userId);
    this.#users.set(userId, cached);
    if (this.#users.size > USER_MODELS_CACHED) this.#users.delete(this.#users.keys().next().value!);
    return cached.model;
  }
}

/** The rules of [[spam.rule]], compiled for the step. */
export function spamRules(config: Pick<Config, 'spam'>): SpamRule[] {
  return config.spam.rule.map((rule) => ({
    name: rule.name,
    header: rule.header,
    pattern: rule.pattern ?? keywordPattern(rule.keywords),
    points: rule.score,
  }));
}

export function spamStepOptions(
  config: Pick<Config, 'spam' | 'dnsbl' | 'smtp' | 'data_dir'>,
  store: { spam: SpamStore; accounts: Pick<AccountStore, 'listDomains'> },
  resolver: ConstructorParameters<typeof DnsblChecker>[0]['resolver'],
  models: SpamModels = new StoredSpamModels(store.spam),
): SpamStepOptions {
  const scored = config.dnsbl.scored_zones.length === 0 ? undefined : new DnsblChecker({ zones: config.dnsbl.scored_zones, allow: networkList(config.dnsbl.allow), resolver });
  return {
    models,
    rules: spamRules(config),
    scores: config.spam.scores,
    thresholds: { junk: config.spam.junk_score, quarantine: config.spam.quarantine_score, reject: config.spam.reject_score },
    minHam: config.spam.min_ham,
    minSpam: config.spam.min_spam,
    ...(scored
      ? {
          listedIn: async (address: string) => {
            const result = await scored.check(address);
            return result.listed ? result.zone : undefined;
          },
        }
      : {}),
    localDomains: cachedFor(LOCAL_DOMAINS_TTL_MS, async () => (await store.accounts.listDomains()).map((domain) => domain.name)),
    scratchDir: join(config.data_dir, SCAN_SCRATCH_DIR),
    maxBytes: config.smtp.max_message_size,
  };
}

/** How long the list of local domains is reused (a domain added shows within this). */
const LOCAL_DOMAINS_TTL_MS = 10_000;

function cachedFor<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  let at = 0;
  return () => {
    if (!value || performance.now() - at > ttlMs) {
      at = performance.now();
      value = load().catch((err: unknown) => {
        value = undefined;
        throw err;
      });
    }
    return value;
  };
}

/** What serve says about the spam filter at start: off, abstaining until trained, or ready. */
export async function reportSpam(config: Pick<Config, 'spam'>, store: Pick<SpamStore, 'list'>, logger: Logger): Promise<void> {
  if (!config.spam.enabled) {
    logger.warn('spam.enabled is false: mail on port 25 is not scored for spam');
    return;
  }
  const instance = (await store.list()).find((model) => model.scope === INSTANCE_SCOPE);
  const trained = { spam: instance?.spamMessages ?? 0, ham: instance?.hamMessages ?? 0 };
  const rules = config.spam.rule.length;
  if (trained.ham < config.spam.min_ham || trained.spam < config.spam.min_spam) {
    logger.info({ ...trained, rules }, `spam classifier abstains until trained on ${config.spam.min_ham} ham and ${config.spam.min_spam} spam (kakitome spam train); rules act meanwhile`);
  } else {
    logger.info({ ...trained, features: instance?.tokens, rules }, 'spam classifier ready');
  }
}
