// 7z and RAR archives built octet by octet (no 7z or rar writer is installed): just
// the structures the listing readers look at, per 7zFormat.txt and RARLAB's notes.
import { crc32 } from 'node:zlib';

/** 7z UINT64 for values below 2^14. */
function num(value: number): Buffer {
  if (value < 0x80) return Buffer.of(value);
  if (value < 0x4000) return Buffer.of(0x80 | (value >> 8), value & 0xff);
  throw new RangeError('fixture numbers stay small');
}

const AES_CODER = Buffer.concat([Buffer.of(0x24), Buffer.from('06f10701', 'hex'), num(2), Buffer.of(0xd0, 0x00)]);
const LZMA_CODER = Buffer.concat([Buffer.of(0x23), Buffer.from('030101', 'hex'), num(5), Buffer.from('5d00001000', 'hex')]);

function streamsInfo(coder: Buffer, withSubStreams: boolean): Buffer {
  return Buffer.concat([
    Buffer.of(0x06), num(0), num(1), Buffer.of(0x09), num(16), Buffer.of(0x00), // PackInfo
    Buffer.of(0x07, 0x0b), num(1), Buffer.of(0x00), num(1), coder, Buffer.of(0x0c), num(100), Buffer.of(0x00), // UnpackInfo
    withSubStreams ? Buffer.concat([Buffer.of(0x08, 0x0d), num(2), Buffer.of(0x09), num(40), Buffer.of(0x0a, 0x01), Buffer.alloc(8), Buffer.of(0x00)]) : Buffer.alloc(0),
    Buffer.of(0x00),
  ]);
}

function signature(header: Buffer, packed: Buffer): Buffer {
  const start = Buffer.alloc(32);
  Buffer.from('377abcaf271c0004', 'hex').copy(start);
  start.writeBigUInt64LE(BigInt(packed.length), 12);
  start.writeBigUInt64LE(BigInt(header.length), 20);
  start.writeUInt32LE(crc32(header), 28);
  start.writeUInt32LE(crc32(start.subarray(12, 32)), 8);
  return Buffer.concat([start, packed, header]);
}

/** A 7z with a plain header (7z a -mhc=off) naming the files; `encrypted` puts an AES coder in the folder. */
export function sevenZipPlain(names: readonly string[], encrypted = false): Buffer {
  const nameData = Buffer.concat([Buffer.of(0x00), ...names.map((n) => Buffer.from(`${n}\0`, 'utf16le'))]);
  const header = Buffer.concat([
    Buffer.of(0x01, 0x04),
    streamsInfo(encrypted ? AES_CODER : LZMA_CODER, true),
    Buffer.of(0x05), num(names.length),
    Buffer.of(0x11), num(nameData.length), nameData,
    Buffer.of(0x00, 0x00),
  ]);
  return signature(header, Buffer.alloc(16, 0xaa));
}

/** A 7z whose header is packed: with LZMA (the default) or encrypted (7z a -mhe=on). */
export function sevenZipEncodedHeader(encrypted: boolean): Buffer {
  return signature(Buffer.concat([Buffer.of(0x17), streamsInfo(encrypted ? AES_CODER : LZMA_CODER, false)]), Buffer.alloc(16, 0xbb));
}

function vint(value: number): Buffer {
  const out: number[] = [];
  do {
    out.push((value & 0x7f) | (value >= 0x80 ? 0x80 : 0));
    value = Math.floor(value / 128);
  } while (value > 0);
  return Buffer.from(out);
}

function rar5Block(fields: Buffer, data: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.concat([vint(fields.length), fields]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(header));
  return Buffer.concat([crc, header, data]);
}

export interface RarFile {
  name: string;
  encrypted?: boolean;
  data?: Buffer;
}

/** A RAR 5.0 archive; `headersEncrypted` puts an archive encryption header first (rar -hp). */
export function rar5(files: readonly RarFile[], headersEncrypted = false): Buffer {
  const blocks: Buffer[] = [Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1')];
  if (headersEncrypted) blocks.push(rar5Block(Buffer.concat([vint(4), vint(0), vint(0), vint(1), vint(0x0f), Buffer.alloc(16)])));
  blocks.push(rar5Block(Buffer.concat([vint(1), vint(0), vint(0)])));
  for (const file of files) {
    const data = file.data ?? Buffer.from('packed');
    // File encryption record (type 0x01): version, flags, KDF count, salt, IV.
    const record = Buffer.concat([vint(0x01), vint(0), vint(0), Buffer.of(15), Buffer.alloc(32)]);
    const extra: Buffer = file.encrypted ? Buffer.concat([vint(record.length), record]) : Buffer.alloc(0);
    const name = Buffer.from(file.name, 'utf8');
    const flags = 0x02 | (extra.length > 0 ? 0x01 : 0);
    const fields = Buffer.concat([
      vint(2), vint(flags), extra.length > 0 ? vint(extra.length) : Buffer.alloc(0), vint(data.length),
      vint(0), vint(data.length), vint(0x20), vint(0), vint(0), vint(name.length), name, extra,
    ]);
    blocks.push(rar5Block(fields, data));
  }
  blocks.push(rar5Block(Buffer.concat([vint(5), vint(0), vint(0)])));
  return Buffer.concat(blocks);
}

function rar4Header(type: number, flags: number, body: Buffer): Buffer {
  const header = Buffer.alloc(7);
  header.writeUInt8(type, 2);
  header.writeUInt16LE(flags, 3);
  header.writeUInt16LE(7 + body.length, 5);
  const block = Buffer.concat([header, body]);
  block.writeUInt16LE(crc32(block.subarray(2)) & 0xffff, 0);
  return block;
}

/** A RAR 4.x archive; `headersEncrypted` sets the main header's MHD_PASSWORD flag. */
export function rar4(files: readonly RarFile[], headersEncrypted = false): Buffer {
  const blocks: Buffer[] = [Buffer.from('Rar!\x1a\x07\x00', 'latin1'), rar4Header(0x73, headersEncrypted ? 0x0080 : 0, Buffer.alloc(6))];
  for (const file of files) {
    const data = file.data ?? Buffer.from('packed');
    const name = Buffer.from(file.name, 'latin1');
    const body = Buffer.alloc(25);
    body.writeUInt32LE(data.length, 0); // PACK_SIZE
    body.writeUInt32LE(data.length, 4); // UNP_SIZE
    body.writeUInt8(2, 8); // HOST_OS Windows
    body.writeUInt8(29, 17); // UNP_VER
    body.writeUInt8(0x30, 18); // METHOD store
    body.writeUInt16LE(name.length, 19);
    blocks.push(rar4Header(0x74, 0x8000 | (file.encrypted ? 0x0004 : 0), Buffer.concat([body, name])), data);
  }
  blocks.push(rar4Header(0x7b, 0x4000, Buffer.alloc(0)));
  return Buffer.concat(blocks);
}
