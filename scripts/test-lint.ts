// The test suite's honesty rules (README, Tests), checked over test/**/*.ts before
// `node --test` runs. Each finding is printed as FILE:LINE: RULE: what to do; any
// finding fails `npm test`.
//
// - timing: an assertion comparing an elapsed time (the difference of two readings
//   of Date.now(), performance.now(), process.hrtime…) with < or >. Assert what happened
//   (it timed out, it retried, it expired); a generous bound that only stops a hang
//   carries `// hang guard` on one of its lines.
// - no-assertion: a test(…) / it(…) / t.test(…) whose body holds no assertion: no
//   `assert…`, no call of a helper named expect…/assert…/check…, no rejects/throws.
//   The rare test that proves itself otherwise says so on its first line:
//   `// no assertion: WHY`.
// - skip: t.skip(), test.skip(), t.todo(), { skip: … }, { todo: … }. A test that
//   cannot run here fails, unless the line says why skipping is right:
//   `// skip reason: WHY`.
//
// Strings, template text, regular expressions and comments are blanked before the
// rules look at the code, so a message or a comment never counts.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export type Rule = 'timing' | 'no-assertion' | 'skip';

export interface Finding {
  file: string;
  line: number;
  rule: Rule;
  message: string;
}

export const ALLOW = { timing: '// hang guard', 'no-assertion': '// no assertion:', skip: '// skip reason:' } as const;

const MESSAGES: Record<Rule, string> = {
  timing: `an assertion on elapsed time: assert the behaviour instead (a bound that only stops a hang is marked ${ALLOW.timing})`,
  'no-assertion': `a test that asserts nothing and cannot fail (or say how it proves itself: ${ALLOW['no-assertion']} WHY)`,
  skip: `a skipped test hides a failure: make it fail (or, where skipping is right, ${ALLOW.skip} WHY)`,
};

// A `/` starts a regular expression after these characters (otherwise it divides).
const BEFORE_REGEX = new Set([...'(,=:[!&|?{};+-*%<>~^']);
const KEYWORDS_BEFORE_REGEX = /\b(?:return|typeof|case|do|else|in|of|void|yield|await|throw|delete|new)$/;

/**
 * The source with the contents of strings, template text, regular expressions and
 * comments replaced by spaces (line breaks kept, so offsets and line numbers stay).
 */
export function blankLiterals(source: string): string {
  const out = [...source];
  const blank = (i: number) => {
    if (out[i] !== '\n') out[i] = ' ';
  };
  // One entry per open template expression `${…}`: the brace depth inside it.
  const templates: number[] = [];
  let lastCode = '';
  let i = 0;
  const skipTemplateText = () => {
    // At the first character after ` or after the } closing an expression.
    while (i < source.length) {
      const c = source[i]!;
      if (c === '\\') {
        blank(i);
        blank(i + 1);
        i += 2;
      } else if (c === '`') {
        i++;
        lastCode = '`';
        return;
      } else if (c === '$' && source[i + 1] === '{') {
        templates.push(0);
        i += 2;
        lastCode = '{';
        return;
      } else {
        blank(i);
        i++;
      }
    }
  };
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') blank(i++);
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? source.length : end + 2;
      while (i < stop) blank(i++);
    } else if (c === "'" || c === '"') {
      i++;
      while (i < source.length && source[i] !== c && source[i] !== '\n') {
        if (source[i] === '\\') blank(i++);
        blank(i++);
      }
      i++;
      lastCode = c;
    } else if (c === '`') {
      i++;
      skipTemplateText();
    } else if (c === '/' && (lastCode === '' || BEFORE_REGEX.has(lastCode) || KEYWORDS_BEFORE_REGEX.test(source.slice(Math.max(0, i - 8), i).trimEnd()))) {
      i++;
      let inClass = false;
      while (i < source.length && source[i] !== '\n' && (inClass || source[i] !== '/')) {
        if (source[i] === '\\') blank(i++);
        else if (source[i] === '[') inClass = true;
        else if (source[i] === ']') inClass = false;
        blank(i++);
      }
      i++;
      while (/[a-z]/.test(source[i] ?? '')) i++;
      lastCode = ')';
    } else {
      if (templates.length > 0 && c === '{') templates[templates.length - 1]!++;
      if (templates.length > 0 && c === '}') {
        if (templates[templates.length - 1] === 0) {
          templates.pop();
          i++;
          skipTemplateText();
          continue;
        }
        templates[templates.length - 1]!--;
      }
      if (!/\s/.test(c)) lastCode = /[\w$]/.test(c) ? 'a' : c;
      i++;
    }
  }
  return out.join('');
}

/** The offset of the `)` that closes the `(` at `open` (in blanked code), or the end. */
function closingParen(code: string, open: number): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === '(') depth++;
    else if (code[i] === ')' && --depth === 0) return i;
  }
  return code.length;
}

const TIME_SOURCE = /(?<![\w$])(?:Date\.now|performance\.now|process\.hrtime(?:\.bigint)?|hrtime\.bigint|process\.uptime)\s*\(/g;
const COMPARISON = /(?<![=<>-])(?:<=?|>=?)(?![=<>])/;
const SUBTRACTION = /[\w$)\]]\s*-(?![-=])/;

const nameMentions = (text: string, names: Set<string>) =>
  [...names].reduce((count, name) => count + [...text.matchAll(new RegExp(`(?<![\\w$.])${name.replace(/\$/g, '\\$')}(?![\\w$])`, 'g'))].length, 0);

/** Names that hold a clock reading (`points`) or an elapsed time, a difference of two readings (`elapsed`). */
function timeVariables(code: string): { points: Set<string>; elapsed: Set<string> } {
  const points = new Set<string>();
  const elapsed = new Set<string>();
  const assignments = [...code.matchAll(/(?<![\w$])(?:const|let|var)\s+([\w$]+)\s*(?::[^=]+)?=([^;\n]*)/g)].map((m) => [m[1]!, m[2]!] as const);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, value] of assignments) {
      const readings = [...value.matchAll(TIME_SOURCE)].length + nameMentions(value, points);
      const target = nameMentions(value, elapsed) > 0 || (readings >= 2 && SUBTRACTION.test(value)) ? elapsed : readings > 0 ? points : undefined;
      if (target && !target.has(name)) {
        target.add(name);
        changed = true;
      }
    }
  }
  for (const name of elapsed) points.delete(name);
  return { points, elapsed };
}

/**
 * A comparison with < or > of an elapsed time: of a name holding one, or of a
 * subtraction in an expression that reads the clock twice (`Date.now() - started`).
 * A value compared with the clock once (`Math.abs(date - Date.now()) < …`: "the Date
 * header is current") measures no time the test took.
 */
function isTimingComparison(expression: string, vars: ReturnType<typeof timeVariables>): boolean {
  if (!COMPARISON.test(expression.replace(/=>/g, '  '))) return false;
  if (nameMentions(expression, vars.elapsed) > 0) return true;
  return [...expression.matchAll(TIME_SOURCE)].length + nameMentions(expression, vars.points) >= 2 && SUBTRACTION.test(expression);
}

const ASSERTION_CALL = /(?<![\w$.])(?:t\.)?assert(?:\.[\w$]+)?\s*\(/g;
const TEST_CALL = /(?<![\w$.])(?:(?:t|test|it)\.test|test|it)\s*\(/g;
const ASSERTS = /(?<![\w$])(?:assert|expect|check)[\w$]*\s*\(|(?<![\w$])assert\s*\.|(?<![\w$])(?:rejects|throws)\s*\(/;
const SKIP = /(?<![\w$])(?:t|test|it|describe|suite|context)\.(?:skip|todo)\s*\(|(?<![\w$.])(?:skip|todo)\s*:/g;

export function lintSource(file: string, source: string): Finding[] {
  const code = blankLiterals(source);
  const rawLines = source.split('\n');
  const lineStarts = [0];
  for (let i = 0; i < source.length; i++) if (source[i] === '\n') lineStarts.push(i + 1);
  const lineOf = (offset: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const allowed = (rule: Rule, from: number, to: number) => {
    for (let line = lineOf(from); line <= lineOf(to); line++) if (rawLines[line - 1]!.includes(ALLOW[rule])) return true;
    return false;
  };
  const findings: Finding[] = [];
  const report = (rule: Rule, offset: number) => findings.push({ file, line: lineOf(offset), rule, message: MESSAGES[rule] });

  const vars = timeVariables(code);
  for (const match of code.matchAll(ASSERTION_CALL)) {
    const open = match.index + match[0].length - 1;
    const end = closingParen(code, open);
    if (isTimingComparison(code.slice(open, end), vars) && !allowed('timing', match.index, end)) report('timing', match.index);
  }
  // `if (elapsed > bound) assert.fail(…)` is the same claim.
  for (const match of code.matchAll(/(?<![\w$.])if\s*\(/g)) {
    const open = match.index + match[0].length - 1;
    const end = closingParen(code, open);
    if (!/^\s*\{?\s*(?:t\.)?assert\.fail\s*\(/.test(code.slice(end + 1, end + 200))) continue;
    if (isTimingComparison(code.slice(open, end), vars) && !allowed('timing', match.index, end)) report('timing', match.index);
  }
  for (const match of code.matchAll(TEST_CALL)) {
    const open = match.index + match[0].length - 1;
    const end = closingParen(code, open);
    if (!ASSERTS.test(code.slice(open, end)) && !allowed('no-assertion', match.index, match.index)) report('no-assertion', match.index);
  }
  for (const match of code.matchAll(SKIP)) {
    if (!allowed('skip', match.index, match.index)) report('skip', match.index);
  }
  return findings.sort((a, b) => a.line - b.line);
}

/** Every .ts file below `dir`, sorted. */
function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

export function lintTree(dir: string, root = process.cwd()): Finding[] {
  return typeScriptFiles(dir).flatMap((path) => lintSource(relative(root, path), readFileSync(path, 'utf8')));
}

if (import.meta.main) {
  const root = new URL('..', import.meta.url).pathname;
  const findings = lintTree(join(root, 'test'), root);
  for (const f of findings) console.error(`${f.file}:${f.line}: ${f.rule}: ${f.message}`);
  if (findings.length > 0) {
    console.error(`test-lint: ${findings.length} finding(s) in test/ (rules: README.md, Tests)`);
    process.exit(1);
  }
  console.log('test-lint: test/ is clean (no timing assertions, every test asserts, no skips)');
}
