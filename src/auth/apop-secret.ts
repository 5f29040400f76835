// The APOP shared secret (RFC 1939 §7) is separate from the login password: the
// server must keep it in a form it can hash with each banner timestamp, so it is
// stored as given, and a leak of it must not give away the login password.
import { verifyPassword, generatePassword, PasswordError } from './password.ts';

const MIN_LENGTH = 12;
const MAX_LENGTH = 255;
const PRINTABLE = /^[\x21-\x7e]+$/;

export async function checkApopSecret(secret: string, passwordHash: string): Promise<void> {
  if (secret.length < MIN_LENGTH || secret.length > MAX_LENGTH) {
    throw new PasswordError(`APOP secret must be ${MIN_LENGTH} to ${MAX_LENGTH} characters`);
  }
  if (!PRINTABLE.test(secret)) throw new PasswordError('APOP secret must be printable ASCII without spaces');
  if (await verifyPassword(secret, passwordHash)) {
    throw new PasswordError('APOP secret must differ from the login password');
  }
}

export function generateApopSecret(): string {
  return generatePassword(24);
}
