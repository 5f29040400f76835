// The key store, by role: DKIM signing keys per local domain. Private keys stay in
// the store (inside the 0700 data directory); retired keys stop signing but stay
// published until removed. (User OpenPGP/S/MIME keys will live here too.)
import type { DkimAlgorithm, DkimKeyPair } from '../mail/dkim-key.ts';

export interface DkimKeyRecord extends DkimKeyPair {
  domain: string;
  createdAt: number;
  retiredAt: number | null;
}

export type { DkimAlgorithm };

export interface KeyStore {
  addDkimKeys(domain: string, keys: readonly DkimKeyPair[], now?: number): Promise<void>;
  /** Every key of the domain, active first, newest first. */
  listDkimKeys(domain: string): Promise<DkimKeyRecord[]>;
  /** The keys that sign the domain's mail now. */
  activeDkimKeys(domain: string): Promise<DkimKeyRecord[]>;
  /** Retires every active key and adds the new ones, in one transaction; returns the retired selectors. */
  rotateDkimKeys(domain: string, keys: readonly DkimKeyPair[], now?: number): Promise<string[]>;
  removeDkimKey(domain: string, selector: string): Promise<boolean>;
}
