// DKIM signing of mail that leaves for a local domain's sender (RFC 6376): one
// signature per active key of the domain — RSA-SHA256 and Ed25519-SHA256 side by side,
// as RFC 8463 §5 advises while verifiers without Ed25519 remain — canonicalization
// relaxed/relaxed, no l= (a body length limit lets anyone append content, RFC 6376
// §8.2), and From (with the other fields a reader trusts) oversigned (§8.15) so a
// field added after signing breaks the signature instead of being displayed.
//
// Why not mailauth's dkimSign: it builds h= only from the fields present in the
// message (lib/tools.js getSigningHeaderLines walks the message, not the list), so it
// cannot name a field once more than it occurs — and oversigning is required here.
// The signer is small: canonicalization (§3.4.2, §3.4.4), the hash (§3.7) and
// node:crypto. The tests check every signature with two independent verifiers,
// mailauth's dkimVerify and Debian's dkimpy.
import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { addressesOf } from '../../mail/header.ts';
import { normaliseDomain } from '../../mail/address.ts';
import type { DkimAlgorithm } from './keys.ts';

/** What signing needs of a stored key (a DkimKeyRecord has all of it). */
export interface SigningKey {
  selector: string;
  algorithm: DkimAlgorithm;
  /** PKCS#8 PEM */
  privateKey: string;
  /** Retired keys (not null) stay published but no longer sign. */
  retiredAt: number | null;
}

export interface SignOptions {
  /** The signing time for t= (default: now). */
  now?: Date;
}

export class DkimSignError extends Error {
  override name = 'DkimSignError';
}

/**
 * Header fields a reader or a filter relies on. Oversigned (listed once more than
 * they occur) always: the ones an attacker would add to a replayed or altered message
 * to change what the reader sees. Oversigned when present: fields that may occur at
 * most once (RFC 5322 §3.6, RFC 2045 for the MIME ones). Signed when present: the rest.
 * Never Received, Return-Path, DKIM-Signature or trace fields: relays add those.
 */
const OVERSIGN_ALWAYS = ['From', 'Reply-To', 'To', 'Cc', 'Subject'];
const OVERSIGN_WHEN_PRESENT = [
  'Sender',
  'Date',
  'Message-ID',
  'In-Reply-To',
  'References',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
];
/** RFC 2369 and RFC 2919 list fields, and RFC 8058's List-Unsubscribe-Post. */
const LIST_FIELD = /^list-[a-z0-9-]+$/i;

// Keep folded lines under the RFC 5322 §2.1.1 recommendation of 78 characters.
const FOLD_AT = 76;
const B_CHUNK = 8;
const CR = 0x0d;
const LF = 0x0a;
const YIELD_EVERY = 1 << 20;

interface RawField {
  /** The name as written, without white space before the colon. */
  name: string;
  /** The whole field as written, folding included, without the final line end. */
  raw: string;
}

/**
 * The DKIM-Signature fields to prepend to `message` (each ending with CRLF, folded),
 * one per active key; '' when the domain has no active key. `message` is the whole
 * message as it will be stored, header section first (our Received may be on top: it
 * is never signed). Throws DkimSignError for a message without From (RFC 6376 §5.4:
 * From must be signed) or a domain that is not a valid A-label name.
 */
export async function signMessage(
  message: Buffer,
  domain: string,
  keys: readonly SigningKey[],
  options: SignOptions = {},
): Promise<string> {
  const active = keys.filter((key) => key.retiredAt === null);
  if (active.length === 0) return '';
  const signingDomain = checkedDomain(domain);

  const { fields, body } = splitMessage(message);
  if (!fields.some((f) => f.name.toLowerCase() === 'from')) {
    throw new DkimSignError('cannot DKIM-sign a message without a From header field');
  }
  const signed = signedFieldNames(fields);
  const headerData = canonicalSignedFields(fields, signed);
  const bodyHash = await relaxedBodyHash(body);
  const timestamp = Math.floor((options.now ?? new Date()).getTime() / 1000);

  const signatures: string[] = [];
  for (const key of active) {
    // RFC 6376 §3.5: selectors are dot-atoms; ours are generated (k20261123r), so
    // anything else is a store problem, not something to put into a header.
    if (!/^[a-z0-9]+(?:[.-][a-z0-9]+)*$/i.test(key.selector)) throw new DkimSignError(`invalid DKIM selector ${JSON.stringify(key.selector)}`);
    const privateKey = privateKeyFor(key);
    const tags = [
      'v=1;',
      `a=${key.algorithm};`,
      'c=relaxed/relaxed;',
      `d=${signingDomain};`,
      `s=${key.selector};`,
      `t=${timestamp};`,
    ];
    // h= may be folded between names (RFC 6376 §3.5 sig-h-tag allows FWS around ":").
    const hTag = signed.map((name, i) => (i === 0 ? 'h=' : '') + name + (i === signed.length - 1 ? ';' : ':'));
    const folder = new Folder('DKIM-Signature:');
    for (const tag of tags) folder.add(tag, ' ');
    hTag.forEach((piece, i) => folder.add(piece, i === 0 ? ' ' : ''));
    folder.add(`bh=${bodyHash};`, ' ');
    // "b=" stays on the line of the signature's first characters, so the field that is
    // hashed ends exactly where the emitted one continues.
    folder.add('b=', ' ', B_CHUNK);
    // RFC 6376 §3.7: the signature field itself is hashed last, with an empty b= and
    // without its final CRLF.
    const data = Buffer.concat([headerData, relaxedField(folder.text, false)]);
    const signature = signatureOf(key.algorithm, data, privateKey).toString('base64');
    // b= is base64 with FWS allowed anywhere (§3.5); verifiers drop that white space.
    for (let i = 0; i < signature.length; i += B_CHUNK) folder.add(signature.slice(i, i + B_CHUNK), '');
    signatures.push(`${folder.text}\r\n`);
  }
  return signatures.join('');
}

/**
 * The domain to sign a submitted message for: the domain of its header From
 * (RFC 5322 §3.6.2, the address DMARC aligns with) when it is a local domain; else
 * undefined, and the message is not signed. `headerFrom` is the From field's value;
 * with several mailboxes (RFC 5322 allows them) they must all be in the one domain.
 */
export function signingDomainFor(
  headerFrom: string,
  localDomains: ReadonlySet<string> | ((domain: string) => boolean),
): string | undefined {
  const isLocal = typeof localDomains === 'function' ? localDomains : (d: string) => localDomains.has(d);
  const domains = new Set<string>();
  for (const address of addressesOf(headerFrom)) {
    const at = address.lastIndexOf('@');
    if (at <= 0) return undefined;
    try {
      domains.add(normaliseDomain(address.slice(at + 1)));
    } catch {
      return undefined;
    }
  }
  if (domains.size !== 1) return undefined;
  const [domain] = domains;
  return isLocal(domain!) ? domain : undefined;
}

/** The h= list for this message: see OVERSIGN_ALWAYS above. */
export function signedFieldNames(fields: readonly { name: string }[]): string[] {
  const count = (name: string) => fields.filter((f) => f.name.toLowerCase() === name.toLowerCase()).length;
  const names: string[] = [];
  for (const name of OVERSIGN_ALWAYS) names.push(...Array<string>(count(name) + 1).fill(name));
  for (const name of OVERSIGN_WHEN_PRESENT) {
    const n = count(name);
    if (n > 0) names.push(...Array<string>(n + 1).fill(name));
  }
  const lists = new Map<string, string>();
  for (const field of fields) {
    if (LIST_FIELD.test(field.name) && !lists.has(field.name.toLowerCase())) lists.set(field.name.toLowerCase(), field.name);
  }
  for (const name of lists.values()) names.push(...Array<string>(count(name)).fill(name));
  return names;
}

function checkedDomain(domain: string): string {
  try {
    const ascii = normaliseDomain(domain);
    if (ascii === domain.toLowerCase()) return ascii;
  } catch {
    // reported below
  }
  throw new DkimSignError(`invalid DKIM signing domain ${JSON.stringify(domain)}`);
}

function privateKeyFor(key: SigningKey): KeyObject {
  const object = createPrivateKey(key.privateKey);
  const expected = key.algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519';
  if (object.asymmetricKeyType !== expected) {
    throw new DkimSignError(`DKIM key ${key.selector} is ${object.asymmetricKeyType}, not ${expected}`);
  }
  return object;
}

function signatureOf(algorithm: DkimAlgorithm, data: Buffer, key: KeyObject): Buffer {
  // RFC 6376 §3.3.1: RSASSA-PKCS1-v1_5 over SHA-256 of the data.
  if (algorithm === 'rsa-sha256') return sign('sha256', data, key);
  // RFC 8463 §3: PureEdDSA Ed25519 over the SHA-256 hash of the data (not the data).
  return sign(null, createHash('sha256').update(data).digest(), key);
}

/**
 * The header fields (in order, as written) and the body. Octets are handled as
 * latin1 so that 8-bit header content (RFC 6532) is hashed exactly as it is stored.
 * Line ends are CRLF (our DATA reader refuses anything else); a bare LF is read as one
 * all the same, as verifiers do.
 */
function splitMessage(message: Buffer): { fields: RawField[]; body: Buffer } {
  let headerEnd = 0; // just after the line end of the last field
  let bodyStart: number;
  if (message[0] === LF) bodyStart = 1;
  else if (message[0] === CR && message[1] === LF) bodyStart = 2;
  else {
    // The empty line: a line end followed by CRLF or LF.
    const crlf = message.indexOf('\n\r\n');
    const lf = message.indexOf('\n\n');
    const blank = crlf < 0 ? lf : lf < 0 ? crlf : Math.min(crlf, lf);
    headerEnd = blank < 0 ? message.length : blank + 1;
    bodyStart = blank < 0 ? message.length : blank === crlf ? blank + 3 : blank + 2;
  }
  const fields: RawField[] = [];
  for (const line of message.subarray(0, headerEnd).toString('latin1').split(/(?<=\n)/)) {
    const last = fields[fields.length - 1];
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      last.raw += line;
      continue;
    }
    const colon = line.indexOf(':');
    // A line that is neither a field nor a continuation cannot be signed or selected.
    fields.push({ name: colon > 0 ? line.slice(0, colon).replace(/[ \t]+$/, '') : '', raw: line });
  }
  for (const field of fields) field.raw = field.raw.replace(/\r?\n$/, '');
  return { fields: fields.filter((f) => f.name !== ''), body: message.subarray(bodyStart) };
}

/**
 * RFC 6376 §5.4.2: each name in h= takes the last not yet used instance of that
 * field, bottom up; a name with no instance left contributes nothing (which is what
 * makes oversigning work).
 */
function canonicalSignedFields(fields: readonly RawField[], names: readonly string[]): Buffer {
  const used = new Set<number>();
  const parts: Buffer[] = [];
  for (const name of names) {
    const lower = name.toLowerCase();
    for (let i = fields.length - 1; i >= 0; i--) {
      if (!used.has(i) && fields[i]!.name.toLowerCase() === lower) {
        used.add(i);
        parts.push(relaxedField(fields[i]!.raw, true));
        break;
      }
    }
  }
  return Buffer.concat(parts);
}

/** RFC 6376 §3.4.2 relaxed header canonicalization of one field. */
function relaxedField(raw: string, withLineEnd: boolean): Buffer {
  const colon = raw.indexOf(':');
  const name = raw.slice(0, colon).replace(/[ \t]+$/, '').toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r?\n/g, '') // unfold
    .replace(/[ \t]+/g, ' ') // one SP for each run of WSP
    .replace(/^ | $/g, ''); // none around the value
  return Buffer.from(`${name}:${value}${withLineEnd ? '\r\n' : ''}`, 'latin1');
}

/**
 * RFC 6376 §3.4.4 relaxed body canonicalization, hashed with SHA-256, base64: white
 * space at line ends removed, other runs of it made one SP, empty lines at the end
 * ignored, a final CRLF added when missing. Streams over the lines and gives the event
 * loop a turn every megabyte (a message may be tens of megabytes).
 */
async function relaxedBodyHash(body: Buffer): Promise<string> {
  const hash = createHash('sha256');
  let pendingEmptyLines = 0;
  let start = 0;
  let nextYield = YIELD_EVERY;
  while (start < body.length) {
    if (start >= nextYield) {
      // Let other sessions run while a large body is hashed.
      await yieldToEventLoop();
      nextYield = start + YIELD_EVERY;
    }
    const lf = body.indexOf(LF, start);
    const next = lf < 0 ? body.length : lf + 1;
    let end = lf < 0 ? body.length : lf;
    if (end > start && body[end - 1] === CR) end--;
    const line = body
      .subarray(start, end)
      .toString('latin1')
      .replace(/[ \t]+/g, ' ')
      .replace(/ $/, '');
    if (line === '') pendingEmptyLines++;
    else {
      if (pendingEmptyLines > 0) hash.update('\r\n'.repeat(pendingEmptyLines));
      pendingEmptyLines = 0;
      hash.update(`${line}\r\n`, 'latin1');
    }
    start = next;
  }
  return hash.digest('base64');
}

/** Builds a header field, folding with CRLF SP before a piece that would run past FOLD_AT. */
class Folder {
  #lines: string[];

  constructor(start: string) {
    this.#lines = [start];
  }

  /**
   * Adds `piece` after `separator` ('' or ' '), or on a new continuation line when
   * it (and `reserve` more characters) would not fit.
   */
  add(piece: string, separator: '' | ' ', reserve = 0): void {
    const current = this.#lines[this.#lines.length - 1]!;
    if (current.length + separator.length + piece.length + reserve > FOLD_AT) {
      this.#lines.push(` ${piece}`);
    } else {
      this.#lines[this.#lines.length - 1] = current + separator + piece;
    }
  }

  get text(): string {
    return this.#lines.join('\r\n');
  }
}
