// RFC 1939 §3: in a multi-line response, a line that begins with "." gets another "."
// in front, and the response ends with ".\r\n". Stored messages end in CRLF.

const DOT = 0x2e;
const LF = 0x0a;
const CRLF = Buffer.from('\r\n');
const ONE_DOT = Buffer.from('.');

/** The message as it goes on the wire, without the terminating ".\r\n". */
export function dotStuff(message: Buffer): Buffer {
  const pieces = dotStuffedPieces(message);
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

/** The same as slices of the message plus the added dots, for a gathering write (no copy). */
export function dotStuffedPieces(message: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  if (message[0] === DOT) pieces.push(ONE_DOT);
  for (let lf = message.indexOf('\n.'); lf >= 0; lf = message.indexOf('\n.', lf + 1)) {
    pieces.push(message.subarray(start, lf + 1), ONE_DOT);
    start = lf + 1;
  }
  if (pieces.length === 0 && endsWithCrlf(message)) return [message];
  pieces.push(message.subarray(start));
  // A multi-line response's last line must end in CRLF before the terminator.
  if (message.length > 0 && !endsWithCrlf(message)) pieces.push(CRLF);
  return pieces;
}

function endsWithCrlf(message: Buffer): boolean {
  return message.length === 0 || (message[message.length - 1] === LF && message[message.length - 2] === 0x0d);
}

/** RFC 1939 §7 TOP: the header, the blank line, and the first `lines` lines of the body. */
export function topOfMessage(message: Buffer, lines: number): Buffer {
  const blank = message.indexOf('\r\n\r\n');
  if (blank < 0) return message;
  let end = blank + 4;
  for (let i = 0; i < lines && end < message.length; i++) {
    const next = message.indexOf('\r\n', end);
    end = next < 0 ? message.length : next + 2;
  }
  return message.subarray(0, end);
}
