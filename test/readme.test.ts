// The README is part of the product: its config reference is the schema's, and it
// names every command that `kakitome --help` lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { withReference } from '../scripts/readme-config-reference.ts';
import { runKakitome } from './harness/instance.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('the README config reference is generated from the schema (npm run readme:config)', () => {
  assert.equal(readme, withReference(readme));
});

test('the README documents every command of kakitome --help, and the two quick-start commands', async () => {
  const help = await runKakitome(['--help']);
  const commandSection = help.stdout.slice(help.stdout.indexOf('Commands:'));
  const commands = [...commandSection.matchAll(/^  ([a-z-]+)(?: \[options\])?(?: <[a-z]+>)?\s/gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 7, help.stdout);
  for (const command of commands.filter((c) => c !== 'help')) {
    assert.ok(new RegExp(`\`kakitome ${command}\\b`).test(readme), `README lacks kakitome ${command}`);
  }
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /^npm test/m);
});
