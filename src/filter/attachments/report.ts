// What an inspection finds. Every finding names the MIME part it is in by the part's
// octet range in the raw message (what a ContentEdit replaces) and the path of names
// that leads to it: the attachment's name, then each archive entry down to the item.
import type { ArchiveFormat } from './archive-kind.ts';
import type { NameReason } from './extensions.ts';
import type { MimeProblem, MimePart, OctetRange } from './mime-walk.ts';

export type BombReason =
  /** More entries than maxEntries, counted over every archive of the attachment. */
  | 'entry-count'
  /** An entry whose declared size is more than maxRatio times its compressed size. */
  | 'ratio'
  /** Declared or inflated sizes past maxExpandedSize, over the whole attachment. */
  | 'expanded-size'
  /** Entries that share their compressed data (the overlapping-file zip bomb). */
  | 'overlapping-entries'
  /** An entry that inflates past the size its header declares. */
  | 'inflated-beyond-declared'
  /** More nested archives than maxNestedArchives. */
  | 'archive-count';

export type UnreadableReason =
  /** Not the format its name or magic claims, or broken. */
  | 'malformed'
  /** Compressed with a method this reader lacks (bzip2, LZMA, zstd, deflate64 in zip). */
  | 'unsupported-method'
  /** A format whose entries are not read here (bzip2, xz), or a 7z header packed with LZMA. */
  | 'names-not-inspected'
  /** Larger than the spool's maximum size. */
  | 'too-large';

interface Located {
  /** The MIME part holding it (for parts of an encoded message: the message's part). */
  partRange: OctetRange;
  /** The name of the item found: the attachment's, or the archive entry's. */
  name: string;
  /** Names from the attachment down to the item (['outer.zip', 'inner.zip', 'evil.exe']). */
  path: string[];
}

export type AttachmentFinding =
  | (Located & { kind: 'blocked'; reason: NameReason | 'in-archive'; extension: string })
  | (Located & {
      kind: 'encrypted';
      format: ArchiveFormat;
      /** False when the archive encrypts its names too (7z -mhe, rar -hp). */
      namesReadable: boolean;
      /** Names of encrypted entries that would be refused if they were not encrypted. */
      blockedNames: string[];
    })
  | (Located & { kind: 'bomb'; reason: BombReason; detail: string })
  | (Located & { kind: 'too-deep'; limit: 'mime' | 'archive'; depth: number })
  /** More MIME parts than maxParts: the walk stopped at this part; later ones were not inspected. */
  | (Located & { kind: 'too-many-parts'; limit: number })
  | (Located & { kind: 'unreadable-archive'; format: ArchiveFormat | undefined; reason: UnreadableReason; detail: string });

export interface ArchiveSummary {
  format: ArchiveFormat;
  /** Entries listed, nested archives' entries included. */
  entries: number;
  encrypted: boolean;
  /** An Office document (docx, xlsx, pptx, odt…): a zip not descended into. */
  office: boolean;
}

export interface PartSummary {
  range: OctetRange;
  number: number[];
  structure: MimePart['structure'];
  mediaType: string;
  transferEncoding: string;
  names: string[];
  /** Decoded octets, when the body was decoded to the end. */
  decodedSize: number | undefined;
  archive: ArchiveSummary | undefined;
}

export interface AttachmentReport {
  findings: AttachmentFinding[];
  parts: PartSummary[];
  /** Malformed MIME seen on the way (informational: the walk went on); the first MAX_PROBLEMS. */
  problems: MimeProblem[];
}
