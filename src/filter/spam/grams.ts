// The third view of a message for the spam model: its first GRAM_OCTETS octets as they
// arrived (header and body, undecoded) cut into overlapping byte 4-grams, each hashed
// to a weight of its own logistic regression (model.ts). This is the feature set of the
// best online filters of the TREC spam track (Sculley and Wachman, "Relaxed Online SVMs
// for Spam Filtering", SIGIR 2007: binary 4-grams of the first 3,000 characters). It
// sees what a tokenizer throws away — header layout, encodings, obfuscated words,
// markup — and needs no parsing at all. On the SpamAssassin corpus it moved the model's
// AUC from 0.99963 to 0.99979 (README, Spam filter).

export const GRAM_OCTETS = 3000;
export const GRAM_LENGTH = 4;

const FROM_LINE = Buffer.from('From ');

/** The distinct 4-grams of the message's first GRAM_OCTETS octets (past an mbox From_ line), as 32-bit hashes, ascending. */
export function messageGrams(message: Buffer): Uint32Array {
  let start = 0;
  if (message.subarray(0, FROM_LINE.length).equals(FROM_LINE)) {
    const eol = message.indexOf(0x0a);
    start = eol < 0 ? message.length : eol + 1;
  }
  const text = message.subarray(start, start + GRAM_OCTETS);
  const count = Math.max(0, text.length - GRAM_LENGTH + 1);
  const grams = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    // FNV-1a of the four octets, from another offset basis than the tokens' (their weights are apart anyway).
    let h = 0x9b8bd90e;
    for (let j = 0; j < GRAM_LENGTH; j++) {
      h ^= text[i + j]!;
      h = Math.imul(h, 16777619);
    }
    grams[i] = h >>> 0;
  }
  // Each once: sorted, then the repeats squeezed out (cheaper than a Set of numbers).
  grams.sort();
  let distinct = 0;
  for (let i = 0; i < count; i++) if (i === 0 || grams[i] !== grams[i - 1]) grams[distinct++] = grams[i]!;
  return grams.slice(0, distinct);
}
