// scripts/test-lint.ts: the snippets in test-lint/flagged.txt each give exactly one
// finding of their rule, those in test-lint/clean.txt none, and today's test/ is clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { blankLiterals, lintSource, lintTree, type Rule } from '../../scripts/test-lint.ts';

interface Snippet {
  title: string;
  rule: string | undefined;
  /** The snippet's first line in the fixture file. */
  line: number;
  text: string;
}

/** The sections of a fixture file: each starts with `// == [RULE: ]title`. */
function snippets(name: string): Snippet[] {
  const lines = readFileSync(new URL(`test-lint/${name}`, import.meta.url), 'utf8').split('\n');
  const found: Snippet[] = [];
  lines.forEach((line, index) => {
    const header = /^\/\/ == (?:(timing|no-assertion|skip): )?(.*)$/.exec(line);
    if (header) found.push({ rule: header[1], title: header[2]!, line: index + 2, text: '' });
    else if (found.length > 0) found[found.length - 1]!.text += `${line}\n`;
  });
  return found;
}

const flagged = snippets('flagged.txt');
const clean = snippets('clean.txt');

test('the fixture files hold snippets of every rule', () => {
  const rules = new Set(flagged.map((s) => s.rule));
  assert.deepEqual([...rules].sort(), ['no-assertion', 'skip', 'timing'] satisfies Rule[]);
  assert.ok(clean.length >= 10, `${clean.length} clean snippets`);
  assert.ok(clean.every((s) => s.rule === undefined), 'clean snippets name no rule');
});

for (const snippet of flagged) {
  test(`flagged, ${snippet.rule}: ${snippet.title}`, () => {
    const findings = lintSource('snippet.ts', snippet.text);
    assert.deepEqual(findings.map((f) => f.rule), [snippet.rule], `flagged.txt:${snippet.line}\n${snippet.text}`);
    assert.match(findings[0]!.message, /\/\/ (hang guard|no assertion:|skip reason:)/, 'the message names the allow comment');
  });
}

for (const snippet of clean) {
  test(`not flagged: ${snippet.title}`, () => {
    assert.deepEqual(lintSource('snippet.ts', snippet.text), [], `clean.txt:${snippet.line}\n${snippet.text}`);
  });
}

test('findings carry the file and the line of the call', () => {
  const source = "import { test } from 'node:test';\n\ntest('x', async () => {\n  await run();\n});\n";
  assert.deepEqual(lintSource('test/x.test.ts', source).map((f) => [f.file, f.line, f.rule]), [['test/x.test.ts', 3, 'no-assertion']]);
});

test('blanking keeps offsets and line breaks, and the code around literals', () => {
  const source = "const a = 'it(' + `x ${f('y')} z` / 2; // t.skip()\nconst r = /test\\(/g; /* assert */ b();\n";
  const code = blankLiterals(source);
  assert.equal(code.length, source.length);
  assert.equal(code.split('\n').length, source.split('\n').length);
  assert.equal(code, "const a = '   ' + `  ${f(' ')}  ` / 2;            \nconst r = /      /g;              b();\n");
});

test('the test suite as it stands is clean', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const findings = lintTree(`${root}test`, root);
  assert.deepEqual(findings.map((f) => `${f.file}:${f.line}: ${f.rule}`), []);
});
