// The memory budget of inspectAttachments (the figure is in src/filter/attachments/
// inspect.ts): a message with a 20 MiB zip attachment, base64, is inspected from a
// file stream in a child process, which reports how far RSS and heap + external
// buffers grew. The zip's entries are listed from its central directory at the end,
// so the whole attachment is decoded (to a scratch file) before the finding is made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildZip, tempDir } from './fixtures.ts';

const CHILD = fileURLToPath(new URL('./memory-child.ts', import.meta.url));
const MiB = 1024 * 1024;
/** The budget the figure in inspect.ts promises (growth over the process before the call). */
const BUDGET = 32 * MiB;

test('a 27 MiB message with a 20 MiB base64 attachment is inspected within the memory budget', { timeout: 300_000 /* hang guard */ }, (t) => {
  const dir = tempDir(t);
  const scratch = join(dir, 'scratch');
  execFileSync('mkdir', [scratch]);
  const zip = buildZip([
    { name: 'big.bin', data: randomBytes(20 * MiB - 200), method: 0 },
    { name: 'evil.exe', data: Buffer.from('MZ'), method: 0 },
  ]);
  const file = join(dir, 'message.eml');
  const fd = openSync(file, 'w');
  writeSync(fd, 'From: a@example.test\r\nTo: b@example.test\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BIG\r\n\r\n');
  writeSync(fd, '--BIG\r\nContent-Type: text/plain\r\n\r\nThe archive is attached.\r\n--BIG\r\nContent-Type: application/zip; name="big.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n');
  // 57 octets make a 76-character base64 line (RFC 2045 §6.8).
  for (let i = 0; i < zip.length; i += 57 * 1024) {
    const lines = zip.subarray(i, i + 57 * 1024).toString('base64').replace(/.{76}(?=.)/g, '$&\r\n');
    writeSync(fd, `${lines}\r\n`);
  }
  writeSync(fd, '--BIG--\r\n');
  closeSync(fd);
  const size = statSync(file).size;
  assert.ok(size > 26 * MiB && size < 28 * MiB, `message of ${size} octets`);

  const out = execFileSync(process.execPath, ['--expose-gc', CHILD, file, scratch], { encoding: 'utf8' });
  const result = JSON.parse(out) as { rssGrowth: number; heapGrowth: number; findings: string[][]; decodedSize: number };
  t.diagnostic(`message ${(size / MiB).toFixed(1)} MiB: RSS grew ${(result.rssGrowth / MiB).toFixed(1)} MiB, heap + external ${(result.heapGrowth / MiB).toFixed(1)} MiB`);
  assert.deepEqual(result.findings, [['blocked', 'big.zip', 'evil.exe']]);
  assert.equal(result.decodedSize, zip.length);
  assert.ok(result.rssGrowth < BUDGET, `RSS grew ${result.rssGrowth} octets`);
  assert.ok(result.heapGrowth < BUDGET, `heap + external grew ${result.heapGrowth} octets`);
  assert.deepEqual(readdirSync(scratch), []);
});
