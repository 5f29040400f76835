// The benchmark mailbox: COUNT messages of mixed sizes, the same for every run with the
// same seed. Each is a plausible RFC 5322 message (Date, From, To, Subject, Message-ID,
// MIME headers; plain text, or multipart/mixed with a base64 attachment for the larger
// ones), US-ASCII only, CRLF line ends, lines of at most 76 characters, and about one
// line in 40 starting with "." (a lone ".", "..", "...", ".hidden") so that the POP3
// server's dot-stuffing and the client's dot-unstuffing are exercised.
//
// Sizes are log-normal, drawn again when outside [MIN_SIZE, MAX_SIZE]: median ~19 KB,
// mean ~25 KB, 1 KB to 100 KB.
import { createHash } from 'node:crypto';

export const MIN_SIZE = 1024;
export const MAX_SIZE = 100 * 1024;
/** Log-normal parameters: with the truncation to [MIN_SIZE, MAX_SIZE] the mean is ~25 KB. */
const SIZE_MU = Math.log(19_500);
const SIZE_SIGMA = 0.85;

/** sfc32: a small, fast, well-distributed 32-bit generator; deterministic for a seed. */
export function seededRandom(seed: number): () => number {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ Math.imul(seed, 0x85ebca6b);
  let c = 0xb7e15162;
  let d = 1;
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 20; i++) next();
  return next;
}

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were her their one all we can there been has more if will would no out so what up said about into than ' +
  'them only other new some could time these two may first then do any like my now over such our man me even ' +
  'most made after also did many before must through back years where much your way well down should because ' +
  'mailbox server message retrieval protocol registered delivery postmaster quarterly report invoice meeting ' +
  'schedule agenda minutes budget forecast shipment warehouse customer support ticket release candidate review ' +
  'kakitome dovecot maildir pipeline benchmark octets throughput latency certificate handshake'
).split(' ');

const FIRST = ['Akira', 'Beatrice', 'Carlos', 'Dana', 'Emeka', 'Fumiko', 'Gustav', 'Hana', 'Ines', 'Jun', 'Kofi', 'Lena', 'Mateo', 'Noor', 'Oskar', 'Priya'];
const LAST = ['Tanaka', 'Okafor', 'Lindqvist', 'Moreau', 'Silva', 'Novak', 'Haddad', 'Kowalski', 'Yamamoto', 'Brennan', 'Ivanova', 'Castillo'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Lines that begin with "." (each must be dot-stuffed on the wire, a lone "." above all). */
const DOT_LINES = ['.', '..', '...', '.hidden file in the listing', '. a sentence after a stray dot', '.. two dots', '.\t tab after a dot'];

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

function sentence(random: () => number, maxLength: number): string {
  let line = '';
  for (;;) {
    const word = pick(random, WORDS);
    if (line.length + word.length + 1 > maxLength) return line;
    line = line ? `${line} ${word}` : word[0]!.toUpperCase() + word.slice(1);
  }
}

/** Text lines (a pool each message takes a run of lines from): 20-76 characters, ~2.5% starting with ".". */
function textPool(random: () => number, lines: number): string[] {
  const pool: string[] = [];
  for (let i = 0; i < lines; i++) {
    const roll = random();
    if (roll < 0.025) pool.push(pick(random, DOT_LINES));
    else if (roll < 0.08) pool.push('');
    else pool.push(sentence(random, 20 + Math.floor(random() * 57)));
  }
  return pool;
}

/** base64 lines of 76 characters from pseudo-random bytes (an attachment's body). */
function base64Pool(random: () => number, lines: number): string[] {
  const bytes = Buffer.alloc(57 * lines);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  const pool: string[] = [];
  for (let i = 0; i < lines; i++) pool.push(bytes.subarray(i * 57, (i + 1) * 57).toString('base64'));
  return pool;
}

function drawSize(random: () => number): number {
  for (;;) {
    // Box-Muller: one standard normal variate.
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    const size = Math.round(Math.exp(SIZE_MU + SIZE_SIGMA * normal));
    if (size >= MIN_SIZE && size <= MAX_SIZE) return size;
  }
}

function rfc5322Date(epochSeconds: number): string {
  const date = new Date(epochSeconds * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

export interface BenchMessage {
  /** The Message-ID (without angle brackets): how a retrieved message is matched to its original. */
  messageId: string;
  /** The message as SMTP carries it and POP3 returns it: CRLF line ends, not dot-stuffed. */
  data: Buffer;
}

export interface Mailbox {
  messages: BenchMessage[];
  totalOctets: number;
  /** Lines starting with "." over all messages. */
  dotLines: number;
  /** sha256 over all messages, in order: equal digests, equal mailboxes. */
  digest: string;
}

/** Appends lines from `pool`, starting at a random line, until the text reaches `target` octets. */
function fillLines(random: () => number, pool: readonly string[], out: string[], target: number): number {
  let octets = 0;
  let index = Math.floor(random() * pool.length);
  while (octets < target) {
    const line = pool[index]!;
    out.push(line);
    octets += line.length + 2;
    index = (index + 1) % pool.length;
  }
  return octets;
}

export function makeMailbox(count: number, seed: number, recipient: string): Mailbox {
  const random = seededRandom(seed);
  const text = textPool(random, 20_000);
  const base64 = base64Pool(random, 8_000);
  const messages: BenchMessage[] = [];
  const hash = createHash('sha256');
  let totalOctets = 0;
  let dotLines = 0;
  const start = Date.UTC(2026, 0, 5, 8, 0, 0) / 1000;
  for (let i = 0; i < count; i++) {
    const target = drawSize(random);
    const first = pick(random, FIRST);
    const last = pick(random, LAST);
    const messageId = `bench.${i + 1}.${seed}@client.test`;
    const subject = sentence(random, 30 + Math.floor(random() * 40));
    const lines: string[] = [
      `Date: ${rfc5322Date(start + i * 37)}`,
      `From: "${first} ${last}" <${first.toLowerCase()}.${last.toLowerCase()}@client.test>`,
      `To: <${recipient}>`,
      `Subject: ${subject}`,
      `Message-ID: <${messageId}>`,
      'MIME-Version: 1.0',
    ];
    const headerOctets = lines.reduce((sum, line) => sum + line.length + 2, 0);
    if (target > 20_000 && random() < 0.5) {
      const boundary = `=_bench_${seed}_${i + 1}`;
      lines.push(`Content-Type: multipart/mixed; boundary="${boundary}"`, '', 'This is a multi-part message in MIME format.', `--${boundary}`,
        'Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit', '');
      const textOctets = fillLines(random, text, lines, 1000 + Math.floor(random() * 4000));
      lines.push(`--${boundary}`, `Content-Type: application/octet-stream; name="report-${i + 1}.bin"`, 'Content-Transfer-Encoding: base64',
        `Content-Disposition: attachment; filename="report-${i + 1}.bin"`, '');
      fillLines(random, base64, lines, target - headerOctets - textOctets - 400);
      lines.push(`--${boundary}--`);
    } else {
      lines.push('Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit', '');
      fillLines(random, text, lines, target - headerOctets - 100);
    }
    for (const line of lines) if (line.startsWith('.')) dotLines++;
    const data = Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
    hash.update(data);
    totalOctets += data.length;
    messages.push({ messageId, data });
  }
  return { messages, totalOctets, dotLines, digest: hash.digest('hex').slice(0, 16) };
}

/** The message's Message-ID (without brackets) from its header section, or undefined. */
export function messageIdOf(data: Buffer): string | undefined {
  const headerEnd = data.indexOf('\r\n\r\n');
  const header = data.toString('latin1', 0, headerEnd === -1 ? Math.min(data.length, 65536) : headerEnd);
  return /^Message-ID:\s*<([^>\r\n]+)>/im.exec(header)?.[1];
}

/** SMTP/POP3 dot-stuffing (RFC 5321 §4.5.2, RFC 1939 §3): a line starting with "." gets another. */
export function dotStuff(data: Buffer): Buffer {
  const text = data.toString('latin1');
  const stuffed = (text.startsWith('.') ? '.' : '') + text.replaceAll('\r\n.', '\r\n..');
  return Buffer.from(stuffed, 'latin1');
}

/** The message with LF line ends, as Dovecot stores mail in a Maildir (mail_save_crlf = no). */
export function withLfLineEnds(data: Buffer): Buffer {
  return Buffer.from(data.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
}
