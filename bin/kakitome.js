#!/usr/bin/env node
// Entry point of the `kakitome` command. kakitome needs Node 24 (type stripping,
// node:sqlite); the npm package `node@24` carries that runtime. When this file is
// started by an older system Node (e.g. `npx kakitome` with Debian's Node 20 first
// on PATH), re-run it under the bundled runtime instead of failing on syntax.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const require = createRequire(import.meta.url);
  let nodeBin;
  try {
    nodeBin = require.resolve('node/bin/node');
  } catch {
    process.stderr.write('kakitome: Node.js 24 or later is required; run `npm install` to fetch it\n');
    process.exit(1);
  }
  const result = spawnSync(nodeBin, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (result.signal) process.kill(process.pid, result.signal);
  process.exit(result.status ?? 1);
}

await import('../src/cli/main.ts');
