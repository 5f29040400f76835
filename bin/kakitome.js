#!/usr/bin/env node
// Entry point of the `kakitome` command. kakitome needs Node 24 (type stripping,
// node:sqlite); the npm package `node@24` carries that runtime. When this file is
// started by an older system Node (e.g. `npx kakitome` with Debian's Node 20 first
// on PATH), re-run it under the bundled runtime instead of failing on syntax.
//
// The wrapper stays as the parent of the Node 24 process and passes on what a
// supervisor or a terminal sends it: SIGTERM, SIGINT and SIGHUP go to the child, and
// the wrapper exits as the child did (its exit status, or the same signal), so no
// process is left behind whichever of the two PIDs is signalled.
import { spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import * as nodeModule from 'node:module'; // whole: Node 20 has no enableCompileCache
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'];

// V8 flags for `serve`: the young generation's semi-spaces default to 64 MB each on a
// large machine, and under load they, not the heap in use, were most of serve's peak
// RSS (~120 of ~300 MB). 16 MB keeps most of the saving (~80 MB under the SMTP bench);
// 4 MB saved ~20 MB more but cost POP3 ~45% more CPU per message (more scavenges).
// The README's benchmarks section has the measurements. A flag the user gave (on the
// command line or in NODE_OPTIONS) wins.
const SERVE_V8_FLAGS = ['--max-semi-space-size=16'];

// Environment for `serve`: glibc's malloc gives each thread that allocates (the main
// thread, the libuv threadpool, V8's GC helpers) an arena of its own, and freed memory
// stays in those arenas. One arena took serve's peak under the SMTP bench from
// 157-164 MB to 138-149 MB at the same CPU per message (0.96-1.01 against 0.98-1.12 ms),
// and POP3's by ~7 MB (README, benchmarks). Read by glibc at process start, so it is
// set before serve's Node starts; a value the user set wins.
const SERVE_ENV = { MALLOC_ARENA_MAX: '1' };

/** The flags serve still needs, given what this process was started with. */
function missingServeFlags(args) {
  if (!args.includes('serve')) return [];
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return SERVE_V8_FLAGS.filter((flag) => !given.some((g) => g.startsWith(flag.slice(0, flag.indexOf('=')))));
}

/** The environment variables serve still needs (none for other commands, none the user set). */
function missingServeEnv(args) {
  if (!args.includes('serve')) return {};
  return Object.fromEntries(Object.entries(SERVE_ENV).filter(([name]) => process.env[name] === undefined));
}

/**
 * Node's compile cache, in a directory of this installation that only this user can
 * write. Node strips the types of every .ts file as it loads it, and the stripper
 * (a WebAssembly module) stays in memory: ~18 MB of serve's idle RSS, and ~10 MB more
 * of V8 compiling what it stripped. From the cache, a later start loads neither
 * (the cache is keyed by the source's contents, so an edited file is stripped again).
 * Not in the shared temporary directory: the cache holds code that this process runs,
 * so a directory another user can write would let them choose it. When the directory
 * cannot be made or is not ours alone, kakitome runs without a cache. NODE_COMPILE_CACHE
 * (a directory) and NODE_DISABLE_COMPILE_CACHE=1 work as Node documents them.
 */
function enableOwnCompileCache() {
  if (process.env.NODE_COMPILE_CACHE || process.env.NODE_DISABLE_COMPILE_CACHE) return;
  const dir = fileURLToPath(new URL('../node_modules/.cache/kakitome-compile/', import.meta.url));
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = statSync(dir);
    if (stat.uid !== process.getuid?.() || (stat.mode & 0o022) !== 0) return;
  } catch {
    return;
  }
  nodeModule.enableCompileCache(dir);
}

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const require = nodeModule.createRequire(import.meta.url);
  let nodeBin;
  try {
    nodeBin = require.resolve('node/bin/node');
  } catch {
    process.stderr.write('kakitome: Node.js 24 or later is required; run `npm install` to fetch it\n');
    process.exit(1);
  }
  const args = process.argv.slice(2);
  const child = spawn(nodeBin, [...missingServeFlags(args), fileURLToPath(import.meta.url), ...args], {
    stdio: 'inherit',
    env: { ...process.env, ...missingServeEnv(args) },
  });
  const forward = (signal) => {
    // A child that has already exited cannot be signalled; its exit ends us below.
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  child.once('error', (error) => {
    process.stderr.write(`kakitome: cannot run ${nodeBin}: ${error.message}\n`);
    process.exit(1);
  });
  child.once('exit', (code, signal) => {
    if (signal) {
      // Die by the same signal, so that our parent sees what happened to the server.
      for (const name of FORWARDED_SIGNALS) process.off(name, forward);
      process.kill(process.pid, signal);
      // Should the signal not end us, exit with the shell's code for it.
      setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 1000);
      return;
    }
    process.exit(code ?? 1);
  });
} else {
  const flags = missingServeFlags(process.argv.slice(2));
  const env = missingServeEnv(process.argv.slice(2));
  // Same process, same PID, the flags and variables added: nothing stands between a supervisor and serve.
  if (flags.length > 0 || Object.keys(env).length > 0) {
    process.execve(process.execPath, [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1)], { ...process.env, ...env });
  }
  enableOwnCompileCache();
  await import('../src/cli/main.ts');
}
