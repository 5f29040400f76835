// The engine chain's rules (src/filter/antivirus/engine.ts), with stand-in engines whose
// answers and timing the test sets: the real engines are tested in clamd.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanWithEngines, type AntivirusEngine, type EngineVerdict } from '../../../src/filter/antivirus/engine.ts';
import { parseScanReply, safeSignature, sessionReply } from '../../../src/filter/antivirus/clamd-protocol.ts';

function engine(name: string, answer: () => Promise<EngineVerdict>, seen: { aborted: string[] } = { aborted: [] }): AntivirusEngine {
  return {
    name,
    scan: async (_source, signal) => {
      signal.addEventListener('abort', () => seen.aborted.push(name));
      return answer();
    },
    version: async () => undefined,
    close: async () => {},
  };
}
const source = async function* () {
  yield Buffer.from('x');
};
const hang = () => new Promise<EngineVerdict>(() => {});

test('every engine clean: clean, naming them all', async () => {
  const result = await scanWithEngines([engine('a', async () => ({ verdict: 'clean' })), engine('b', async () => ({ verdict: 'clean' }))], source);
  assert.deepEqual(result, { verdict: 'clean', engines: ['a', 'b'] });
});

test('the first engine that finds something wins at once; the others are told to stop', async () => {
  const seen = { aborted: [] as string[] };
  const result = await scanWithEngines([
    engine('slow', hang, seen),
    engine('yara', async () => ({ verdict: 'infected', signature: 'Rule_X' }), seen),
  ], source);
  assert.deepEqual(result, { verdict: 'infected', engine: 'yara', signature: 'Rule_X' });
  assert.deepEqual(seen.aborted.sort(), ['slow', 'yara']);
});

test('a finding beats a failure; a failure beats clean; a thrown error is a failure', async () => {
  assert.deepEqual(
    await scanWithEngines([engine('down', async () => ({ verdict: 'failed', reason: 'refused' })), engine('found', async () => ({ verdict: 'infected', signature: 'S' }))], source),
    { verdict: 'infected', engine: 'found', signature: 'S' },
  );
  assert.deepEqual(
    await scanWithEngines([engine('ok', async () => ({ verdict: 'clean' })), engine('down', async () => ({ verdict: 'failed', reason: 'refused' }))], source),
    { verdict: 'failed', engine: 'down', reason: 'refused' },
  );
  assert.deepEqual(
    await scanWithEngines([engine('broken', async () => { throw new Error('bug'); })], source),
    { verdict: 'failed', engine: 'broken', reason: 'bug' },
  );
});

test('no engine at all is a failure, never clean', async () => {
  assert.equal((await scanWithEngines([], source)).verdict, 'failed');
});

test('clamd replies: OK, FOUND, size limit, errors, session ids; signature names made safe for SMTP', () => {
  assert.deepEqual(parseScanReply('stream: OK'), { kind: 'clean' });
  assert.deepEqual(parseScanReply('stream: Win.Test.EICAR_HDB-1 FOUND'), { kind: 'found', signature: 'Win.Test.EICAR_HDB-1' });
  assert.deepEqual(parseScanReply('INSTREAM size limit exceeded. ERROR'), { kind: 'size-limit' });
  assert.deepEqual(parseScanReply('UNKNOWN COMMAND'), { kind: 'error', message: 'UNKNOWN COMMAND' });
  assert.deepEqual(parseScanReply(''), { kind: 'error', message: 'empty reply' });
  assert.deepEqual(sessionReply('3: stream: OK'), { id: 3, text: 'stream: OK' });
  assert.equal(sessionReply('stream: OK'), undefined);
  assert.equal(safeSignature('Evil\r\n250 fake reply'), 'Evil_250_fake_reply');
  assert.equal(safeSignature('x'.repeat(500)).length, 129);
  assert.equal(safeSignature('\u00e9\u00e9'), '_');
  assert.deepEqual(parseScanReply('stream: a\r\nb FOUND'), { kind: 'found', signature: 'a_b' });
});
