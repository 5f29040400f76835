// Attachment inspection on bytes from a message (src/filter/attachments/): the
// streaming MIME walker with its transfer decoders and spool, the zip reader, and the
// tar, gzip, 7z and RAR readers. None of them throws on malformed input: every check
// below fails on any exception (OutOfBoundsRead included: a reader read past its
// source), on a range outside the input or out of order, or on a scratch file left behind.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { walkMime, type MimePart } from '../../src/filter/attachments/mime-walk.ts';
import { inspectAttachments } from '../../src/filter/attachments/inspect.ts';
import { inspectArchive, newInspection, type ArchiveLimits } from '../../src/filter/attachments/archives.ts';
import { DEFAULT_BLOCKED_EXTENSIONS } from '../../src/filter/attachments/extensions.ts';
import { readZipDirectory, readZipEntry } from '../../src/filter/attachments/zip.ts';
import { TarReader } from '../../src/filter/attachments/tar.ts';
import { gzipFileName } from '../../src/filter/attachments/gzip.ts';
import { listSevenZip } from '../../src/filter/attachments/sevenzip.ts';
import { listRar } from '../../src/filter/attachments/rar.ts';
import { bufferSource } from '../../src/filter/attachments/source.ts';
import type { ArchiveFormat } from '../../src/filter/attachments/archive-kind.ts';
import type { AttachmentReport } from '../../src/filter/attachments/report.ts';
import { corpusInputs } from '../lib/inputs.ts';
import { invariant, type FuzzTarget } from '../lib/target.ts';

let scratch: string | undefined;
const scratchDir = () => (scratch ??= mkdtempSync(join(tmpdir(), 'kakitome-fuzz-attachments-')));
const setup = async () => void scratchDir();
const teardown = async () => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
};

/** Small limits, so that every input reaches them quickly and a scratch file is used often. */
const SPOOL = () => ({ memoryLimit: 4096, maxSize: 256 * 1024, scratchDir: scratchDir() });
const LIMITS: ArchiveLimits = { maxArchiveDepth: 3, maxEntries: 200, maxRatio: 100, ratioMinSize: 64 * 1024, maxExpandedSize: 1024 * 1024, maxNestedArchives: 8 };

function checkReport(report: AttachmentReport, size: number): void {
  for (const finding of report.findings) {
    invariant(finding.partRange.start >= 0 && finding.partRange.start <= finding.partRange.end && finding.partRange.end <= size, 'a finding\'s range lies outside the input');
    invariant(finding.kind !== 'blocked' || finding.path[finding.path.length - 1] === finding.name, 'a blocked finding\'s path does not end with its name');
  }
}

function checkScratchEmpty(): void {
  invariant(readdirSync(scratchDir()).length === 0, 'a scratch file was left behind');
}

function describePart(part: MimePart): string {
  return JSON.stringify([part.structure, part.number, part.range, part.bodyStart, part.mediaType, part.names, part.tooDeep, part.archive, part.decodedSize, part.body?.size]);
}

const MIME_TOKENS = [
  '\r\n', '\n', '\r\n\r\n', '--', '--b', '--b--', 'Content-Type: ', 'multipart/mixed; boundary=b', 'multipart/digest; boundary=b', 'message/rfc822',
  'Content-Transfer-Encoding: ', 'base64', 'quoted-printable', 'Content-Disposition: attachment; ', 'filename=', 'filename*=utf-8\'\'', 'filename*0*=',
  'filename*1=', 'name="', '=?utf-8?B?', '=?iso-8859-1?Q?', '?=', '=3D', '=\r\n', 'UEsDBA', 'PK\u0003\u0004', '.zip', '.exe', '"', ';', '%2E', '\u202e',
];

const attachmentMime: FuzzTarget = {
  name: 'attachment-mime',
  about: 'MIME structure of incoming messages: boundaries, nesting, header parameters (RFC 2231/2047), transfer decoding, attachment names',
  ...corpusInputs('attachment-mime', MIME_TOKENS, 65_536),
  setup,
  teardown,
  async check(input) {
    let previousLeafEnd = 0;
    const seen: string[] = [];
    for await (const event of walkMime(input, { maxDepth: 8, spool: SPOOL() })) {
      if (event.kind === 'problem') {
        invariant(event.offset >= 0 && event.offset <= input.length, 'a problem offset outside the input');
        continue;
      }
      const { range, bodyStart } = event;
      invariant(range.start >= 0 && range.start <= bodyStart && bodyStart <= range.end && range.end <= input.length, `part range [${range.start}, ${bodyStart}, ${range.end}) outside the input`);
      if (event.structure === 'leaf') {
        invariant(range.start >= previousLeafEnd, 'leaf parts overlap or come out of order');
        previousLeafEnd = range.end;
      }
      if (event.body) {
        invariant(event.body.size <= 256 * 1024, 'a body larger than the spool allows');
        if (event.body.size > 0) await event.body.read(0, event.body.size);
      }
      seen.push(describePart(event));
    }
    // The same parts when the input comes in pieces (CR and LF may fall apart).
    const cut = Math.max(1, input.length >> 1);
    let i = 0;
    for await (const event of walkMime([input.subarray(0, cut - 1), input.subarray(cut - 1, cut), input.subarray(cut)], { maxDepth: 8, spool: SPOOL() })) {
      if (event.kind === 'part') invariant(describePart(event) === seen[i++], 'the parts depend on how the input was split');
    }
    invariant(i === seen.length, 'the parts depend on how the input was split');
    checkScratchEmpty();
    checkReport(await inspectAttachments(input, { scratchDir: scratchDir(), memoryLimit: 4096, maxSpoolSize: 256 * 1024, maxMimeDepth: 8, ...LIMITS }), input.length);
    checkScratchEmpty();
  },
};

const ZIP_TOKENS = ['PK\u0003\u0004', 'PK\u0001\u0002', 'PK\u0005\u0006', 'PK\u0006\u0006', 'PK\u0006\u0007', '\u00ff\u00ff\u00ff\u00ff', '\u0001\u0000', 'up', '\u0001\u0099', '.zip', '.exe', '[Content_Types].xml', '\u0000\u0000\u0000\u0000'];

const attachmentZip: FuzzTarget = {
  name: 'attachment-zip',
  about: 'zip archives in attachments: end records, ZIP64, central directory, local headers, inflation, nesting, bomb bounds',
  ...corpusInputs('attachment-zip', ZIP_TOKENS, 65_536),
  setup,
  teardown,
  async check(input) {
    const source = bufferSource(input);
    const directory = await readZipDirectory(source, { maxEntries: 200 });
    if (directory.ok) {
      invariant(directory.entries.length <= 200, 'more entries than the limit');
      for (const entry of directory.entries.slice(0, 20)) {
        invariant(Number.isSafeInteger(entry.localHeaderOffset) && entry.localHeaderOffset >= 0, 'a bad local header offset');
        let produced = 0;
        const result = await readZipEntry(source, entry, 64 * 1024, (piece) => void (produced += piece.length));
        if (result.ok) invariant(result.size === produced && produced <= 64 * 1024 && produced <= entry.uncompressedSize, 'an entry read past its bounds');
      }
    }
    const inspection = newInspection(LIMITS, DEFAULT_BLOCKED_EXTENSIONS, SPOOL(), { start: 0, end: input.length });
    await inspectArchive(inspection, source, 'zip', ['fuzz.zip']);
    checkScratchEmpty();
  },
};

const ARCHIVE_TOKENS = ['ustar\u000000', 'ustar  \u0000', '0000644\u0000', '././@LongLink', '\u001f\u008b\u0008', '7z\u00bc\u00af\u0027\u001c', 'Rar!\u001a\u0007\u0000', 'Rar!\u001a\u0007\u0001\u0000', '\u0006\u00f1\u0007\u0001', '\u0017', '\u0011', '.exe', '\u0000'];
const FORMATS: readonly ArchiveFormat[] = ['tar', 'gzip', '7z', 'rar', 'xz'];

const attachmentArchives: FuzzTarget = {
  name: 'attachment-archives',
  about: 'tar, gzip, 7z and RAR archives in attachments: headers, names, encryption flags',
  ...corpusInputs('attachment-archives', ARCHIVE_TOKENS, 65_536),
  setup,
  teardown,
  async check(input) {
    const source = bufferSource(input);
    let names = 0;
    const tar = new TarReader(() => void names++, { maxEntries: 200 });
    tar.write(input.subarray(0, 700));
    tar.write(input.subarray(700));
    const result = tar.end();
    invariant(!result.ok || result.entries === names, 'tar counted entries it did not report');
    gzipFileName(input);
    for (const listing of [await listSevenZip(source, { maxEntries: 200 }), await listRar(source, { maxEntries: 200 })]) {
      if (listing.ok) invariant(listing.entries.length <= 200, 'more entries than the limit');
    }
    for (const format of FORMATS) {
      const inspection = newInspection(LIMITS, DEFAULT_BLOCKED_EXTENSIONS, SPOOL(), { start: 0, end: input.length });
      await inspectArchive(inspection, source, format, [`fuzz.${format}`]);
    }
    checkScratchEmpty();
  },
};

export const ATTACHMENT_TARGETS: readonly FuzzTarget[] = [attachmentMime, attachmentZip, attachmentArchives];
