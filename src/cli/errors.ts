// Errors the CLI reports as one line on stderr with a non-zero exit status (SPEC:
// "Errors go to stderr as one clear line, exit status non-zero").
import { AddressError } from '../mail/address.ts';
import { AccountError } from '../store/accounts.ts';
import { PasswordError } from '../auth/password.ts';
import { DataDirError, SchemaVersionError } from '../store/errors.ts';
import { TlsConfigError } from '../tls/context.ts';
import { ListenError } from '../server/listeners.ts';
import { YaraRulesError } from '../filter/antivirus/yara.ts';
import { LearningConflictError } from '../app/spam-learning.ts';

export class CliError extends Error {}

/** Errors whose message is already meant for the user; anything else is a bug. */
export function isUserFacing(err: unknown): err is Error {
  return (
    err instanceof CliError ||
    err instanceof AddressError ||
    err instanceof AccountError ||
    err instanceof PasswordError ||
    err instanceof DataDirError ||
    err instanceof SchemaVersionError ||
    err instanceof TlsConfigError ||
    err instanceof ListenError ||
    err instanceof YaraRulesError ||
    err instanceof LearningConflictError ||
    (err instanceof Error && err.name === 'ConfigError')
  );
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
