import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataReader } from '../../src/smtp/data-reader.ts';
import type { DataLimits, DataProblem } from '../../src/smtp/data-reader.ts';
import { BENCH_LIMITS, tenKilobyteMessage } from '../../bench/data-reader.ts';

const roomy: DataLimits = { maxMessageBytes: 1_000_000, maxHeaderBytes: 100_000, maxHeaderFields: 1000 };

interface Outcome {
  content: string; // latin1, so every byte shows
  done: boolean;
  rest: string | undefined;
  problem: DataProblem | undefined;
  size: number;
  headerFields: number;
  headerBytes: number;
  receivedCount: number;
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Feeds the chunks in order as the server would: after `done`, the remaining chunks belong to `rest`. */
function parseChunks(chunks: Buffer[], limits: DataLimits = roomy): Outcome {
  const reader = new DataReader(limits);
  const content: Buffer[] = [];
  let done = false;
  let rest: Buffer | undefined;
  for (const chunk of chunks) {
    if (done) {
      rest = Buffer.concat([rest!, chunk]);
      continue;
    }
    const result = reader.push(chunk);
    for (const piece of result.content) assert.ok(piece.length > 0, 'no empty content buffers');
    content.push(...result.content);
    if (result.done) {
      assert.ok(result.rest instanceof Buffer, 'rest is a Buffer when done');
      done = true;
      rest = result.rest;
    } else {
      assert.equal(result.rest, undefined, 'no rest before done');
    }
  }
  return {
    content: Buffer.concat(content).toString('latin1'),
    done,
    rest: rest?.toString('latin1'),
    problem: reader.problem,
    size: reader.size,
    headerFields: reader.headerFields,
    headerBytes: reader.headerBytes,
    receivedCount: reader.receivedCount,
  };
}

/**
 * Parses `input` whole, split into two chunks at every position, and one byte at a
 * time; asserts that every way gives the same outcome, and returns it.
 */
function parseEveryWay(input: string | Buffer, limits: DataLimits = roomy): Outcome {
  const data = typeof input === 'string' ? bytes(input) : input;
  const whole = parseChunks([data], limits);
  for (let at = 0; at <= data.length; at++) {
    const split = parseChunks([data.subarray(0, at), data.subarray(at)], limits);
    assert.deepEqual(split, whole, `split at byte ${at} of ${JSON.stringify(data.toString('latin1'))}`);
  }
  const single: Buffer[] = [];
  for (let at = 0; at < data.length; at++) single.push(data.subarray(at, at + 1));
  assert.deepEqual(parseChunks(single, limits), whole, `one byte at a time: ${JSON.stringify(data.toString('latin1'))}`);
  return whole;
}

/** RFC 5321 §4.5.2 on the sending side: double the dot that starts a line (lines end in CRLF). */
function stuff(content: string): string {
  return content
    .split('\r\n')
    .map((line) => (line.startsWith('.') ? '.' + line : line))
    .join('\r\n');
}

test('a normal message: content up to and including the last CRLF, header counted', () => {
  const header = 'From: a@example.com\r\nTo: b@example.org\r\nSubject: hello\r\n\r\n';
  const body = 'Hello,\r\nthis is a test.\r\n';
  const outcome = parseEveryWay(header + body + '.\r\n');
  assert.deepEqual(outcome, {
    content: header + body,
    done: true,
    rest: '',
    problem: undefined,
    size: (header + body).length,
    headerFields: 3,
    headerBytes: header.length,
    receivedCount: 0,
  });
});

test('an empty message: a dot right after the DATA line ends it', () => {
  assert.deepEqual(parseEveryWay('.\r\n'), {
    content: '',
    done: true,
    rest: '',
    problem: undefined,
    size: 0,
    headerFields: 0,
    headerBytes: 0,
    receivedCount: 0,
  });
  const emptyLine = parseEveryWay('\r\n.\r\n');
  assert.equal(emptyLine.content, '\r\n');
  assert.equal(emptyLine.done, true);
  assert.equal(emptyLine.headerBytes, 2);
  assert.equal(emptyLine.headerFields, 0);
});

test('dot-stuffing: leading dots are removed once, other dots are kept', () => {
  const wire = 'Subject: dots\r\n\r\n..leading\r\n...two\r\n..\r\n...\r\nmid.dle\r\nend.\r\n. \r\n.x\r\n.\r\n';
  const outcome = parseEveryWay(wire);
  assert.equal(outcome.content, 'Subject: dots\r\n\r\n.leading\r\n..two\r\n.\r\n..\r\nmid.dle\r\nend.\r\n \r\nx\r\n');
  assert.equal(outcome.done, true);
  assert.equal(outcome.problem, undefined);
  assert.equal(outcome.size, outcome.content.length, 'size counts unstuffed octets');
});

test('dot-stuffing both directions: what the sender stuffs, the reader unstuffs', () => {
  const originals = [
    '.\r\n',
    '..\r\n',
    '.\r\n.\r\n',
    'Subject: x\r\n\r\n.\r\n',
    '.Subject: x\r\n\r\n..\r\n.a\r\nb.\r\n',
    'a\r\n.\r\nb\r\n',
  ];
  for (const original of originals) {
    const wire = stuff(original) + '.\r\n';
    const outcome = parseEveryWay(wire);
    assert.equal(outcome.content, original, JSON.stringify(wire));
    assert.equal(outcome.problem, undefined);
    assert.equal(outcome.rest, '');
  }
  assert.equal(stuff('.\r\n.x\r\n'), '..\r\n..x\r\n');
});

test('a line that is just ".." is the content line "."', () => {
  const outcome = parseEveryWay('..\r\n.\r\n');
  assert.equal(outcome.content, '.\r\n');
  assert.equal(outcome.done, true);
  assert.equal(outcome.size, 3);
});

test('the terminator at the start of a chunk ends the data', () => {
  const reader = new DataReader(roomy);
  const first = reader.push(bytes('Subject: x\r\n\r\nbody\r\n'));
  assert.equal(first.done, false);
  assert.equal(Buffer.concat(first.content).toString('latin1'), 'Subject: x\r\n\r\nbody\r\n');
  const second = reader.push(bytes('.\r\nQUIT\r\n'));
  assert.deepEqual(second.content, []);
  assert.equal(second.done, true);
  assert.equal(second.rest?.toString('latin1'), 'QUIT\r\n');
  assert.throws(() => reader.push(bytes('x')), /after the end of data/);
});

test('"\\r\\n.\\r" then "\\n" in the next chunk is the real terminator', () => {
  const reader = new DataReader(roomy);
  const first = reader.push(bytes('body\r\n.\r'));
  assert.equal(first.done, false);
  assert.equal(Buffer.concat(first.content).toString('latin1'), 'body\r\n');
  const second = reader.push(bytes('\nRSET\r\n'));
  assert.equal(second.done, true);
  assert.deepEqual(second.content, []);
  assert.equal(second.rest?.toString('latin1'), 'RSET\r\n');
  assert.equal(reader.problem, undefined);
});

test('rest returns the pipelined commands after the terminator exactly', () => {
  const outcome = parseEveryWay('Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n');
  assert.equal(outcome.content, 'Subject: x\r\n\r\nbody\r\n');
  assert.equal(outcome.rest, 'MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n');
  // a second message pipelined after the first: only the first terminator counts
  const two = parseEveryWay('a\r\n.\r\nb\r\n.\r\n');
  assert.equal(two.content, 'a\r\n');
  assert.equal(two.rest, 'b\r\n.\r\n');
  // bytes right after the terminator, even ones that would be a problem, are rest
  assert.equal(parseEveryWay('a\r\n.\r\n\n\r\x00').rest, '\n\r\x00');
});

test('without a terminator the data is not done; a trailing CR is held back', () => {
  const outcome = parseEveryWay('Subject: x\r\n\r\nabc\r');
  assert.equal(outcome.done, false);
  assert.equal(outcome.rest, undefined);
  assert.equal(outcome.content, 'Subject: x\r\n\r\nabc');
  assert.equal(outcome.size, 'Subject: x\r\n\r\nabc'.length);
  const stillOpen = parseEveryWay('a\r\n.\r');
  assert.equal(stillOpen.done, false);
  assert.equal(stillOpen.content, 'a\r\n');
  assert.equal(parseEveryWay('a\r\n.').done, false);
  assert.equal(parseEveryWay('a\r\n').done, false);
});

test('content is handed out as views of the input chunk, not copies', () => {
  const input = bytes('Subject: x\r\n\r\nline one\r\nline two\r\n.\r\n');
  const result = new DataReader(roomy).push(input);
  assert.equal(result.content.length, 1);
  assert.equal(result.content[0]!.buffer, input.buffer);
  assert.equal(result.content[0]!.byteOffset, input.byteOffset);
});

// CVE-2023-51764/51765/51766: every fake end of data, then smuggled commands, then
// the real end. `kept` is the content the reader may hand out before the problem.
const smuggling: { fake: string; problem: DataProblem; kept: string }[] = [
  { fake: '\n.\n', problem: 'bare-lf', kept: 'hello' },
  { fake: '\r.\r', problem: 'bare-cr', kept: 'hello' },
  { fake: '\r.\n', problem: 'bare-cr', kept: 'hello' },
  { fake: '\n.\r', problem: 'bare-lf', kept: 'hello' },
  { fake: '\n.\r\n', problem: 'bare-lf', kept: 'hello' },
  { fake: '\r.\r\n', problem: 'bare-cr', kept: 'hello' },
  { fake: '\r\n.\n', problem: 'bare-lf', kept: 'hello\r\n' },
  { fake: '\r\n.\r', problem: 'bare-cr', kept: 'hello\r\n' },
  { fake: '\r\n\x00.\r\n', problem: 'nul', kept: 'hello\r\n' },
  { fake: '\r\n.\x00\r\n', problem: 'nul', kept: 'hello\r\n' },
  { fake: '\r\n\x00.\x00\r\n', problem: 'nul', kept: 'hello\r\n' },
  { fake: '\r\r\n.\n', problem: 'bare-cr', kept: 'hello' },
];
const smuggled = 'MAIL FROM:<ceo@victim.example>\r\nRCPT TO:<all@victim.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nwire the money\r\n';

for (const { fake, problem, kept } of smuggling) {
  test(`smuggling ${JSON.stringify(fake)} does not end the data and marks the message ${problem}`, () => {
    const header = 'From: a@example.com\r\nSubject: t\r\n\r\n';
    const outcome = parseEveryWay(header + 'hello' + fake + smuggled + '.\r\nQUIT\r\n');
    assert.equal(outcome.done, true, 'ends at the real terminator');
    assert.equal(outcome.rest, 'QUIT\r\n', 'not at the fake one');
    assert.equal(outcome.problem, problem);
    assert.equal(outcome.content, header + kept);
    assert.ok(!outcome.content.includes('MAIL FROM'));
    assert.equal(outcome.headerFields, 2);
    // the fake terminator right after the DATA line, where a line starts
    const atStart = parseEveryWay(fake.replace(/^\r\n/, '') + smuggled + '.\r\nQUIT\r\n');
    assert.equal(atStart.rest, 'QUIT\r\n');
    assert.ok(atStart.problem !== undefined);
    assert.ok(!atStart.content.includes('MAIL'));
    // inside the header section
    const inHeader = parseEveryWay('Subject: t' + fake + smuggled + '.\r\nQUIT\r\n');
    assert.equal(inHeader.rest, 'QUIT\r\n');
    assert.equal(inHeader.problem, problem);
    assert.equal(inHeader.content, 'Subject: t' + kept.slice('hello'.length));
  });
}

test('a bare CR, bare LF or NUL anywhere marks the message; the first problem wins', () => {
  assert.equal(parseEveryWay('a\nb\r\n.\r\n').problem, 'bare-lf');
  assert.equal(parseEveryWay('\n.\r\n').problem, 'bare-lf');
  assert.equal(parseEveryWay('a\rb\r\n.\r\n').problem, 'bare-cr');
  assert.equal(parseEveryWay('a\r\r\n.\r\n').problem, 'bare-cr');
  assert.equal(parseEveryWay('\r.\r\n').problem, 'bare-cr');
  assert.equal(parseEveryWay('a\x00b\r\n.\r\n').problem, 'nul');
  assert.equal(parseEveryWay('a\nb\x00\rc\r\n.\r\n').problem, 'bare-lf');
  assert.equal(parseEveryWay('a\x00b\n\rc\r\n.\r\n').problem, 'nul');
  assert.equal(parseEveryWay('a\rb\x00\nc\r\n.\r\n').problem, 'bare-cr');
  // CR then NUL: the CR is found bare at its own position, before the NUL
  assert.equal(parseEveryWay('a\r\x00\r\n.\r\n').problem, 'bare-cr');
  const tooBigFirst = parseEveryWay('0123456789\nx\r\n.\r\n', { ...roomy, maxMessageBytes: 5 });
  assert.equal(tooBigFirst.problem, 'too-big');
  assert.equal(tooBigFirst.content, '01234');
  assert.equal(tooBigFirst.size, 14);
  const bareFirst = parseEveryWay('012\n3456789x\r\n.\r\n', { ...roomy, maxMessageBytes: 5 });
  assert.equal(bareFirst.problem, 'bare-lf');
  assert.equal(bareFirst.content, '012');
});

test('a real terminator after a problem still ends the data', () => {
  // The NUL marks the message, but <CRLF>.<CRLF> right after it is the real end.
  const outcome = parseEveryWay('hello\x00\r\n.\r\nQUIT\r\n');
  assert.equal(outcome.problem, 'nul');
  assert.equal(outcome.content, 'hello');
  assert.equal(outcome.rest, 'QUIT\r\n');
  const bareCrBefore = parseEveryWay('hello\r\r\n.\r\nQUIT\r\n');
  assert.equal(bareCrBefore.problem, 'bare-cr');
  assert.equal(bareCrBefore.rest, 'QUIT\r\n');
});

test('after a problem no content is handed out, but size keeps counting to the real end', () => {
  const reader = new DataReader(roomy);
  const first = reader.push(bytes('Subject: x\r\n\r\nok\r\nbad\nmore'));
  assert.equal(Buffer.concat(first.content).toString('latin1'), 'Subject: x\r\n\r\nok\r\nbad');
  assert.equal(reader.problem, 'bare-lf');
  const second = reader.push(bytes(' text\r\n..stuffed\r\n'));
  assert.deepEqual(second.content, []);
  assert.equal(second.done, false);
  const third = reader.push(bytes('.\r\nQUIT\r\n'));
  assert.deepEqual(third.content, []);
  assert.equal(third.done, true);
  assert.equal(third.rest?.toString('latin1'), 'QUIT\r\n');
  assert.equal(reader.size, 'Subject: x\r\n\r\nok\r\nbad\nmore text\r\n.stuffed\r\n'.length);
});

test('too-big: size is counted exactly in unstuffed octets', () => {
  const content = 'Subject: s\r\n\r\n.a\r\n..\r\n'; // 22 octets, 24 on the wire
  const wire = stuff(content) + '.\r\n';
  assert.equal(content.length, 22);
  const fits = parseEveryWay(wire, { ...roomy, maxMessageBytes: 22 });
  assert.equal(fits.problem, undefined);
  assert.equal(fits.size, 22);
  assert.equal(fits.content, content);
  const over = parseEveryWay(wire, { ...roomy, maxMessageBytes: 21 });
  assert.equal(over.problem, 'too-big');
  assert.equal(over.size, 22);
  assert.equal(over.content, content.slice(0, 21));
  assert.equal(over.done, true);
  assert.equal(over.rest, '');
  const empty = parseEveryWay('.\r\n', { ...roomy, maxMessageBytes: 0 });
  assert.equal(empty.problem, undefined);
  assert.equal(parseEveryWay('\r\n.\r\n', { ...roomy, maxMessageBytes: 0 }).problem, 'too-big');
  // far past the limit, size keeps counting
  const big = 'Subject: big\r\n\r\n' + 'x'.repeat(78).concat('\r\n').repeat(50);
  const huge = parseEveryWay(big + '.\r\n', { ...roomy, maxMessageBytes: 100 });
  assert.equal(huge.problem, 'too-big');
  assert.equal(huge.size, big.length);
  assert.equal(huge.content, big.slice(0, 100));
});

test('header-too-big: the header section counts up to and including the empty line', () => {
  const header = 'From: a@example.com\r\nSubject: hello\r\n\r\n';
  const body = 'a body line much longer than the header limit would allow\r\n';
  const fits = parseEveryWay(header + body + '.\r\n', { ...roomy, maxHeaderBytes: header.length });
  assert.equal(fits.problem, undefined);
  assert.equal(fits.headerBytes, header.length);
  assert.equal(fits.content, header + body);
  const over = parseEveryWay(header + body + '.\r\n', { ...roomy, maxHeaderBytes: header.length - 1 });
  assert.equal(over.problem, 'header-too-big');
  assert.equal(over.headerBytes, header.length, 'the byte that broke the limit is counted');
  assert.equal(over.content, header.slice(0, -1));
  assert.equal(over.rest, '');
  // a message without an empty line is all header
  const noBody = 'Subject: a\r\nX: b\r\n';
  const allHeader = parseEveryWay(noBody + '.\r\n');
  assert.equal(allHeader.headerBytes, noBody.length);
  assert.equal(allHeader.headerFields, 2);
  assert.equal(allHeader.problem, undefined);
  assert.equal(
    parseEveryWay(noBody + '.\r\n', { ...roomy, maxHeaderBytes: noBody.length - 1 }).problem,
    'header-too-big',
  );
});

test('too-many-header-fields: folded fields count once', () => {
  const header = 'Subject: a very\r\n long\r\n\tfolded subject\r\nFrom: a@example.com\r\n\r\n';
  const body = 'X-Not-A-Header: body\r\nY: neither\r\n';
  const fits = parseEveryWay(header + body + '.\r\n', { ...roomy, maxHeaderFields: 2 });
  assert.equal(fits.problem, undefined);
  assert.equal(fits.headerFields, 2);
  assert.equal(fits.headerBytes, header.length);
  const over = parseEveryWay(header + body + '.\r\n', { ...roomy, maxHeaderFields: 1 });
  assert.equal(over.problem, 'too-many-header-fields');
  assert.equal(over.headerFields, 2);
  assert.equal(over.content, 'Subject: a very\r\n long\r\n\tfolded subject\r\n');
  // size and header limits broken at the same byte: size wins; header size over field count
  const tie = parseEveryWay('A: 1\r\nB: 2\r\n.\r\n', { maxMessageBytes: 6, maxHeaderBytes: 6, maxHeaderFields: 1 });
  assert.equal(tie.problem, 'too-big');
  const headerTie = parseEveryWay('A: 1\r\nB: 2\r\n.\r\n', { ...roomy, maxHeaderBytes: 6, maxHeaderFields: 1 });
  assert.equal(headerTie.problem, 'header-too-big');
});

test('receivedCount: "Received:" fields in any case, header section only', () => {
  const header =
    'Received: from a by b\r\n\tfor <x@example.com>; Mon, 1 Jan 2024 00:00:00 +0000\r\n' +
    'RECEIVED: from c\r\nreceived:from d\r\nReCeIvEd: e\r\n' +
    'X-Received: no\r\nReceived : no\r\nReceivedX: no\r\nReceive: no\r\nReceived no colon\r\n Received: folded, no\r\n' +
    '\r\n';
  const body = 'Received: in the body, not counted\r\n';
  const outcome = parseEveryWay(header + body + '.\r\n');
  assert.equal(outcome.receivedCount, 4);
  assert.equal(outcome.headerFields, 9);
  assert.equal(outcome.problem, undefined);
  // the name is read after unstuffing: a transparency dot is not part of it, a stuffed dot is
  assert.equal(parseEveryWay('.Received: x\r\n\r\n.\r\n').receivedCount, 1);
  assert.equal(parseEveryWay('..Received: x\r\n\r\n.\r\n').receivedCount, 0);
  assert.equal(parseEveryWay('Received: x\r\n.\r\n').receivedCount, 1);
});

test('limits are validated', () => {
  assert.throws(() => new DataReader({ ...roomy, maxMessageBytes: -1 }), RangeError);
  assert.throws(() => new DataReader({ ...roomy, maxHeaderFields: Number.NaN }), RangeError);
  assert.throws(() => new DataReader({ ...roomy, maxHeaderBytes: 1.5 }), RangeError);
  assert.doesNotThrow(() => new DataReader({ ...roomy, maxMessageBytes: Infinity }));
});

// A small deterministic PRNG (mulberry32) so failures reproduce.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomChunks(data: Buffer, random: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const mode = random();
    const length = mode < 0.3 ? 1 + Math.floor(random() * 4) : mode < 0.9 ? 1 + Math.floor(random() * 64) : data.length;
    chunks.push(data.subarray(at, at + length));
    at += length;
  }
  if (random() < 0.1) chunks.splice(Math.floor(random() * (chunks.length + 1)), 0, Buffer.alloc(0));
  return chunks;
}

test('property: random messages with random leading dots survive stuffing and random chunking', () => {
  const random = prng(0x6b616b69);
  for (let round = 0; round < 2000; round++) {
    const lines: string[] = [];
    const count = Math.floor(random() * 12);
    for (let l = 0; l < count; l++) {
      let line = '.'.repeat(random() < 0.4 ? Math.floor(random() * 4) : 0);
      const length = Math.floor(random() * 40);
      for (let c = 0; c < length; c++) line += String.fromCharCode(0x20 + Math.floor(random() * 95));
      lines.push(line);
    }
    const original = lines.map((line) => line + '\r\n').join('');
    const pipelined = random() < 0.5 ? 'QUIT\r\n' : '';
    const wire = bytes(stuff(original) + '.\r\n' + pipelined);
    const outcome = parseChunks(randomChunks(wire, random));
    assert.equal(outcome.content, original, `round ${round}`);
    assert.equal(outcome.done, true);
    assert.equal(outcome.rest, pipelined);
    assert.equal(outcome.problem, undefined);
    assert.equal(outcome.size, original.length);
  }
});

/**
 * An independent model of the reader, on a whole terminated input: find the first
 * <CRLF>.<CRLF>, unstuff, then place each problem at its byte and take the earliest
 * (bare CR/LF/NUL before size, size before header size, header size before field count).
 */
function model(data: Buffer, limits: DataLimits): Outcome {
  const padded = Buffer.concat([bytes('\r\n'), data]);
  const end = padded.indexOf('\r\n.\r\n', 0, 'latin1');
  assert.ok(end >= 0, 'model inputs are terminated');
  const raw = data.subarray(0, end);
  const at = (j: number) => (j >= 0 ? raw[j] : j === -1 ? 0x0a : 0x0d);
  const unstuffed: number[] = [];
  for (let j = 0; j < raw.length; j++) {
    if (raw[j] === 0x2e && at(j - 1) === 0x0a && at(j - 2) === 0x0d) continue;
    unstuffed.push(raw[j]!);
  }
  const u = Buffer.from(unstuffed);
  const candidates: { pos: number; rank: number; problem: DataProblem }[] = [];
  for (let k = 0; k < u.length; k++) {
    const b = u[k];
    if (b === 0x00) candidates.push({ pos: k, rank: 0, problem: 'nul' });
    else if (b === 0x0d && u[k + 1] !== 0x0a) candidates.push({ pos: k, rank: 0, problem: 'bare-cr' });
    else if (b === 0x0a && u[k - 1] !== 0x0d) candidates.push({ pos: k, rank: 0, problem: 'bare-lf' });
    else continue;
    break;
  }
  if (u.length > limits.maxMessageBytes) candidates.push({ pos: limits.maxMessageBytes, rank: 1, problem: 'too-big' });
  // header section: lines up to the first empty one
  let headerEnd = u.length;
  const fieldStarts: number[] = [];
  for (let s = 0; s < u.length; ) {
    const lf = u.indexOf(0x0a, s);
    const next = lf === -1 ? u.length : lf + 1;
    if (u[s] === 0x0d && u[s + 1] === 0x0a) {
      headerEnd = s + 2;
      break;
    }
    if (u[s] !== 0x20 && u[s] !== 0x09) fieldStarts.push(s);
    s = next;
  }
  if (headerEnd > limits.maxHeaderBytes) {
    candidates.push({ pos: limits.maxHeaderBytes, rank: 2, problem: 'header-too-big' });
  }
  if (fieldStarts.length > limits.maxHeaderFields) {
    candidates.push({ pos: fieldStarts[limits.maxHeaderFields]!, rank: 3, problem: 'too-many-header-fields' });
  }
  candidates.sort((a, b) => a.pos - b.pos || a.rank - b.rank);
  const first = candidates[0];
  const stop = first?.pos ?? u.length;
  const headerLimitBroken = first?.rank === 2 || first?.rank === 3;
  const counted = fieldStarts.filter((s) => s < stop || (first?.rank === 3 && s === stop));
  return {
    content: u.subarray(0, stop).toString('latin1'),
    done: true,
    rest: data.subarray(end + 3).toString('latin1'),
    problem: first?.problem,
    size: u.length,
    headerFields: counted.length,
    headerBytes: Math.min(headerEnd, stop) + (headerLimitBroken ? 1 : 0),
    receivedCount: counted.filter((s) => s + 8 < stop && /^received:$/i.test(u.subarray(s, s + 9).toString('latin1')))
      .length,
  };
}

test('property: random hostile input agrees with an independent model, however it is chunked', () => {
  const random = prng(0x736d7567);
  const pieces = ['a', 'xyz', ' ', '\t', ':', 'Received:', 'rEcEiVeD: x', 'Subject: s', '\r\n', '\r\n', '\r\n', '.', '..', '\r', '\n', '\x00', '\r\n\r\n', '\r\n.\r', '\n.\n', 'é'];
  for (let round = 0; round < 3000; round++) {
    let text = '';
    const count = Math.floor(random() * 30);
    for (let p = 0; p < count; p++) {
      const piece = pieces[Math.floor(random() * pieces.length)]!;
      // hostile bytes rarely, so that limits and headers get exercised too
      if ((piece.includes('\x00') || /^[\r\n.]+$/.test(piece)) && piece !== '\r\n' && piece !== '\r\n\r\n' && random() < 0.6) continue;
      text += piece;
    }
    const data = bytes(text + '\r\n.\r\n' + (random() < 0.5 ? 'NOOP\r\n' : ''));
    const limits: DataLimits = {
      maxMessageBytes: random() < 0.5 ? Math.floor(random() * 80) : 1000,
      maxHeaderBytes: random() < 0.5 ? Math.floor(random() * 60) : 1000,
      maxHeaderFields: random() < 0.5 ? Math.floor(random() * 5) : 1000,
    };
    const expected = model(data, limits);
    const label = `round ${round}: ${JSON.stringify(data.toString('latin1'))} ${JSON.stringify(limits)}`;
    assert.deepEqual(parseChunks(randomChunks(data, random), limits), expected, label);
    if (round % 10 === 0) assert.deepEqual(parseEveryWay(data, limits), expected, label);
  }
});

// bench/data-reader.ts times the reader on this message; here it must be read right.
test('a 10 KB message with dot-stuffed lines, whole and in 1460-byte segments', () => {
  const { message, wire, segments } = tenKilobyteMessage();
  assert.equal(wire.toString('latin1'), `${stuff(message)}.\r\n`, 'the bench sends the message dot-stuffed, then the terminator');
  assert.ok(segments.length > 5);
  for (const chunks of [[wire], segments]) {
    const outcome = parseChunks([...chunks], BENCH_LIMITS);
    assert.equal(outcome.content, message);
    assert.deepEqual([outcome.done, outcome.rest, outcome.problem, outcome.receivedCount], [true, '', undefined, 1]);
    assert.equal(outcome.headerFields, 8);
  }
});
