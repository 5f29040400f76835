// Attachment inspection: which parts of a message carry files the recipient's machine
// would run (by name, and by the names inside archives), which archives are encrypted,
// which are built to exhaust whoever opens them, and where each part lies in the raw
// message so that it can be replaced.
//
// SECURITY: trusts nothing in the message. Every name a part goes by is judged and the
// worst one counts (Content-Disposition filename, Content-Type name, RFC 2231 and 2047
// forms, a zip entry's header name and its Unicode Path name, every end record of a zip
// that has several). Names are normalised as Windows reads them (trailing dots and
// spaces, NUL, invisible and bidi controls, compatibility forms). Every offset and size
// read from an archive is checked before use; counts, sizes, the inflation ratio, the
// inflated octets, nested archives and nesting depth are bounded per attachment, and
// inflation is counted as it happens, not trusted from headers. Memory is bounded: a
// body past memoryLimit goes to a 0600 scratch file in the caller's directory, removed
// before the call returns. Encrypted entries are not decrypted and not refused by name:
// they are reported. Office documents (by name and by structure) are not descended into.
//
// STANDARDS: RFC 2045 (§5.1 Content-Type, §6 transfer encodings), RFC 2046 (§5.1
// multipart and boundaries, §5.2 message), RFC 2047 (encoded words), RFC 2183
// (Content-Disposition), RFC 2231 (parameter continuations and charsets), RFC 6532
// (UTF-8 headers, message/global), RFC 1951/1952 (deflate, gzip), PKWARE APPNOTE.TXT
// 6.3.10 (zip, ZIP64), POSIX pax/ustar and GNU tar, 7zFormat.txt, RAR 4.x/5.0 technotes,
// ECMA-376 Part 2 (Open Packaging Conventions).
export { inspectAttachments, ATTACHMENT_DEFAULTS, MAX_PROBLEMS } from './inspect.ts';
export type { AttachmentOptions } from './inspect.ts';
export type { AttachmentFinding, AttachmentReport, ArchiveSummary, BombReason, PartSummary, UnreadableReason } from './report.ts';
export { DEFAULT_BLOCKED_EXTENSIONS, blockedExtension, blockedExtensionSet, classifyFileName, normalizeFileName } from './extensions.ts';
export type { BlockedName, NameReason } from './extensions.ts';
export { fileNameCandidates } from './names.ts';
export { walkMime, MIME_WALK_DEFAULTS } from './mime-walk.ts';
export type { MessageSource, MimeEvent, MimePart, MimeProblem, MimeWalkOptions, OctetRange } from './mime-walk.ts';
export { readZipDirectory, readZipEntry } from './zip.ts';
export type { ZipDirectory, ZipEntry } from './zip.ts';
export { bufferSource, fileSource, OutOfBoundsRead } from './source.ts';
export type { RandomAccess } from './source.ts';
export { ARCHIVE_DEFAULTS } from './archives.ts';
export type { ArchiveLimits } from './archives.ts';
export type { ArchiveFormat } from './archive-kind.ts';
