// The clamd engine against a real clamd (Debian clamav-daemon, test/harness/clamd.ts):
// what it finds, how it streams, and every way clamd can fail it — absent, hung,
// restarted under a pooled session, a stream over clamd's StreamMaxLength.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClamdEngine } from '../../../src/filter/antivirus/clamd.ts';
import type { MessageSource } from '../../../src/filter/antivirus/engine.ts';
import { EICAR, SIGNATURE, startClamd, TESTFILES_DIR, type Clamd } from '../../harness/clamd.ts';
import { messageWith } from './mime-samples.ts';

const once = (data: Buffer | string): MessageSource => async function* () {
  yield Buffer.from(data);
};
const never = new AbortController().signal;
const HEADERS = { from: 'a@remote.example', to: 'b@example.test', subject: 'sample' };

describe('clamd engine, real clamd', () => {
  let clamd: Clamd;
  let engine: ClamdEngine;
  before(async () => {
    clamd = await startClamd();
    engine = new ClamdEngine({ target: { socket: clamd.socket } });
  });
  after(async () => {
    await engine.close();
    await clamd.dispose();
  });

  test('a clean message is clean; EICAR is found by its signature name', async () => {
    assert.deepEqual(await engine.scan(once('Subject: hello\r\n\r\nnothing here\r\n'), never), { verdict: 'clean' });
    assert.deepEqual(await engine.scan(once(EICAR), never), { verdict: 'infected', signature: SIGNATURE.eicar });
  });

  test('every file of clamav-testfiles, streamed as it is, is found', async () => {
    const files = readdirSync(TESTFILES_DIR).filter((name) => name.startsWith('clam'));
    assert.ok(files.length >= 30, `clamav-testfiles has its files (${files.length})`);
    const missed: string[] = [];
    for (const name of files) {
      const verdict = await engine.scan(once(readFileSync(join(TESTFILES_DIR, name))), never);
      if (verdict.verdict !== 'infected') missed.push(`${name}: ${JSON.stringify(verdict)}`);
    }
    assert.deepEqual(missed, [], `not found:\n${missed.join('\n')}`);
  });

  test('the message is streamed in chunks: a 6 MB message in 1 KB pieces with EICAR at the end is found', async () => {
    const source: MessageSource = async function* () {
      yield Buffer.from('Subject: big\r\n\r\n');
      const line = Buffer.alloc(1024, 'a');
      for (let i = 0; i < 6 * 1024; i++) yield line;
      yield Buffer.from(`\r\n${EICAR}`);
    };
    // clamd scans a stream as a file: the test file must start the "file", so this one is clean…
    assert.equal((await engine.scan(source, never)).verdict, 'clean');
    // …and as an attachment at the end of a large message it is found.
    const big = messageWith(Buffer.from(EICAR), 'eicar.com', 'base64', HEADERS).replace('See the attachment.', 'x'.repeat(6 * 1024 * 1024));
    assert.deepEqual(await engine.scan(once(big), never), { verdict: 'infected', signature: SIGNATURE.eicar });
  });

  test('a stream longer than clamd\'s StreamMaxLength fails the scan, with the reason', async () => {
    const huge: MessageSource = async function* () {
      const piece = Buffer.alloc(1024 * 1024, 'b');
      for (let i = 0; i < 45; i++) yield piece;
    };
    const verdict = await engine.scan(huge, never);
    assert.equal(verdict.verdict, 'failed');
    assert.match((verdict as { reason: string }).reason, /StreamMaxLength/);
    // The engine still works afterwards.
    assert.deepEqual(await engine.scan(once(EICAR), never), { verdict: 'infected', signature: SIGNATURE.eicar });
  });

  test('pooled sessions survive a clamd restart: the next scan retries on a new connection', async () => {
    assert.equal((await engine.scan(once('one'), never)).verdict, 'clean'); // leaves a session in the pool
    await clamd.stop();
    await clamd.start();
    assert.deepEqual(await engine.scan(once(EICAR), never), { verdict: 'infected', signature: SIGNATURE.eicar });
  });

  test('clamd hung (SIGSTOP): the scan fails after the scan timeout, and works again once it runs', async () => {
    const impatient = new ClamdEngine({ target: { socket: clamd.socket }, scanTimeoutMs: 300, connectTimeoutMs: 300 });
    clamd.pause();
    try {
      const verdict = await impatient.scan(once(EICAR), never);
      assert.equal(verdict.verdict, 'failed');
      assert.match((verdict as { reason: string }).reason, /within 300 ms/);
    } finally {
      clamd.resume();
    }
    assert.deepEqual(await impatient.scan(once(EICAR), never), { verdict: 'infected', signature: SIGNATURE.eicar });
    await impatient.close();
  });

  test('clamd absent: the scan fails naming the socket; version() is undefined', async () => {
    const nowhere = new ClamdEngine({ target: { socket: join(clamd.dir, 'no-such.sock') } });
    const verdict = await nowhere.scan(once('x'), never);
    assert.equal(verdict.verdict, 'failed');
    assert.match((verdict as { reason: string }).reason, /cannot connect to clamd: .*no-such\.sock/);
    assert.equal(await nowhere.version(), undefined);
  });

  test('version() names ClamAV; an aborted scan ends without a verdict of its own', async () => {
    assert.match((await engine.version()) ?? '', /^ClamAV \d+\.\d+/);
    const stop = new AbortController();
    const slow: MessageSource = async function* () {
      yield Buffer.from('start');
      stop.abort();
      yield Buffer.from('more');
    };
    assert.equal((await engine.scan(slow, stop.signal)).verdict, 'failed');
    assert.equal((await engine.scan(once(EICAR), never)).verdict, 'infected');
  });
});
