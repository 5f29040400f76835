// The store, by role. Every role is an async interface (accounts.ts, mailboxes.ts,
// deliveries.ts, queue.ts, keys.ts, grants.ts, quarantine.ts, spam.ts) with sqlite/ as one implementation
// (node:sqlite for metadata and small messages, files in blobs/ for larger ones); a PostgreSQL backend
// implements the same interfaces and runs the same contract suite
// (test/store/contract/). Nothing outside src/store/ imports src/store/sqlite/.
//
// Who gets which role is the composition root's decision (src/app/): deliveries go to
// src/mda/ alone; listeners get read-only roles.
import type { AccountStore } from './accounts.ts';
import type { MailboxStore } from './mailboxes.ts';
import type { DeliveryStore } from './deliveries.ts';
import type { QueueStore } from './queue.ts';
import type { KeyStore } from './keys.ts';
import type { GrantStore } from './grants.ts';
import type { QuarantineStore } from './quarantine.ts';
import type { SpamStore } from './spam.ts';
import { openSqliteStore } from './sqlite/open.ts';
import { DataDirError } from './errors.ts';

export { DataDirError };
export { SchemaVersionError } from './errors.ts';

export interface Store {
  accounts: AccountStore;
  mailboxes: MailboxStore;
  deliveries: DeliveryStore;
  queue: QueueStore;
  keys: KeyStore;
  grants: GrantStore;
  quarantine: QuarantineStore;
  spam: SpamStore;
  /** Waits for deliveries in flight, then closes. */
  close(): Promise<void>;
}

/**
 * Opens the store in dataDir. With create, makes the directory (mode 0700);
 * otherwise it must exist. Refuses a directory that group or others can enter:
 * it holds mail, password hashes and private keys.
 */
export function openStore(dataDir: string, options: { create?: boolean } = {}): Store {
  return openSqliteStore(dataDir, options, (message) => new DataDirError(message));
}
