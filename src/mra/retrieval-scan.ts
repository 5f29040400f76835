// What the retrieval roles (POP3 now, IMAP FETCH later) ask before they send a stored
// message when `[antivirus] rescan_on_retrieval` is on: the content to send — as
// stored, or a notice when a rescan with newer signatures finds malware (the original
// then moves to the quarantine). The composition root builds it from the antivirus
// engines and the MDA (src/app/rescan.ts); the listeners know neither.
import type { StoredMessage } from '../store/mailboxes.ts';

export interface RetrievedContent {
  content: Buffer;
  /** The stored content was replaced by a notice (its size differs from the listing's). */
  replaced: boolean;
}

export interface RetrievalScan {
  /** Throws RetrievalScanUnavailable when the engines cannot scan and fail_open is off. */
  content(userId: number, message: StoredMessage, stored: Buffer): Promise<RetrievedContent>;
}

/** No engine could rescan the message: it is not sent unscanned (POP3: -ERR [SYS/TEMP]). */
export class RetrievalScanUnavailable extends Error {}
