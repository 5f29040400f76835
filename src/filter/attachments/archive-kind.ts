// What kind of archive a body is: by its first octets (magic numbers), by its name,
// or by its media type. Office documents are zip files that are not treated as archives.
import { extensionOf, normalizeFileName } from './extensions.ts';

export type ArchiveFormat = 'zip' | 'tar' | 'gzip' | '7z' | 'rar' | 'bzip2' | 'xz';

/** Octets needed to recognise every format (tar's magic is at 257, RFC-less POSIX ustar). */
export const SNIFF_LENGTH = 512;

const startsWith = (head: Buffer, ...bytes: number[]) => head.length >= bytes.length && bytes.every((b, i) => head[i] === b);

/** The format of content that begins with `head`, or undefined. */
export function sniffArchive(head: Buffer): ArchiveFormat | undefined {
  // APPNOTE.TXT §4.3.7 local file header, §4.3.16 end record (an empty zip), §8.5.3 split marker.
  if (startsWith(head, 0x50, 0x4b) && [0x0304, 0x0506, 0x0708].includes(((head[2] ?? 0) << 8) | (head[3] ?? 0))) return 'zip';
  if (startsWith(head, 0x1f, 0x8b)) return 'gzip'; // RFC 1952 §2.3.1 ID1 ID2
  if (startsWith(head, 0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)) return '7z';
  if (startsWith(head, 0x52, 0x61, 0x72, 0x21, 0x1a, 0x07)) return 'rar'; // "Rar!\x1a\x07": 4.x then 00, 5.0 then 01 00
  if (startsWith(head, 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (startsWith(head, 0x42, 0x5a, 0x68) && (head[3] ?? 0) >= 0x31 && (head[3] ?? 0) <= 0x39) return 'bzip2';
  if (head.length >= 263 && head.toString('latin1', 257, 262) === 'ustar') return 'tar';
  return undefined;
}

const BY_EXTENSION: ReadonlyMap<string, ArchiveFormat> = new Map([
  ['zip', 'zip'], ['zipx', 'zip'],
  ['tar', 'tar'],
  ['gz', 'gzip'], ['tgz', 'gzip'], ['gzip', 'gzip'],
  ['7z', '7z'],
  ['rar', 'rar'],
  ['bz2', 'bzip2'], ['tbz', 'bzip2'], ['tbz2', 'bzip2'],
  ['xz', 'xz'], ['txz', 'xz'],
]);

/** The format a name claims (`a.tar.gz` → gzip), or undefined. */
export function archiveFormatOfName(name: string): ArchiveFormat | undefined {
  return BY_EXTENSION.get(extensionOf(normalizeFileName(name)));
}

const BY_MEDIA_TYPE: ReadonlyMap<string, ArchiveFormat> = new Map([
  ['application/zip', 'zip'], ['application/x-zip', 'zip'], ['application/x-zip-compressed', 'zip'], ['multipart/x-zip', 'zip'],
  ['application/x-tar', 'tar'], ['application/x-gtar', 'tar'],
  ['application/gzip', 'gzip'], ['application/x-gzip', 'gzip'], ['application/x-compressed', 'gzip'], ['application/x-compressed-tar', 'gzip'],
  ['application/x-7z-compressed', '7z'],
  ['application/vnd.rar', 'rar'], ['application/x-rar', 'rar'], ['application/x-rar-compressed', 'rar'],
  ['application/x-bzip2', 'bzip2'], ['application/x-bzip', 'bzip2'],
  ['application/x-xz', 'xz'],
]);

/** The format a media type (lower case, no parameters) claims, or undefined. */
export function archiveFormatOfMediaType(mediaType: string): ArchiveFormat | undefined {
  return BY_MEDIA_TYPE.get(mediaType);
}

/**
 * Office Open XML (ECMA-376 Part 2, Open Packaging Conventions: a zip with
 * `[Content_Types].xml`) and OpenDocument (a zip whose `mimetype` entry names the type)
 * formats without macros. Macro-enabled ones (docm, xlsm…) are refused by extension.
 */
export const OFFICE_EXTENSIONS: ReadonlySet<string> = new Set([
  'docx', 'dotx', 'xlsx', 'xltx', 'pptx', 'potx', 'ppsx', 'sldx', 'vsdx', 'vstx',
  'odt', 'ott', 'ods', 'ots', 'odp', 'otp', 'odg', 'otg', 'odf',
]);

/** Whether a name has an Office document extension. */
export function isOfficeName(name: string): boolean {
  return OFFICE_EXTENSIONS.has(extensionOf(normalizeFileName(name)));
}
