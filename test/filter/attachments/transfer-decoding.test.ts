// The base64 body decoder against Node's own decoder as the reference: any octets,
// encoded in lines of any length, cut into pieces anywhere (the walk hands the decoder
// pieces of 64 KiB chunks, cut at line starts and anywhere else), with the noise RFC
// 2045 §6.8 says to skip. The native fast path and the octet loop must agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decoderFor } from '../../../src/filter/attachments/transfer-decoding.ts';

/** Decodes `encoded` fed in pieces cut at `cuts`, the line breaks fed as the walk feeds them (separately, when asked). */
function decodeInPieces(encoded: Buffer, cuts: number[]): Buffer {
  const decoder = decoderFor('base64');
  const out: Buffer[] = [];
  let start = 0;
  for (const cut of [...new Set(cuts.map((c) => Math.min(c, encoded.length)))].sort((a, b) => a - b).concat(encoded.length)) {
    if (cut <= start) continue;
    out.push(Buffer.from(decoder.data(encoded.subarray(start, cut))));
    start = cut;
  }
  out.push(Buffer.from(decoder.end()));
  return Buffer.concat(out);
}

const lines = (text: string, width: number, breakWith: string) => (text.match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join(breakWith);

test('base64 in lines of any width, cut anywhere: the octets Node decodes (the fast path and the loop agree)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 6000 }),
      fc.integer({ min: 4, max: 200 }),
      fc.constantFrom('\r\n', '\n'),
      fc.array(fc.integer({ min: 0, max: 9000 }), { maxLength: 12 }),
      (octets, width, breakWith, cuts) => {
        const data = Buffer.from(octets);
        const encoded = Buffer.from(lines(data.toString('base64'), width, breakWith), 'latin1');
        assert.deepEqual(decodeInPieces(encoded, cuts), data);
      },
    ),
    { numRuns: 400, seed: 20261206 },
  );
});

test('noise outside the alphabet is skipped and base64url is read, whatever path a piece takes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 8 }), (octets, cuts) => {
      const data = Buffer.from(octets);
      const plain = lines(data.toString('base64'), 76, '\r\n');
      // A space and a tab in some lines, one line in base64url: decoded as if they were not there.
      const noisy = plain.split('\r\n').map((line, i) => (i % 3 === 1 ? line.replace(/\+/g, '-').replace(/\//g, '_') : i % 3 === 2 ? ` ${line}\t` : line)).join('\r\n');
      assert.deepEqual(decodeInPieces(Buffer.from(noisy, 'latin1'), cuts), data);
    }),
    { numRuns: 200, seed: 7 },
  );
});

test('an 8 MB body of plain lines cut in 64 KiB pieces (the fast path, piece after piece) decodes exactly', () => {
  const data = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const encoded = Buffer.from(lines(data.toString('base64'), 76, '\r\n'), 'latin1');
  const cuts = Array.from({ length: Math.floor(encoded.length / 65536) }, (_, i) => (i + 1) * 65536);
  assert.deepEqual(decodeInPieces(encoded, cuts), data);
});
