// Throughput of the DATA reader (src/smtp/data-reader.ts), the pure incremental
// parser every message on port 25, 587 and 465 goes through: a 10 KB message with a
// Received header and dot-stuffed lines, parsed ROUNDS times whole and in 1460-byte
// segments (one TCP segment each, as a socket delivers them). Prints MB/s and
// messages/s; no peer, no assertion — compare figures from the same run.
//
// Usage: node bench/data-reader.ts [--rounds 20000]
import { parseArgs } from 'node:util';
import { DataReader, type DataLimits } from '../src/smtp/data-reader.ts';

export const BENCH_LIMITS: DataLimits = { maxMessageBytes: 10_000_000, maxHeaderBytes: 100_000, maxHeaderFields: 1000 };

/** The message as the sender wrote it, and on the wire: dot-stuffed, with the terminator, whole and in segments. */
export function tenKilobyteMessage(): { message: string; wire: Buffer; segments: Buffer[] } {
  let message = 'Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n\tby mail.example.com; Mon, 1 Jan 2024 00:00:00 +0000\r\n';
  message += 'From: Alice <alice@example.org>\r\nTo: Bob <bob@example.com>\r\nSubject: a message of about ten kilobytes\r\n';
  message += 'Message-ID: <1234567890@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMIME-Version: 1.0\r\n';
  message += 'Content-Type: text/plain; charset=utf-8\r\n\r\n';
  let wireText = message;
  for (let line = 0; message.length < 10_000; line++) {
    const text = ((line % 25 === 0 ? '.' : '') + 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod ' + line).slice(0, 76);
    message += `${text}\r\n`;
    // RFC 5321 §4.5.2: the sender doubles a leading dot.
    wireText += `${text.startsWith('.') ? '.' : ''}${text}\r\n`;
  }
  const wire = Buffer.from(`${wireText}.\r\n`, 'latin1');
  const segments: Buffer[] = [];
  for (let at = 0; at < wire.length; at += 1460) segments.push(wire.subarray(at, at + 1460));
  return { message, wire, segments };
}

/** What the reader hands on for these chunks (the content), and whether it saw the end. */
export function readAll(chunks: readonly Buffer[], limits: DataLimits = BENCH_LIMITS): { content: string; done: boolean } {
  const reader = new DataReader(limits);
  const content: Buffer[] = [];
  let done = false;
  for (const chunk of chunks) {
    const result = reader.push(chunk);
    content.push(...result.content);
    if (result.done) done = true;
  }
  return { content: Buffer.concat(content).toString('latin1'), done };
}

function main(): void {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20000' } } });
  const rounds = Number(values.rounds);
  const { message, wire, segments } = tenKilobyteMessage();
  for (const [label, chunks] of [['one chunk', [wire]], ['1460-byte segments', segments]] as const) {
    // Timing a reader that parses wrongly would mean nothing.
    const parsed = readAll(chunks);
    if (!parsed.done || parsed.content !== message) throw new Error(`${label}: the reader does not give back the message`);
    const started = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) {
      const reader = new DataReader(BENCH_LIMITS);
      for (const chunk of chunks) reader.push(chunk);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const mbPerSecond = (wire.length * rounds) / seconds / 1e6;
    console.log(`${label}: ${mbPerSecond.toFixed(0)} MB/s, ${(rounds / seconds).toFixed(0)} messages/s of ${wire.length} bytes (${rounds} rounds, ${seconds.toFixed(2)} s)`);
  }
}

if (import.meta.main) main();
