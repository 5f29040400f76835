// Finds the line where a key is written in a TOML text, so that a validation message
// can point at it. smol-toml has already accepted the text by the time this runs, so
// the scanner only follows its structure (table headers, dotted and quoted keys,
// strings, comments, arrays, inline tables) and checks nothing.

/** A key path as the schema reports it (fields.ts): table and key names, and array indices. */
export type KeyPath = readonly (string | number)[];

/**
 * The 1-based line where `path` is defined. An array element on a line of its own
 * gives that line; a path that is not in the text (a missing required key) falls
 * back to its nearest enclosing table or key, and finally to line 1.
 */
export function locateLine(text: string, path: KeyPath): number {
  return lineFinder(text)(path);
}

/** Scans the text once and returns a lookup for many paths. */
export function lineFinder(text: string): (path: KeyPath) => number {
  const lines = indexKeyLines(text);
  return (path) => {
    for (let length = path.length; length > 0; length--) {
      const line = lines.get(pathId(path.slice(0, length)));
      if (line !== undefined) return line;
    }
    return 1;
  };
}

const pathId = (path: KeyPath): string => JSON.stringify(path);

const BARE_KEY = /[A-Za-z0-9_-]+/y;
const SCALAR_END = new Set([',', ']', '}', '#', '\r', '\n']);
const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b' };

/** Maps the id of every path defined in the text (and of its prefixes) to the line where it first appears. */
function indexKeyLines(text: string): Map<string, number> {
  const found = new Map<string, number>();
  let pos = 0;

  // Paths are recorded in text order, so the line count only ever moves forward.
  let line = 1;
  let counted = 0;
  const record = (path: KeyPath, offset: number): void => {
    for (; counted < offset; counted++) if (text[counted] === '\n') line++;
    for (let length = 1; length <= path.length; length++) {
      const id = pathId(path.slice(0, length));
      if (!found.has(id)) found.set(id, line);
    }
  };

  const skipSpaces = (): void => {
    while (text[pos] === ' ' || text[pos] === '\t') pos++;
  };
  const skipToLineEnd = (): void => {
    while (pos < text.length && text[pos] !== '\n') pos++;
  };
  // Spaces, line breaks and comments: what may come between a table's lines or an array's items.
  const skipBlank = (): void => {
    for (;;) {
      skipSpaces();
      if (text[pos] === '#') skipToLineEnd();
      else if (text[pos] === '\n' || text[pos] === '\r') pos++;
      else return;
    }
  };

  // Reads a basic, literal or multi-line string and returns its contents (needed for quoted keys).
  const readString = (): string => {
    const quote = text[pos] === "'" ? "'" : '"';
    const delimiter = text.startsWith(quote.repeat(3), pos) ? quote.repeat(3) : quote;
    const start = pos + delimiter.length;
    let end = start;
    while (end < text.length && !text.startsWith(delimiter, end)) end += quote === '"' && text[end] === '\\' ? 2 : 1;
    // A multi-line string may end in up to two quotes of its own before the closing three.
    for (let extra = 0; delimiter.length === 3 && extra < 2 && text[end + 3] === quote; extra++) end++;
    pos = Math.min(end + delimiter.length, text.length);
    const body = text.slice(start, end);
    return quote === "'" ? body : unescapeBasic(body);
  };

  // Reads `a`, `a.b`, `"a.b".c`: a list of key parts.
  const readKey = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipSpaces();
      if (text[pos] === '"' || text[pos] === "'") {
        parts.push(readString());
      } else {
        BARE_KEY.lastIndex = pos;
        const bare = BARE_KEY.exec(text);
        if (!bare) return parts;
        parts.push(bare[0]);
        pos = BARE_KEY.lastIndex;
      }
      skipSpaces();
      if (text[pos] !== '.') return parts;
      pos++;
    }
  };

  // Reads one value; every call consumes at least one character unless at the end of the text.
  const readValue = (path: KeyPath): void => {
    skipSpaces();
    if (text[pos] === '"' || text[pos] === "'") {
      readString();
    } else if (text[pos] === '[') {
      pos++;
      let index = 0;
      for (skipBlank(); pos < text.length && text[pos] !== ']'; skipBlank()) {
        const element = [...path, index++];
        record(element, pos);
        readValue(element);
        skipBlank();
        if (text[pos] === ',') pos++;
      }
      pos++;
    } else if (text[pos] === '{') {
      pos++;
      for (skipBlank(); pos < text.length && text[pos] !== '}'; skipBlank()) {
        const keyStart = pos;
        const key = [...path, ...readKey()];
        skipSpaces();
        if (text[pos] !== '=') break;
        pos++;
        record(key, keyStart);
        readValue(key);
        skipBlank();
        if (text[pos] === ',') pos++;
      }
      pos++;
    } else {
      // numbers, booleans, dates: everything up to the next delimiter
      do pos++;
      while (pos < text.length && !SCALAR_END.has(text[pos]!));
    }
  };

  let table: KeyPath = [];
  const arrayTableLengths = new Map<string, number>();
  for (skipBlank(); pos < text.length; skipBlank()) {
    const start = pos;
    if (text[pos] === '[') {
      const isArrayTable = text[pos + 1] === '[';
      pos += isArrayTable ? 2 : 1;
      table = readKey();
      if (isArrayTable) {
        const index = arrayTableLengths.get(pathId(table)) ?? 0;
        arrayTableLengths.set(pathId(table), index + 1);
        table = [...table, index];
      }
      record(table, start);
    } else {
      const key = [...table, ...readKey()];
      skipSpaces();
      if (text[pos] === '=') {
        pos++;
        record(key, start);
        readValue(key);
      }
    }
    skipToLineEnd(); // closing brackets, trailing comments
  }
  return found;
}

// TOML basic-string escapes (TOML 1.0 §String, plus \e and \xHH from TOML 1.1).
function unescapeBasic(body: string): string {
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[\s\S])/g, (_, escape: string) => {
    if (escape.length === 1) return ESCAPES[escape] ?? escape;
    const codePoint = parseInt(escape.slice(1), 16);
    return codePoint <= 0x10ffff ? String.fromCodePoint(codePoint) : escape;
  });
}
