// Learning into the stored spam models: what `kakitome spam train|learn|unjunk --learn`
// do, and the hook IMAP's moves into and out of Junk will call (issue 17: "moving a
// message into or out of Junk trains the spam filter for that user"). A model is loaded,
// changed with the layers below it, pruned to its bound and saved with a version check;
// when another writer saved in between, the learning is done again on their version, so
// neither is lost.
import type { Config } from '../config/schema.ts';
import { messageGrams } from '../filter/spam/grams.ts';
import { SpamModel, type LabelledMessage, type MessageFeatures } from '../filter/spam/model.ts';
import { messageTokens } from '../filter/spam/tokens.ts';
import { INSTANCE_SCOPE, type SpamStore } from '../store/spam.ts';

/** Saves retried when another writer saved the same model in between. */
export const SAVE_ATTEMPTS = 3;

export class LearningConflictError extends Error {}

/** What the model reads of a message, as hashes (`scratchDir`: where a large body is spooled while read). */
export async function featuresOf(bytes: Buffer, scratchDir: string, maxBytes: number): Promise<MessageFeatures> {
  return { tokens: await messageTokens(bytes, { scratchDir, maxBytes }), grams: messageGrams(bytes) };
}

/** The instance's model, and the user's layer on top for a user's scope. */
export async function layersOf(store: Pick<SpamStore, 'load'>, scope: number): Promise<SpamModel[]> {
  const instance = await store.load(INSTANCE_SCOPE);
  const layers = instance ? [SpamModel.fromData(instance)] : [];
  if (scope !== INSTANCE_SCOPE) {
    const user = await store.load(scope);
    if (user) layers.push(SpamModel.fromData(user, { sparse: true }));
  }
  return layers;
}

/**
 * Lets `learn` change the scope's model (with the layers below it), prunes and saves it;
 * returns the saved model and the layers below. With `replace`, `learn` starts from an
 * empty model and the stored one is replaced (still only if no one saved in between).
 * Throws LearningConflictError when other writers won SAVE_ATTEMPTS times in a row.
 */
export async function saveLearning(
  store: Pick<SpamStore, 'load' | 'save'>,
  scope: number,
  config: Pick<Config, 'spam'>,
  learn: (model: SpamModel, below: SpamModel[]) => void,
  { replace = false } = {},
): Promise<{ model: SpamModel; below: SpamModel[] }> {
  for (let attempt = 1; attempt <= SAVE_ATTEMPTS; attempt++) {
    const stored = await store.load(scope);
    const sparse = scope !== INSTANCE_SCOPE;
    const model = stored && !replace ? SpamModel.fromData(stored, { sparse }) : new SpamModel({ sparse });
    const below = sparse ? await layersOf(store, INSTANCE_SCOPE) : [];
    learn(model, below);
    model.prune(sparse ? config.spam.max_user_tokens : config.spam.max_tokens);
    if ((await store.save(scope, model.toData(), stored?.version ?? 0)) !== undefined) return { model, below };
  }
  throw new LearningConflictError(`the model changed ${SAVE_ATTEMPTS} times while learning; run the command again`);
}

/** Learns single messages (corrections) into a scope: one online step each. */
export function learnMessages(store: Pick<SpamStore, 'load' | 'save'>, scope: number, config: Pick<Config, 'spam'>, messages: readonly LabelledMessage[]) {
  return saveLearning(store, scope, config, (model, below) => {
    for (const message of messages) model.learn(message, message.spam, below);
  });
}
