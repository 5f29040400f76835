// Small input/output helpers shared by the subcommands.

/** Reads standard input to its end and returns its first line, without the line end. */
export async function readFirstLineOfStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const end = text.search(/\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}

let stdoutWatched = false;

/**
 * A line on stdout. When the reader has gone (`kakitome quarantine show ID | head`), the
 * command stops quietly, as Unix tools do, instead of dying on EPIPE with a stack
 * trace; what it did before (a release, a delete) is done and durable either way.
 * Only the commands print this way: `serve` logs through its own logger.
 */
export function print(line = ''): void {
  if (!stdoutWatched) {
    stdoutWatched = true;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  process.stdout.write(`${line}\n`);
}

/** Prints rows as left-aligned columns separated by two spaces. */
export function printTable(rows: string[][]): void {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  for (const row of rows) print(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Text from the network or a user, safe for a terminal: no control characters but TAB (folded header lines). */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, '?');
}

/** A message's header section (CRLF lines, ending with the blank line), indented, made printable. */
export function printHeader(header: Buffer): void {
  for (const line of header.toString('utf8').split('\r\n').slice(0, -1)) print(`  ${printable(line)}`);
}
