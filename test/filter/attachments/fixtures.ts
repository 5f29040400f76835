// Fixtures for the attachment tests: zip files from the Debian `zip` and `tar`
// commands (real writers) and from a hand builder (for what no writer makes on
// purpose: ZIP64 records, lying sizes, shared data, Unicode Path fields), MIME messages,
// and an inspection that checks its scratch directory is left empty.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { inspectAttachments, type AttachmentOptions, type AttachmentReport } from '../../../src/filter/attachments/index.ts';

/** A temporary directory removed after the test. */
export function tempDir(t: TestContext, prefix = 'kakitome-attachments-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Files written under a fresh directory, then `command args…` run there; returns the named output file. */
export function runTool(t: TestContext, files: Record<string, Buffer | string>, command: string, args: string[], output: string): Buffer {
  const dir = tempDir(t, 'kakitome-fixture-');
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
  execFileSync(command, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  return readFileSync(join(dir, output));
}

/** A zip made by Info-ZIP's `zip` of the given files (extra args, e.g. ['-P', 'secret']). */
export function zipCli(t: TestContext, files: Record<string, Buffer | string>, args: string[] = []): Buffer {
  return runTool(t, files, 'zip', ['-q', '-X', ...args, 'out.zip', ...Object.keys(files)], 'out.zip');
}

export interface ZipSpec {
  name: string;
  data?: Buffer;
  /** 0 stored, 8 deflate (default), or any other number written as is. */
  method?: number;
  flags?: number;
  /** Written as the uncompressed size instead of the real one. */
  declaredSize?: number;
  /** Written as the data instead of compressing `data`. */
  compressed?: Buffer;
  /** The name's octets, when not the UTF-8 of `name`. */
  nameBytes?: Buffer;
  /** Central directory extra field. */
  extra?: Buffer;
  /** The central entry points at this earlier entry's local header (data shared). */
  sameDataAs?: number;
}

export interface ZipBuildOptions {
  zip64?: boolean;
  prefix?: Buffer;
  comment?: Buffer;
  /** Entry count written in the end record instead of the real one. */
  declaredCount?: number;
}

/** A zip file built field by field (APPNOTE.TXT §4.3). */
export function buildZip(specs: readonly ZipSpec[], options: ZipBuildOptions = {}): Buffer {
  const prefix = options.prefix ?? Buffer.alloc(0);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const offsets: number[] = [];
  let offset = prefix.length;
  for (const spec of specs) {
    const data = spec.data ?? Buffer.alloc(0);
    const method = spec.method ?? 8;
    const compressed = spec.compressed ?? (method === 8 ? deflateRawSync(data) : data);
    const name = spec.nameBytes ?? Buffer.from(spec.name, 'utf8');
    const flags = spec.flags ?? 0;
    const size = spec.declaredSize ?? data.length;
    const crc = spec.compressed ? 0 : crc32(data);
    let localOffset = offset;
    if (spec.sameDataAs === undefined) {
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt16LE(flags, 6);
      local.writeUInt16LE(method, 8);
      local.writeUInt16LE(0x21, 12);
      local.writeUInt32LE(crc, 14);
      local.writeUInt32LE(Math.min(compressed.length, 0xffffffff), 18);
      local.writeUInt32LE(Math.min(size, 0xffffffff), 22);
      local.writeUInt16LE(name.length, 26);
      const block = Buffer.concat([local, name, compressed]);
      locals.push(block);
      offsets.push(offset);
      offset += block.length;
    } else {
      localOffset = offsets[spec.sameDataAs]!;
      offsets.push(localOffset);
    }
    let extra = spec.extra ?? Buffer.alloc(0);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x031e, 4);
    central.writeUInt16LE(options.zip64 ? 45 : 20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    if (options.zip64) {
      central.writeUInt32LE(0xffffffff, 20);
      central.writeUInt32LE(0xffffffff, 24);
      central.writeUInt32LE(0xffffffff, 42);
      const z = Buffer.alloc(28);
      z.writeUInt16LE(0x0001, 0);
      z.writeUInt16LE(24, 2);
      z.writeBigUInt64LE(BigInt(size), 4);
      z.writeBigUInt64LE(BigInt(compressed.length), 12);
      z.writeBigUInt64LE(BigInt(localOffset), 20);
      extra = Buffer.concat([z, extra]);
    } else {
      central.writeUInt32LE(compressed.length, 20);
      central.writeUInt32LE(Math.min(size, 0xffffffff), 24);
      central.writeUInt32LE(localOffset, 42);
    }
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    centrals.push(Buffer.concat([central, name, extra]));
  }
  const cd = Buffer.concat(centrals);
  const cdOffset = offset;
  const count = options.declaredCount ?? specs.length;
  const comment = options.comment ?? Buffer.alloc(0);
  const tail: Buffer[] = [];
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  if (options.zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE(45, 12);
    record.writeUInt16LE(45, 14);
    record.writeBigUInt64LE(BigInt(count), 24);
    record.writeBigUInt64LE(BigInt(count), 32);
    record.writeBigUInt64LE(BigInt(cd.length), 40);
    record.writeBigUInt64LE(BigInt(cdOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(cdOffset + cd.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
    eocd.writeUInt16LE(0xffff, 8);
    eocd.writeUInt16LE(0xffff, 10);
    eocd.writeUInt32LE(0xffffffff, 12);
    eocd.writeUInt32LE(0xffffffff, 16);
  } else {
    eocd.writeUInt16LE(count, 8);
    eocd.writeUInt16LE(count, 10);
    eocd.writeUInt32LE(cd.length, 12);
    eocd.writeUInt32LE(cdOffset - prefix.length, 16);
  }
  eocd.writeUInt16LE(comment.length, 20);
  return Buffer.concat([prefix, ...locals, cd, ...tail, eocd, comment]);
}

/**
 * Raw deflate of `mebibytes` MiB of zeros, made without deflating them: one MiB
 * deflated and full-flushed (RFC 1951 blocks that refer to nothing before them),
 * repeated, then a final empty fixed-Huffman block (0x03 0x00).
 */
export function deflatedZeros(mebibytes: number): Buffer {
  const block = deflateRawSync(Buffer.alloc(1024 * 1024), { finishFlush: constants.Z_FULL_FLUSH });
  return Buffer.concat([...Array<Buffer>(mebibytes).fill(block), Buffer.of(0x03, 0x00)]);
}

export interface PartSpec {
  headers: string[];
  body: string | Buffer;
}

/** An attachment part: base64, with the name in both Content-Type and Content-Disposition unless given. */
export function attachment(name: string, data: Buffer, options: { type?: string; headers?: string[] } = {}): PartSpec {
  return {
    headers: options.headers ?? [
      `Content-Type: ${options.type ?? 'application/octet-stream'}; name="${name}"`,
      'Content-Transfer-Encoding: base64',
      `Content-Disposition: attachment; filename="${name}"`,
    ],
    body: base64Lines(data),
  };
}

export function base64Lines(data: Buffer): string {
  return data.toString('base64').replace(/.{76}(?=.)/g, '$&\r\n');
}

export function entity(part: PartSpec): Buffer {
  return Buffer.concat([Buffer.from(part.headers.map((h) => `${h}\r\n`).join('') + '\r\n'), Buffer.from(part.body)]);
}

/** A multipart/mixed body of the parts (a part's text is its header and body). */
export function multipartBody(parts: readonly (PartSpec | Buffer)[], boundary = 'b0undary'): Buffer {
  const pieces: Buffer[] = [];
  for (const part of parts) pieces.push(Buffer.from(`--${boundary}\r\n`), Buffer.isBuffer(part) ? part : entity(part), Buffer.from('\r\n'));
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(pieces);
}

/** A message: a text part and the given parts, multipart/mixed. */
export function message(parts: readonly (PartSpec | Buffer)[], boundary = 'b0undary'): Buffer {
  const text: PartSpec = { headers: ['Content-Type: text/plain; charset=utf-8'], body: 'See the attachment.' };
  return Buffer.concat([
    Buffer.from(`From: sender@example.test\r\nTo: rcpt@example.test\r\nSubject: files\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n`),
    multipartBody([text, ...parts], boundary),
  ]);
}

/** Inspects `raw` (split into the given pieces) and checks no scratch file was left behind. */
export async function inspectMessage(t: TestContext, raw: Buffer | Buffer[], options: Partial<AttachmentOptions> = {}): Promise<AttachmentReport> {
  const scratchDir = tempDir(t, 'kakitome-scratch-');
  const report = await inspectAttachments(Array.isArray(raw) ? raw : [raw], { scratchDir, ...options });
  assert.deepEqual(readdirSync(scratchDir), [], 'scratch files were left behind');
  return report;
}

/** The findings without their ranges, for comparing. */
export function summary(report: AttachmentReport): Record<string, unknown>[] {
  return report.findings.map(({ partRange: _range, ...rest }) => rest);
}
