// DKIM signing keys: one RSA and one Ed25519 key per domain, so that every outbound
// message carries two signatures (RFC 8463 §5: sign with both while verifiers
// without Ed25519 support remain).
import { generateKeyPairSync, createPublicKey } from 'node:crypto';

import type { DkimAlgorithm, DkimKeyPair } from '../../mail/dkim-key.ts';

export type { DkimAlgorithm, DkimKeyPair };

const RSA_BITS = 2048;
// An Ed25519 SubjectPublicKeyInfo is this 12-byte header plus the 32-byte key.
const ED25519_SPKI_PREFIX_LENGTH = 12;

export function generateDkimKey(algorithm: DkimAlgorithm, selector: string): DkimKeyPair {
  const { privateKey } =
    algorithm === 'rsa-sha256'
      ? generateKeyPairSync('rsa', { modulusLength: RSA_BITS })
      : generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { selector, algorithm, privateKey: pem, publicKey: dkimPublicKeyValue(algorithm, pem) };
}

/**
 * RFC 6376 §3.6.1: RSA keys are published as the base64 DER SubjectPublicKeyInfo
 * (what every signer publishes); RFC 8463 §4.2: Ed25519 keys as the bare 32-byte key.
 */
export function dkimPublicKeyValue(algorithm: DkimAlgorithm, privateKeyPem: string): string {
  const spki = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
  return (algorithm === 'rsa-sha256' ? spki : spki.subarray(ED25519_SPKI_PREFIX_LENGTH)).toString('base64');
}

/** Selectors named by date and key type, e.g. k20261123r and k20261123e. */
export function selectorFor(algorithm: DkimAlgorithm, date: Date, taken: ReadonlySet<string>): string {
  const day = date.toISOString().slice(0, 10).replaceAll('-', '');
  const kind = algorithm === 'rsa-sha256' ? 'r' : 'e';
  for (const suffix of ['', 'b', 'c', 'd', 'f', 'g', 'h']) {
    const selector = `k${day}${suffix}${kind}`;
    if (!taken.has(selector)) return selector;
  }
  throw new Error(`too many DKIM keys created on ${day}`);
}

/** The DKIM key record value (RFC 6376 §3.6.1) for a public key. */
export function dkimRecordValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return algorithm === 'rsa-sha256' ? `v=DKIM1; k=rsa; h=sha256; p=${publicKey}` : `v=DKIM1; k=ed25519; p=${publicKey}`;
}
