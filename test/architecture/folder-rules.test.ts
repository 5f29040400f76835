// The folder rules of the README's design section, checked over the import graph of
// src/: which top-level folder may import which, and the few files only some may use.
// A new arrow is a decision: change the table in the open, with the reason, in the
// same commit as the code that needs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/**
 * What each folder may import besides itself. `store:roles` is the role interfaces and
 * their constants and errors (src/store/*.ts but store.ts, blobs.ts, group-commit.ts and
 * deliveries.ts); `store:roles types` allows only `import type` of them.
 */
export const ALLOWED: Record<string, readonly string[]> = {
  mail: [], // a leaf: addresses, header fields, dates
  config: [], // imports nothing of the product
  dns: [], // a leaf: the resolver
  tls: [],
  net: ['mail'], // the line-protocol core under SMTP, POP3 (and IMAP)
  server: ['net', 'tls'], // listener plumbing and logging
  store: ['mail'],
  policy: ['config', 'dns', 'mail'], // knows no protocol and no store
  filter: ['mail'], // content filters (antivirus engines, attachments): no protocol, no store, no config
  auth: ['mail', 'policy', 'store:roles types'], // a login checks the accounts it is given
  smtp: ['auth', 'mail', 'net', 'policy', 'server', 'tls'], // knows no store
  intake: ['filter', 'mail', 'mda', 'policy', 'store:roles'], // steps read accounts and keys; only the MDA delivers
  mda: ['store:roles', 'store:deliveries'], // the one writer of mailboxes and the queue
  mta: ['intake', 'mail', 'policy', 'smtp'],
  msa: ['auth', 'intake', 'mail', 'mta', 'policy', 'smtp', 'store:roles types'],
  mra: ['auth', 'mail', 'net', 'policy', 'server', 'tls', 'store:roles'], // reads the mailboxes it is given
  queue: ['config', 'dns', 'intake', 'mail', 'server', 'store:roles'],
  app: ['*'], // the composition root wires everything
  cli: ['*'],
};

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;]*?)\s+from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every relative import of every file under src/, resolved to a path relative to src/. */
export function importGraph(): Import[] {
  const imports: Import[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[4] ?? match[5]!;
      if (!specifier.startsWith('.')) continue;
      const clause = match[3] ?? '';
      // `import type {…}`, or `import {type A, type B}` with every name a type.
      const names = /^\{([^}]*)\}$/.exec(clause.trim())?.[1]?.split(',').map((n) => n.trim()).filter(Boolean);
      const typeOnly = match[2] !== undefined || (names !== undefined && names.length > 0 && names.every((n) => n.startsWith('type ')));
      imports.push({
        from: relative(SRC, file).split(sep).join('/'),
        to: relative(SRC, join(dirname(file), specifier)).split(sep).join('/'),
        typeOnly,
      });
    }
  }
  return imports;
}

const folderOf = (path: string) => path.split('/')[0]!;
const STORE_INTERNALS = new Set(['store/store.ts', 'store/blobs.ts', 'store/group-commit.ts', 'store/deliveries.ts']);

/** Why an import breaks the table, or undefined when it may stand. */
export function violation(edge: Import): string | undefined {
  const from = folderOf(edge.from);
  const to = folderOf(edge.to);
  if (edge.to.startsWith('..')) return 'imports from outside src/';
  if (edge.to.startsWith('store/sqlite/') && from !== 'store') return 'only src/store/ knows its sqlite implementation';
  if (edge.to === 'store/deliveries.ts' && !['mda', 'app', 'store'].includes(from)) return 'only the MDA (and the composition root) holds the delivery store';
  if (from === to) return undefined;
  const allowed = ALLOWED[from];
  if (!allowed) return `folder ${from} is not in the table`;
  if (allowed.includes('*')) return undefined;
  if (to === 'store') {
    if (edge.to === 'store/deliveries.ts') return allowed.includes('store:deliveries') ? undefined : `${from} may not import the delivery store`;
    if (STORE_INTERNALS.has(edge.to)) return `${from} may not open the store (${edge.to}); the composition root hands it roles`;
    if (allowed.includes('store:roles')) return undefined;
    if (allowed.includes('store:roles types')) return edge.typeOnly ? undefined : `${from} may import store role interfaces as types only`;
    return `${from} knows no store`;
  }
  return allowed.includes(to) ? undefined : `${from} may not import ${to}`;
}

test('every import in src/ keeps the folder rules', () => {
  const graph = importGraph();
  assert.ok(graph.length > 200, `the graph looks too small to be real: ${graph.length} imports`);
  const broken = graph.flatMap((edge) => {
    const why = violation(edge);
    return why ? [`${edge.from} → ${edge.to}: ${why}`] : [];
  });
  assert.deepEqual(broken, []);
});

test('the rules catch what they are for', () => {
  // Each of these is a break the issue named; the table must refuse it.
  const cases: [Import, RegExp][] = [
    [{ from: 'smtp/session.ts', to: 'store/sqlite/messages.ts', typeOnly: true }, /sqlite/],
    [{ from: 'smtp/session.ts', to: 'store/mailboxes.ts', typeOnly: true }, /knows no store/],
    [{ from: 'queue/bounce.ts', to: 'store/deliveries.ts', typeOnly: false }, /delivery store/],
    [{ from: 'mra/pop3/session.ts', to: 'store/store.ts', typeOnly: true }, /may not open the store/],
    [{ from: 'auth/login.ts', to: 'store/accounts.ts', typeOnly: false }, /types only/],
    [{ from: 'dns/cache.ts', to: 'policy/spf/resolver.ts', typeOnly: true }, /may not import policy/],
    [{ from: 'policy/dnsbl/reply.ts', to: 'smtp/replies.ts', typeOnly: true }, /may not import smtp/],
    [{ from: 'policy/sender-auth.ts', to: 'store/accounts.ts', typeOnly: true }, /knows no store/],
    [{ from: 'config/schema.ts', to: 'mail/address.ts', typeOnly: false }, /may not import mail/],
    [{ from: 'mta/handler.ts', to: 'mda/deliver.ts', typeOnly: false }, /may not import mda/],
  ];
  for (const [edge, why] of cases) assert.match(violation(edge) ?? 'allowed', why, `${edge.from} → ${edge.to}`);
  assert.equal(violation({ from: 'mda/deliver.ts', to: 'store/deliveries.ts', typeOnly: true }), undefined);
});
