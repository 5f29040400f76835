// The README's table of intake steps per origin is the origins table of the code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { stepsByOrigin } from '../../src/intake/origins.ts';
import { configSchema } from '../../src/config/schema.ts';
import { EngineVersions } from '../../src/filter/antivirus/engine.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function readmeTable(): Record<string, string[]> {
  const section = /<!-- intake-steps:start -->([\s\S]*?)<!-- intake-steps:end -->/.exec(README)?.[1];
  assert.ok(section, 'README has the intake-steps table');
  const rows: Record<string, string[]> = {};
  for (const line of section.split('\n')) {
    const match = /^\| `([\w-]+)`[^|]*\| (.*) \|$/.exec(line);
    if (match) rows[match[1]!] = match[2] === '(none)' ? [] : match[2]!.split(' → ').map((name) => name.replace(/`/g, ''));
  }
  return rows;
}

test('every origin and its steps, in order, as the README shows them', () => {
  const steps = stepsByOrigin({
    resolver: async () => [],
    senderAuth: configSchema.parse({ hostname: 'mail.example.test' }).sender_auth,
    submissionReceivedClientIp: false,
    accounts: { isLocalDomain: async () => false },
    keys: { activeDkimKeys: async () => [] },
    antivirus: { engines: [], action: 'reject', versions: new EngineVersions([]), failOpen: false, scanTimeoutMs: 1_000, scratchDir: '/nonexistent', maxBytes: 1 },
    attachments: Object.fromEntries((['inbound', 'outbound'] as const).map((direction) => [direction, { direction, action: 'reject', blockedExtensions: new Set<string>(), scratchDir: '/nonexistent', maxBytes: 1 }])) as never,
    spam: {
      models: { layers: async () => [], junkMode: async () => 'folder' },
      rules: [],
      scores: configSchema.parse({ hostname: 'mail.example.test' }).spam.scores,
      thresholds: { junk: 2, quarantine: 9, reject: 9 },
      minHam: 200,
      minSpam: 200,
      localDomains: async () => [],
      scratchDir: '/nonexistent',
      maxBytes: 1,
    },
  });
  const code = Object.fromEntries(Object.entries(steps).map(([origin, list]) => [origin, list.map((step) => step.name)]));
  assert.deepEqual(readmeTable(), code);
  for (const list of Object.values(steps)) for (const step of list) assert.ok(step.timeoutMs > 0, `${step.name} has a timeout`);
});
