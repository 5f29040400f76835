// Inside an archive: every entry name checked like an attachment's, archives within
// archives opened to a depth limit, and the zip-bomb bounds kept over the whole
// attachment (entries, declared and inflated sizes, compression ratio, entries that
// share data, nested archive count). Encrypted entries are not refused by name: they
// are reported as encrypted, with the names that would be refused, and the policy
// decides. Office documents (a zip with [Content_Types].xml or an OpenDocument
// mimetype, named as one) are not descended into.
import { archiveFormatOfName, isOfficeName, sniffArchive, SNIFF_LENGTH, type ArchiveFormat } from './archive-kind.ts';
import { BodyCollector } from './collector.ts';
import { classifyFileName } from './extensions.ts';
import { gunzip, gzipFileName } from './gzip.ts';
import type { ArchiveListing } from './listing.ts';
import { listRar } from './rar.ts';
import type { AttachmentFinding, ArchiveSummary, BombReason } from './report.ts';
import { listSevenZip } from './sevenzip.ts';
import type { OctetRange } from './mime-walk.ts';
import { readPieces, type RandomAccess } from './source.ts';
import type { SpooledBody, SpoolLimits } from './spool.ts';
import { TarReader } from './tar.ts';
import { readZipDirectory, readZipEntry, sniffZipEntry, type ZipEntry } from './zip.ts';

export interface ArchiveLimits {
  /** Archives nested at most this deep (the attachment itself is 1). */
  maxArchiveDepth: number;
  /** Entries listed at most, over every archive of one attachment. */
  maxEntries: number;
  /** Declared uncompressed size over compressed size allowed for one entry... */
  maxRatio: number;
  /** ...when its declared size is at least this (small files of zeros compress well and harm nobody). */
  ratioMinSize: number;
  /** Declared uncompressed sizes, and octets actually inflated, each at most this per attachment. */
  maxExpandedSize: number;
  /** Archives opened inside archives at most, per attachment. */
  maxNestedArchives: number;
}

export const ARCHIVE_DEFAULTS: ArchiveLimits = {
  maxArchiveDepth: 5,
  maxEntries: 10_000,
  maxRatio: 100,
  ratioMinSize: 1024 * 1024,
  maxExpandedSize: 1024 * 1024 * 1024,
  maxNestedArchives: 256,
};

/** The budget one attachment spends, and the findings it makes. */
export interface ArchiveInspection {
  limits: ArchiveLimits;
  blocked: ReadonlySet<string>;
  spool: SpoolLimits;
  partRange: OctetRange;
  findings: AttachmentFinding[];
  entries: number;
  declared: number;
  inflated: number;
  archives: number;
  /** Set by a bomb: nothing more of this attachment is opened. */
  stopped: boolean;
  /** Nesting past the depth limit is reported once per attachment (a 42.zip would report it thousands of times). */
  tooDeepReported: boolean;
}

export function newInspection(limits: ArchiveLimits, blocked: ReadonlySet<string>, spool: SpoolLimits, partRange: OctetRange): ArchiveInspection {
  return { limits, blocked, spool, partRange, findings: [], entries: 0, declared: 0, inflated: 0, archives: 0, stopped: false, tooDeepReported: false };
}

const last = (path: readonly string[]) => path[path.length - 1] ?? '';

function bomb(inspection: ArchiveInspection, path: string[], reason: BombReason, detail: string): void {
  inspection.findings.push({ kind: 'bomb', partRange: inspection.partRange, name: last(path), path, reason, detail });
  inspection.stopped = true;
}

function unreadable(inspection: ArchiveInspection, path: string[], format: ArchiveFormat | undefined, reason: 'malformed' | 'unsupported-method' | 'names-not-inspected' | 'too-large', detail: string): void {
  inspection.findings.push({ kind: 'unreadable-archive', partRange: inspection.partRange, name: last(path), path, format, reason, detail });
}

/** Reports the first refused name among an entry's names; true if one was refused. */
function checkNames(inspection: ArchiveInspection, path: string[], names: readonly string[]): boolean {
  for (const name of names) {
    const verdict = classifyFileName(name, inspection.blocked);
    if (!verdict) continue;
    inspection.findings.push({ kind: 'blocked', partRange: inspection.partRange, name, path: [...path, name], reason: 'in-archive', extension: verdict.extension });
    return true;
  }
  return false;
}

function encryptedFinding(inspection: ArchiveInspection, path: string[], format: ArchiveFormat, namesReadable: boolean, names: readonly string[]): void {
  const blockedNames = names.filter((name) => classifyFileName(name, inspection.blocked) !== undefined);
  inspection.findings.push({ kind: 'encrypted', partRange: inspection.partRange, name: last(path), path, format, namesReadable, blockedNames });
}

/**
 * Opens a nested archive: counts it, checks the depth, spools its content (from
 * `produce`, which writes to the collector and reports how it went) and inspects it.
 */
async function inspectNested(
  inspection: ArchiveInspection,
  path: string[],
  depth: number,
  collector: BodyCollector,
  format: ArchiveFormat,
): Promise<void> {
  const spool = collector.spool;
  if (!spool) return;
  let body: SpooledBody | undefined;
  try {
    body = await spool.finish();
    if (body.truncated) {
      unreadable(inspection, path, format, 'too-large', `more than ${inspection.spool.maxSize} octets`);
      return;
    }
    await inspectArchiveAt(inspection, body, format, path, depth);
  } finally {
    await (body ? body.dispose() : spool.discard());
  }
}

/** Whether a nested archive may be opened at `depth`; reports why not. */
function mayOpen(inspection: ArchiveInspection, path: string[], depth: number): boolean {
  if (depth > inspection.limits.maxArchiveDepth) {
    if (inspection.tooDeepReported) return false;
    inspection.tooDeepReported = true;
    inspection.findings.push({ kind: 'too-deep', partRange: inspection.partRange, name: last(path), path, limit: 'archive', depth });
    return false;
  }
  if (++inspection.archives > inspection.limits.maxNestedArchives) {
    bomb(inspection, path, 'archive-count', `more than ${inspection.limits.maxNestedArchives} nested archives`);
    return false;
  }
  return true;
}

/** The octets left to inflate before the expanded-size bound, or the spool's, whichever is less. */
function inflateLimit(inspection: ArchiveInspection): { limit: number; bound: 'expanded' | 'spool' } {
  const expanded = inspection.limits.maxExpandedSize - inspection.inflated;
  return expanded <= inspection.spool.maxSize ? { limit: expanded, bound: 'expanded' } : { limit: inspection.spool.maxSize, bound: 'spool' };
}

async function inspectZip(inspection: ArchiveInspection, source: RandomAccess, path: string[], depth: number): Promise<ArchiveSummary> {
  const { limits } = inspection;
  const summary: ArchiveSummary = { format: 'zip', entries: 0, encrypted: false, office: false };
  const directory = await readZipDirectory(source, { maxEntries: limits.maxEntries - inspection.entries });
  if (!directory.ok) {
    if (directory.reason === 'too-many-entries') bomb(inspection, path, 'entry-count', `more than ${limits.maxEntries} entries in all`);
    else unreadable(inspection, path, 'zip', 'malformed', directory.detail);
    return summary;
  }
  const { entries } = directory;
  inspection.entries += entries.length;
  summary.entries = entries.length;
  const entryNames = new Set(entries.flatMap((entry) => entry.names.map((name) => name.toLowerCase())));
  const archiveName = last(path);
  // An attachment named like a document and built like one; a `.zip` with [Content_Types].xml is still a zip.
  if ((entryNames.has('[content_types].xml') || entryNames.has('mimetype')) && archiveName !== '' && isOfficeName(archiveName)) {
    summary.office = true;
    return summary;
  }
  for (const entry of entries) {
    inspection.declared += entry.uncompressedSize;
    if (entry.uncompressedSize >= limits.ratioMinSize && (entry.compressedSize === 0 || entry.uncompressedSize / entry.compressedSize > limits.maxRatio)) {
      bomb(inspection, [...path, entry.names[0] ?? ''], 'ratio', `${entry.uncompressedSize} octets from ${entry.compressedSize}`);
      return summary;
    }
  }
  if (inspection.declared > limits.maxExpandedSize) {
    bomb(inspection, path, 'expanded-size', `${inspection.declared} octets declared`);
    return summary;
  }
  const overlap = overlappingEntries(entries, source.size);
  if (overlap) {
    bomb(inspection, path, 'overlapping-entries', overlap);
    return summary;
  }
  const encrypted: string[] = [];
  for (const entry of entries) {
    if (inspection.stopped) break;
    if (entry.directory) continue;
    if (entry.encrypted) {
      encrypted.push(...entry.names);
      continue;
    }
    if (checkNames(inspection, path, entry.names)) continue;
    const head = await sniffZipEntry(source, entry);
    const format = (head && sniffArchive(head)) ?? entry.names.map(archiveFormatOfName).find((f) => f !== undefined);
    if (!format) continue;
    const nestedPath = [...path, entry.names[0] ?? ''];
    if (!mayOpen(inspection, nestedPath, depth + 1)) continue;
    const collector = new BodyCollector(true, inspection.spool);
    const { limit, bound } = inflateLimit(inspection);
    const result = await readZipEntry(source, entry, limit, (piece) => {
      collector.write(piece);
      return collector.spool?.drain();
    });
    if (result.ok) inspection.inflated += result.size;
    if (!result.ok) {
      await collector.spool?.discard();
      if (result.reason === 'exceeds-declared') bomb(inspection, nestedPath, 'inflated-beyond-declared', result.detail);
      else if (result.reason === 'exceeds-limit' && bound === 'expanded') bomb(inspection, nestedPath, 'expanded-size', result.detail);
      else if (result.reason === 'exceeds-limit') unreadable(inspection, nestedPath, format, 'too-large', result.detail);
      else unreadable(inspection, nestedPath, format, result.reason === 'unsupported-method' ? 'unsupported-method' : 'malformed', result.detail);
      continue;
    }
    collector.end();
    await inspectNested(inspection, nestedPath, depth + 1, collector, format);
  }
  if (encrypted.length > 0) {
    summary.encrypted = true;
    encryptedFinding(inspection, path, 'zip', true, encrypted);
  }
  return summary;
}

/**
 * Why entries share compressed data (each entry's data must end before the next
 * local header starts), or undefined. The local header's own name is at least the
 * central directory's, so this never flags a well-formed file.
 */
function overlappingEntries(entries: readonly ZipEntry[], size: number): string | undefined {
  const placed = entries.filter((e) => e.localHeaderOffset < size).sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 0; i + 1 < placed.length; i++) {
    const entry = placed[i]!;
    const dataEnd = entry.localHeaderOffset + 30 + entry.nameLength + entry.compressedSize;
    if (placed[i + 1]!.localHeaderOffset < dataEnd) {
      return `the entry at ${placed[i + 1]!.localHeaderOffset} starts inside the data of the one at ${entry.localHeaderOffset}`;
    }
  }
  return undefined;
}

async function inspectTar(inspection: ArchiveInspection, source: RandomAccess, path: string[], depth: number): Promise<ArchiveSummary> {
  const summary: ArchiveSummary = { format: 'tar', entries: 0, encrypted: false, office: false };
  const done: { collector: BodyCollector; name: string }[] = [];
  let current: { collector: BodyCollector; name: string } | undefined;
  const finishCurrent = () => {
    if (current) {
      current.collector.end();
      if (current.collector.spool) done.push(current);
      current = undefined;
    }
  };
  const reader = new TarReader(
    (entry) => {
      finishCurrent();
      summary.entries++;
      inspection.entries++;
      if (entry.type !== '0' && entry.type !== '7') return undefined;
      if (checkNames(inspection, path, [entry.name])) return undefined;
      if (entry.size === 0 || inspection.stopped) return undefined;
      current = { collector: new BodyCollector(archiveFormatOfName(entry.name) !== undefined, inspection.spool), name: entry.name };
      const collector = current.collector;
      return (piece) => collector.write(piece);
    },
    { maxEntries: inspection.limits.maxEntries - inspection.entries },
  );
  const openDone = async () => {
    while (done.length > 0 && !inspection.stopped) {
      const { collector, name } = done.shift()!;
      const format = sniffArchive(collector.head) ?? archiveFormatOfName(name);
      const nestedPath = [...path, name];
      if (!format || !mayOpen(inspection, nestedPath, depth + 1)) {
        await collector.spool?.discard();
        continue;
      }
      await inspectNested(inspection, nestedPath, depth + 1, collector, format);
    }
    for (const { collector } of done.splice(0)) await collector.spool?.discard();
  };
  try {
    for await (const piece of readPieces(source)) {
      reader.write(piece);
      await current?.collector.spool?.drain();
      await openDone();
      if (reader.result || inspection.stopped) break;
    }
    const result = reader.end();
    finishCurrent();
    await openDone();
    if (!result.ok) {
      if (result.reason === 'too-many-entries') bomb(inspection, path, 'entry-count', result.detail);
      else unreadable(inspection, path, 'tar', 'malformed', result.detail);
    }
  } finally {
    await current?.collector.spool?.discard();
  }
  return summary;
}

/** A compressed file's inner name: its own (gzip FNAME), else the outer name without the suffix. */
function innerName(outer: string, suffixes: readonly [RegExp, string][]): string {
  for (const [suffix, replacement] of suffixes) if (suffix.test(outer)) return outer.replace(suffix, replacement);
  return outer;
}

const GZIP_SUFFIXES: readonly [RegExp, string][] = [[/\.tgz$/iu, '.tar'], [/\.gz(?:ip)?$/iu, '']];
const BZIP2_SUFFIXES: readonly [RegExp, string][] = [[/\.tbz2?$/iu, '.tar'], [/\.bz2$/iu, '']];
const XZ_SUFFIXES: readonly [RegExp, string][] = [[/\.txz$/iu, '.tar'], [/\.xz$/iu, '']];

async function inspectGzip(inspection: ArchiveInspection, source: RandomAccess, path: string[], depth: number): Promise<ArchiveSummary> {
  const { limits } = inspection;
  const summary: ArchiveSummary = { format: 'gzip', entries: 1, encrypted: false, office: false };
  inspection.entries++;
  const head = await source.read(0, Math.min(source.size, 4096));
  const names = [...new Set([gzipFileName(head), innerName(last(path), GZIP_SUFFIXES)].filter((n): n is string => n !== undefined && n !== ''))];
  if (checkNames(inspection, path, names)) return summary;
  // RFC 1952 §2.3.1 ISIZE: the size modulo 2^32. Content that is not an archive is not
  // inflated past its first octets, so this is the only bound a plain .gz meets.
  const isize = source.size >= 18 ? (await source.read(source.size - 4, 4)).readUInt32LE(0) : 0;
  if (isize >= limits.ratioMinSize && isize / source.size > limits.maxRatio) {
    bomb(inspection, [...path, names[0] ?? ''], 'ratio', `${isize} octets declared from ${source.size}`);
    return summary;
  }
  const collector = new BodyCollector(names.some((name) => archiveFormatOfName(name) !== undefined), inspection.spool);
  const ratioLimit = Math.max(limits.ratioMinSize, source.size * limits.maxRatio);
  const { limit, bound } = inflateLimit(inspection);
  const result = await gunzip(source, Math.min(limit, ratioLimit), (piece) => {
    collector.write(piece);
    if (!collector.wanted) throw new EnoughSeen();
    return collector.spool?.drain();
  }).catch((error: unknown) => {
    if (error instanceof EnoughSeen) return { ok: true as const, size: collector.size };
    throw error;
  });
  const nestedPath = [...path, names[0] ?? ''];
  if (!result.ok) {
    await collector.spool?.discard();
    if (result.reason === 'malformed') unreadable(inspection, path, 'gzip', 'malformed', result.detail);
    else if (ratioLimit <= limit) bomb(inspection, nestedPath, 'ratio', `more than ${ratioLimit} octets from ${source.size}`);
    else if (bound === 'expanded') bomb(inspection, nestedPath, 'expanded-size', result.detail);
    else unreadable(inspection, path, 'gzip', 'too-large', result.detail);
    return summary;
  }
  inspection.inflated += result.size;
  collector.end();
  const format = sniffArchive(collector.head.subarray(0, SNIFF_LENGTH)) ?? names.map(archiveFormatOfName).find((f) => f !== undefined);
  if (!collector.spool || !format || !mayOpen(inspection, nestedPath, depth + 1)) {
    await collector.spool?.discard();
    return summary;
  }
  await inspectNested(inspection, nestedPath, depth + 1, collector, format);
  return summary;
}

/** Thrown into gunzip's sink once the content is known not to be an archive. */
class EnoughSeen extends Error {}

async function inspectListing(inspection: ArchiveInspection, listing: ArchiveListing, format: '7z' | 'rar', path: string[]): Promise<ArchiveSummary> {
  const summary: ArchiveSummary = { format, entries: 0, encrypted: false, office: false };
  if (!listing.ok) {
    if (listing.reason === 'too-many-entries') bomb(inspection, path, 'entry-count', listing.detail);
    else unreadable(inspection, path, format, 'malformed', listing.detail);
    return summary;
  }
  summary.entries = listing.entries.length;
  summary.encrypted = listing.encrypted;
  inspection.entries += listing.entries.length;
  if (listing.namesHidden === 'encrypted') {
    encryptedFinding(inspection, path, format, false, []);
    return summary;
  }
  if (listing.namesHidden === 'compressed') {
    unreadable(inspection, path, format, 'names-not-inspected', 'the header is packed (LZMA), which is not decoded here');
    return summary;
  }
  const encrypted: string[] = [];
  for (const entry of listing.entries) {
    if (entry.directory) continue;
    if (entry.encrypted) encrypted.push(entry.name);
    else checkNames(inspection, path, [entry.name]);
  }
  if (listing.encrypted) encryptedFinding(inspection, path, format, true, encrypted);
  return summary;
}

async function inspectArchiveAt(inspection: ArchiveInspection, source: RandomAccess, format: ArchiveFormat, path: string[], depth: number): Promise<ArchiveSummary> {
  const maxEntries = inspection.limits.maxEntries - inspection.entries;
  switch (format) {
    case 'zip':
      return inspectZip(inspection, source, path, depth);
    case 'tar':
      return inspectTar(inspection, source, path, depth);
    case 'gzip':
      return inspectGzip(inspection, source, path, depth);
    case '7z':
      return inspectListing(inspection, await listSevenZip(source, { maxEntries }), '7z', path);
    case 'rar':
      return inspectListing(inspection, await listRar(source, { maxEntries }), 'rar', path);
    case 'bzip2':
    case 'xz': {
      // No decoder for these in node:zlib: the inner name is all that can be judged.
      const inner = innerName(last(path), format === 'xz' ? XZ_SUFFIXES : BZIP2_SUFFIXES);
      if (inner === last(path) || !checkNames(inspection, path, [inner])) {
        unreadable(inspection, path, format, 'names-not-inspected', `${format} content is not decompressed here`);
      }
      return { format, entries: 1, encrypted: false, office: false };
    }
  }
}

/**
 * Inspects an attachment that is an archive (`path` is [its name]); findings go to
 * `inspection.findings`. Throws only what reading the source or the scratch directory throws.
 */
export async function inspectArchive(inspection: ArchiveInspection, source: RandomAccess, format: ArchiveFormat, path: string[]): Promise<ArchiveSummary> {
  return inspectArchiveAt(inspection, source, format, path, 1);
}
