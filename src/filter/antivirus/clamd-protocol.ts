// clamd's socket protocol, as clamd(8) documents it ("COMMANDS"):
//   - a command prefixed with "z" ends with a NUL octet, and so does each reply;
//   - INSTREAM: after the command, the data as chunks, each a 4-octet unsigned length in
//     network byte order followed by that many octets; a zero length ends the stream;
//     the reply is "stream: OK", "stream: <signature> FOUND", or "<text> ERROR"
//     ("INSTREAM size limit exceeded. ERROR" when the stream is longer than clamd's
//     StreamMaxLength);
//   - IDSESSION … END: several commands on one connection, each reply prefixed with
//     "<n>: ", n counting the session's commands from 1.

export const COMMAND = {
  idSession: Buffer.from('zIDSESSION\0'),
  end: Buffer.from('zEND\0'),
  instream: Buffer.from('zINSTREAM\0'),
  version: Buffer.from('zVERSION\0'),
  ping: Buffer.from('zPING\0'),
} as const;

/** The zero-length chunk that ends an INSTREAM. */
export const END_OF_STREAM = Buffer.alloc(4);

/** clamd reads a chunk into memory whole; 64 KiB keeps each read small. */
export const MAX_CHUNK = 64 * 1024;

/** The 4-octet length that goes before a chunk of `length` octets. */
export function chunkLength(length: number): Buffer {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(length, 0);
  return header;
}

export type ScanReply =
  | { kind: 'clean' }
  | { kind: 'found'; signature: string }
  | { kind: 'size-limit' }
  | { kind: 'error'; message: string };

/** The longest signature name kept; clamd's own names are far shorter. */
const MAX_SIGNATURE = 128;

/**
 * A signature name made safe to put in an SMTP reply and a log line: printable ASCII
 * only (RFC 5321 §4.2: reply text is printable US-ASCII), bounded in length.
 */
export function safeSignature(name: string): string {
  const printable = name.replace(/[^\x21-\x7e]+/g, '_');
  return (printable.length > MAX_SIGNATURE ? `${printable.slice(0, MAX_SIGNATURE)}…` : printable) || 'unnamed';
}

/** The reply to an INSTREAM, its session id (if any) already removed. */
export function parseScanReply(reply: string): ScanReply {
  const text = reply.trim();
  if (text === 'stream: OK') return { kind: 'clean' };
  const found = /^stream: (.+) FOUND$/s.exec(text);
  if (found) return { kind: 'found', signature: safeSignature(found[1]!) };
  if (/size limit exceeded/i.test(text)) return { kind: 'size-limit' };
  return { kind: 'error', message: text.slice(0, 200) || 'empty reply' };
}

/** Splits "<n>: reply" (IDSESSION); undefined when the prefix is missing. */
export function sessionReply(reply: string): { id: number; text: string } | undefined {
  const match = /^(\d{1,9}): ([\s\S]*)$/.exec(reply);
  return match ? { id: Number(match[1]), text: match[2]! } : undefined;
}
