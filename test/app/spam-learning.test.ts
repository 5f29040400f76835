// Learning into stored models when another writer saves at the same time: the learning
// is done again on the other writer's version (nothing of either is lost), and after
// SAVE_ATTEMPTS lost races the caller is told, in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LearningConflictError, learnMessages, SAVE_ATTEMPTS } from '../../src/app/spam-learning.ts';
import { configSchema } from '../../src/config/schema.ts';
import { SpamModel } from '../../src/filter/spam/model.ts';
import type { SpamModelColumns, StoredSpamModel } from '../../src/store/spam.ts';

const config = configSchema.parse({ hostname: 'mail.example.test' });
const message = (spam: boolean) => ({ tokens: Uint32Array.of(1, 2, spam ? 3 : 4), grams: Uint32Array.of(9), spam });

/** A store of one scope whose first `losses` saves lose a race to another writer, who adds one ham each time. */
function racingStore(losses: number) {
  let stored: StoredSpamModel | undefined;
  let lost = 0;
  const saves: SpamModelColumns[] = [];
  return {
    saves,
    current: () => stored,
    load: async () => stored,
    save: async (_scope: number, model: SpamModelColumns, expected: number) => {
      if (lost < losses) {
        lost++;
        const other = stored ? SpamModel.fromData(stored) : new SpamModel();
        other.learn(message(false), false);
        stored = { ...other.toData(), version: (stored?.version ?? 0) + 1, updatedAt: 0 };
        return undefined;
      }
      if ((stored?.version ?? 0) !== expected) return undefined;
      saves.push(model);
      stored = { ...model, version: expected + 1, updatedAt: 0 };
      return expected + 1;
    },
  };
}

test("a lost race is learned again on the winner's version: both writers' messages are kept", async () => {
  const store = racingStore(2);
  const { model } = await learnMessages(store, 0, config, [message(true), message(true)]);
  assert.deepEqual(model.trained, { spam: 2, ham: 2 }, 'two spam learned here, two ham by the other writer');
  assert.equal(store.current()!.version, 3);
  assert.equal(store.saves.length, 1);
});

test(`after ${SAVE_ATTEMPTS} lost races: LearningConflictError, nothing of ours saved`, async () => {
  const store = racingStore(SAVE_ATTEMPTS);
  await assert.rejects(learnMessages(store, 0, config, [message(true)]), LearningConflictError);
  assert.equal(store.saves.length, 0);
  assert.deepEqual(SpamModel.fromData(store.current()!).trained, { spam: 0, ham: SAVE_ATTEMPTS });
});
