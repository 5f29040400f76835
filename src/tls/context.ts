// Loads the server certificate and key, checking that they can be read and belong
// together, so that `kakitome serve` refuses to start instead of failing at the
// first handshake, and fixes the server's TLS policy for every listener (STARTTLS,
// STLS and the implicit-TLS ports alike). SPEC: TLS 1.2 or later only.
import { readFileSync } from 'node:fs';
import { constants, createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

export class TlsConfigError extends Error {}

export const MIN_TLS_VERSION = 'TLSv1.2';

/**
 * The server's own preference, AEAD suites only (RFC 9325 §4.2): TLS 1.3's three, then
 * TLS 1.2 with ECDHE (forward secrecy) and GCM or ChaCha20-Poly1305. No CBC, no static
 * RSA key exchange, no DHE (its parameters would be ours to get right).
 */
export const AEAD_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
];

/** `[tls] legacy_cbc_ciphers = true` adds these, after every AEAD suite, for clients that have nothing else. */
export const LEGACY_CBC_CIPHERS = [
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
];

export interface ServerTlsOptions extends SecureContextOptions {
  cert: Buffer;
  key: Buffer;
  minVersion: 'TLSv1.2';
  ciphers: string;
  honorCipherOrder: true;
  secureOptions: number;
}

export interface ServerTlsPolicy {
  /** Accept the CBC suites of LEGACY_CBC_CIPHERS too (weaker; serve logs a warning). */
  legacyCbcCiphers: boolean;
}

export function loadServerTls(certFile: string, keyFile: string, policy: ServerTlsPolicy = { legacyCbcCiphers: false }): ServerTlsOptions {
  const cert = readPem(certFile, 'certificate');
  const key = readPem(keyFile, 'key');
  const options: ServerTlsOptions = {
    cert,
    key,
    minVersion: MIN_TLS_VERSION,
    ciphers: [...AEAD_CIPHERS, ...(policy.legacyCbcCiphers ? LEGACY_CBC_CIPHERS : [])].join(':'),
    honorCipherOrder: true,
    // RFC 5746 secure renegotiation is still a way for a client to make the server do a
    // full handshake's work over and over on one connection; mail clients never need
    // it. TLS 1.3 has none; for 1.2 OpenSSL answers a ClientHello on an established
    // connection with a no_renegotiation alert. A context option, so it holds for the
    // TLSSockets STARTTLS/STLS create as well as for the implicit-TLS servers.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
  try {
    createSecureContext(options);
    assertKeyOfCertificate(cert, key);
  } catch (err) {
    throw new TlsConfigError(`TLS certificate ${certFile} and key ${keyFile} are unusable: ${(err as Error).message}`);
  }
  return options;
}

/**
 * The key must be the leaf certificate's. OpenSSL checks this only when the key is of
 * the certificate's type: an EC or Ed25519 key beside an RSA certificate goes into
 * another slot of the context unchecked, and every handshake then fails ("no suitable
 * signature algorithm") on a server that started as if all were well.
 */
function assertKeyOfCertificate(cert: Buffer, key: Buffer): void {
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
    throw new Error('key values mismatch: the key does not belong to the (first) certificate');
  }
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new TlsConfigError(`cannot read TLS ${what} ${file}: ${code}`);
  }
}
