// Password hashing with scrypt (RFC 7914) stored as a PHC string:
//   $scrypt$ln=15,r=8,p=1$<salt base64>$<hash base64>
// The parameters live in the string, so they can be raised later without
// invalidating stored hashes. Verification is constant-time.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, randomInt } from 'node:crypto';
import { HashSlots } from './hash-slots.ts';

// N=2^15, r=8, p=1: the interactive-login parameters recommended with Go's scrypt
// package (32 MiB, ~0.1 s here). Every POP3/SMTP login pays this once, so higher
// costs become a denial-of-service lever; lockout limits guessing instead.
const DEFAULT_LOG_N = 15;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const MAX_LOG_N = 20;

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;

export class PasswordError extends Error {}

interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

/**
 * Two hashes at a time: 64 MiB of scrypt memory at most, and two of the libuv
 * threadpool's four threads left for the message store (hash-slots.ts).
 */
export const SCRYPT_SLOTS = new HashSlots(2);

function scrypt(password: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  return SCRYPT_SLOTS.run(() => scryptNow(password, salt, keylen, params));
}

function scryptNow(password: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.logN;
  return new Promise((resolve, reject) => {
    scryptCallback(
      password.normalize('NFC'),
      salt,
      keylen,
      { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** Rejects passwords that are empty, too short, too long or hold control characters. */
export function checkPasswordPolicy(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new PasswordError(`password too short: at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new PasswordError(`password too long: at most ${MAX_PASSWORD_LENGTH} characters`);
  }
  if (/[\u0000-\u001f\u007f]/.test(password)) throw new PasswordError('password holds a control character');
}

export async function hashPassword(password: string, logN = DEFAULT_LOG_N): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const params = { logN, r: BLOCK_SIZE, p: PARALLELISM };
  const key = await scrypt(password, salt, KEY_BYTES, params);
  return `$scrypt$ln=${logN},r=${params.r},p=${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

function parsePhc(phc: string): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const match = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(phc);
  if (!match) return undefined;
  const params = { logN: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  if (params.logN < 1 || params.logN > MAX_LOG_N || params.r < 1 || params.p < 1) return undefined;
  return { params, salt: Buffer.from(match[4]!, 'base64'), key: Buffer.from(match[5]!, 'base64') };
}

/** True when password matches the stored hash. Takes as long whether or not it matches. */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const parsed = parsePhc(phc);
  if (!parsed || parsed.key.length === 0) return false;
  const candidate = await scrypt(password, parsed.salt, parsed.key.length, parsed.params);
  return timingSafeEqual(candidate, parsed.key);
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the same work as a real verification, for logins naming an unknown user,
 * so that timing does not tell whether an account exists (SPEC: account discovery).
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword(randomBytes(18).toString('base64'));
  await verifyPassword(password, await dummyHash);
  return false;
}

const GENERATED_ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A random password of `length` characters from a 57-symbol alphabet (~5.8 bits each). */
export function generatePassword(length = 24): string {
  let out = '';
  for (let i = 0; i < length; i++) out += GENERATED_ALPHABET[randomInt(GENERATED_ALPHABET.length)];
  return out;
}
