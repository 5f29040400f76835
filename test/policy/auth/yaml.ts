// A small reader for the block YAML of the two shared test suites (the openspf RFC 7208
// suite and the ValiMail ARC suite). No YAML package is installed and none may be added,
// and these files use only a few constructs: "---" documents, block mappings and
// sequences, plain / 'single' / "double" quoted scalars (with \x escapes), [flow, lists]
// and |, |-, >, >- block scalars. Anything else throws, so a misread never passes silently.
// Scalars stay strings (YAML 1.2 core-schema typing is not needed by the tests).

export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string; // without the indentation
  raw: string;
  number: number;
}

/** Every document of a multi-document stream, comment-only documents skipped. */
export function parseYamlDocuments(source: string): YamlValue[] {
  const documents: string[][] = [[]];
  for (const raw of source.replace(/\r\n/g, '\n').split('\n')) {
    if (/^---\s*$/.test(raw)) documents.push([]);
    else documents[documents.length - 1]!.push(raw);
  }
  const parsed: YamlValue[] = [];
  let offset = 0;
  for (const doc of documents) {
    const lines = doc.map((raw, i) => ({ raw, indent: raw.length - raw.trimStart().length, text: raw.trim(), number: offset + i + 1 }));
    offset += doc.length + 1;
    const reader = new Reader(lines);
    reader.skipBlank();
    if (reader.done()) continue;
    parsed.push(reader.node(reader.peek()!.indent));
    reader.skipBlank();
    if (!reader.done()) throw new Error(`yaml: unexpected content at line ${reader.peek()!.number}`);
  }
  return parsed;
}

const isBlank = (line: Line) => line.text === '' || line.text.startsWith('#');

class Reader {
  private position = 0;
  private readonly lines: Line[];
  constructor(lines: Line[]) {
    this.lines = lines;
  }

  done(): boolean {
    return this.position >= this.lines.length;
  }
  peek(): Line | undefined {
    return this.lines[this.position];
  }
  skipBlank(): void {
    while (!this.done() && isBlank(this.peek()!)) this.position++;
  }

  /** The block node whose lines start at `indent`. */
  node(indent: number): YamlValue {
    this.skipBlank();
    const first = this.peek()!;
    return first.text.startsWith('- ') || first.text === '-' ? this.sequence(indent) : this.mapping(indent);
  }

  private sequence(indent: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (;;) {
      this.skipBlank();
      const line = this.peek();
      if (!line || line.indent < indent) return items;
      if (line.indent > indent || !(line.text.startsWith('- ') || line.text === '-')) {
        if (line.indent === indent) return items; // a mapping key after "key:\n- item" at the same indent
        throw new Error(`yaml: bad sequence item at line ${line.number}`);
      }
      const rest = line.text.slice(1).trimStart();
      const itemIndent = line.indent + (line.text.length - rest.length);
      if (rest === '') {
        this.position++;
        items.push(this.node(this.peek()!.indent));
      } else if (keyOf(rest)) {
        // "- key: value": a mapping whose first line shares the dash's line
        this.lines[this.position] = { ...line, indent: itemIndent, text: rest };
        items.push(this.mapping(itemIndent));
      } else {
        this.position++;
        items.push(this.scalar(rest, line));
      }
    }
  }

  private mapping(indent: number): { [key: string]: YamlValue } {
    const map: { [key: string]: YamlValue } = {};
    for (;;) {
      this.skipBlank();
      const line = this.peek();
      if (!line || line.indent < indent) return map;
      if (line.indent > indent) throw new Error(`yaml: unexpected indentation at line ${line.number}`);
      const entry = keyOf(line.text);
      if (!entry) throw new Error(`yaml: expected "key:" at line ${line.number}`);
      this.position++;
      const { rest } = entry;
      // A repeated key (the ARC suite names four tests twice) keeps both entries: the
      // later one as "key (2)", so no case is lost.
      let key = entry.key;
      for (let n = 2; key in map; n++) key = `${entry.key} (${n})`;
      if (/^[|>][+-]?$/.test(rest)) {
        map[key] = this.blockScalar(rest, indent);
      } else if (rest === '') {
        this.skipBlank();
        const next = this.peek();
        if (next && (next.indent > indent || (next.indent === indent && next.text.startsWith('- ')))) {
          map[key] = this.node(next.indent);
        } else {
          map[key] = '';
        }
      } else {
        map[key] = this.scalar(rest, line);
      }
    }
  }

  /** A flow or one-line scalar value. */
  private scalar(text: string, line: Line): YamlValue {
    if (text.startsWith('[')) {
      const items: string[] = [];
      let rest = text.slice(1).trim();
      while (!rest.startsWith(']')) {
        const [value, after] = flowScalar(rest, line);
        items.push(value);
        rest = after.trim();
        if (rest.startsWith(',')) rest = rest.slice(1).trim();
        else if (!rest.startsWith(']')) throw new Error(`yaml: bad flow sequence at line ${line.number}`);
      }
      return items;
    }
    if (text.startsWith('"') || text.startsWith("'")) {
      const [value, after] = quoted(text, line);
      if (after.trim() !== '' && !after.trim().startsWith('#')) throw new Error(`yaml: text after a quoted scalar at line ${line.number}`);
      return value;
    }
    // A plain scalar may continue on more-indented lines (folded with a space).
    let value = stripComment(text);
    for (;;) {
      const next = this.peek();
      if (!next || isBlank(next) || next.indent <= line.indent) break;
      value += ' ' + stripComment(next.text);
      this.position++;
    }
    return value;
  }

  /** A | or > block scalar below a key at `parentIndent` (YAML 1.2 §8.1). */
  private blockScalar(indicator: string, parentIndent: number): string {
    const folded = indicator.startsWith('>');
    const chomp = indicator.endsWith('-') ? 'strip' : indicator.endsWith('+') ? 'keep' : 'clip';
    const body: string[] = [];
    let contentIndent = -1;
    while (!this.done()) {
      const line = this.peek()!;
      if (line.text === '') {
        body.push('');
        this.position++;
        continue;
      }
      if (contentIndent < 0) {
        if (line.indent <= parentIndent) break;
        contentIndent = line.indent;
      }
      if (line.indent < contentIndent) break;
      body.push(line.raw.slice(contentIndent));
      this.position++;
    }
    // Trailing empty lines belong to the chomping, and empty lines before the next key
    // (which the loop above took) too.
    let trailing = 0;
    while (body.length > 0 && body[body.length - 1] === '') {
      body.pop();
      trailing++;
    }
    let text: string;
    if (!folded) {
      text = body.join('\n');
    } else {
      text = '';
      for (let i = 0; i < body.length; i++) {
        const current = body[i]!;
        if (i === 0) {
          text = current;
          continue;
        }
        const previous = body[i - 1]!;
        const moreIndented = (s: string) => s.startsWith(' ') || s.startsWith('\t');
        if (current === '' || previous === '' || moreIndented(current) || moreIndented(previous)) text += '\n' + current;
        else text += ' ' + current;
      }
      // A run of n empty lines between two text lines folds to n newlines.
      text = text.replace(/\n\n/g, '\n');
    }
    if (body.length === 0) return chomp === 'keep' ? '\n'.repeat(trailing) : '';
    if (chomp === 'strip') return text;
    if (chomp === 'clip') return text + '\n';
    return text + '\n'.repeat(trailing + 1);
  }
}

/** "key: rest" or "key:" (the key plain or quoted), else undefined. */
function keyOf(text: string): { key: string; rest: string } | undefined {
  if (text.startsWith('"') || text.startsWith("'")) {
    const [key, after] = quoted(text, { number: 0 } as Line);
    const match = /^:(?:\s+(.*))?$/.exec(after);
    return match ? { key, rest: (match[1] ?? '').trim() } : undefined;
  }
  // The key ends at the first ":" followed by white space or the end of the line, so keys
  // such as "foo:bar/baz.example.com" keep their colons.
  const match = /^([^\s'"[{#-].*?|-\S.*?):(?:\s+(.*))?$/.exec(text);
  if (!match) return undefined;
  return { key: match[1]!.trim(), rest: (match[2] ?? '').trim() };
}

function stripComment(text: string): string {
  const hash = text.search(/\s#/);
  return (hash >= 0 ? text.slice(0, hash) : text).trim();
}

function flowScalar(text: string, line: Line): [string, string] {
  if (text.startsWith('"') || text.startsWith("'")) return quoted(text, line);
  const end = text.search(/[,\]]/);
  if (end < 0) throw new Error(`yaml: unterminated flow sequence at line ${line.number}`);
  return [text.slice(0, end).trim(), text.slice(end)];
}

const ESCAPES: Record<string, string> = { '0': '\0', n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', '/': '/', ' ': ' ', a: '\x07', b: '\b', e: '\x1b', f: '\f', v: '\v' };

/** A quoted scalar at the start of text, and the text after it. */
function quoted(text: string, line: Line): [string, string] {
  const quote = text[0]!;
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") {
        if (text[i + 1] === "'") {
          value += "'";
          i++;
          continue;
        }
        return [value, text.slice(i + 1)];
      }
      value += c;
      continue;
    }
    if (c === '"') return [value, text.slice(i + 1)];
    if (c !== '\\') {
      value += c;
      continue;
    }
    const e = text[++i]!;
    const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hex > 0) {
      value += String.fromCodePoint(parseInt(text.slice(i + 1, i + 1 + hex), 16));
      i += hex;
    } else if (e in ESCAPES) {
      value += ESCAPES[e];
    } else {
      throw new Error(`yaml: unknown escape \\${e} at line ${line.number}`);
    }
  }
  throw new Error(`yaml: unterminated quoted scalar at line ${line.number}`);
}
