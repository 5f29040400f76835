// Password login shared by every protocol (POP3 USER/PASS and AUTH PLAIN, SMTP AUTH):
// lockout first, then a constant-work verification that looks the same for unknown
// users and wrong passwords, then the failure or success is counted.
import { AddressError, parseMailAddress } from '../mail/address.ts';
import type { AccountStore, UserRecord } from '../store/accounts.ts';
import type { AuthLockout } from '../policy/access/lockout.ts';
import { verifyAgainstDummy, verifyPassword } from './password.ts';
import { verifyApop } from './apop.ts';

export type LoginResult = { ok: true; user: UserRecord } | { ok: false; reason: 'locked' | 'failed' };

/** The account key a client's login name maps to (normalised when it is an address). */
export function accountKey(username: string): string {
  try {
    return parseMailAddress(username).address;
  } catch (err) {
    if (err instanceof AddressError) return username.toLowerCase();
    throw err;
  }
}

export async function loginWithPassword(
  accounts: Pick<AccountStore, 'getUser'>,
  lockout: AuthLockout,
  ip: string,
  username: string,
  password: string,
): Promise<LoginResult> {
  const key = accountKey(username);
  if (lockout.isLocked(ip, key)) return { ok: false, reason: 'locked' };
  const user = await accounts.getUser(key);
  const ok = user ? await verifyPassword(password, user.passwordHash) : await verifyAgainstDummy(password);
  return settle(lockout, ip, key, ok ? user : undefined);
}

/** APOP: the user's separate secret; a user without one cannot log in this way. */
export async function loginWithApop(
  accounts: Pick<AccountStore, 'getUser'>,
  lockout: AuthLockout,
  ip: string,
  username: string,
  timestamp: string,
  digest: string,
): Promise<LoginResult> {
  const key = accountKey(username);
  if (lockout.isLocked(ip, key)) return { ok: false, reason: 'locked' };
  const user = await accounts.getUser(key);
  const ok = user?.apopSecret ? verifyApop(timestamp, user.apopSecret, digest) : false;
  return settle(lockout, ip, key, ok ? user : undefined);
}

function settle(lockout: AuthLockout, ip: string, key: string, user: UserRecord | undefined): LoginResult {
  if (!user) {
    lockout.recordFailure(ip, key);
    return { ok: false, reason: 'failed' };
  }
  lockout.recordSuccess(key);
  return { ok: true, user };
}
