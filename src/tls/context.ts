// Loads the server certificate and key, checking that they can be read and belong
// together, so that `kakitome serve` refuses to start instead of failing at the
// first handshake. SPEC: TLS 1.2 or later only.
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

export class TlsConfigError extends Error {}

export const MIN_TLS_VERSION = 'TLSv1.2';

export interface ServerTlsOptions extends SecureContextOptions {
  cert: Buffer;
  key: Buffer;
  minVersion: 'TLSv1.2';
}

export function loadServerTls(certFile: string, keyFile: string): ServerTlsOptions {
  const cert = readPem(certFile, 'certificate');
  const key = readPem(keyFile, 'key');
  const options: ServerTlsOptions = { cert, key, minVersion: MIN_TLS_VERSION };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new TlsConfigError(`TLS certificate ${certFile} and key ${keyFile} are unusable: ${(err as Error).message}`);
  }
  return options;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new TlsConfigError(`cannot read TLS ${what} ${file}: ${code}`);
  }
}
