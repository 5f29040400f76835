// `kakitome serve` started each documented way stops cleanly when a supervisor
// signals only the top process: `npx kakitome serve`, `node bin/kakitome.js serve`
// under an older system Node (the wrapper re-runs itself under Node 24) and
// `npm start`. After SIGTERM (or SIGINT, SIGHUP) to that one PID: exit status 0,
// every process of the tree recorded while it ran is gone, and the ports are free.
//
// npm (and so npx) forwards only SIGTERM and SIGINT, to the shell it runs the command
// in. The project's .npmrc makes that shell bash, which exec-s a single command, so
// the wrapper (npx) or the server (`npm start`) is npm's own child and gets them;
// Debian's /bin/sh (dash) would die of SIGTERM and orphan the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suiteInstance, KAKITOME_BIN } from '../harness/instance.ts';
import { childEnv, settlesWithin } from '../harness/processes.ts';
import { isTcpPortFree } from '../harness/ports.ts';
import { ServeLog, ServeProcess } from '../harness/serve-process.ts';
import { alive, describeProcesses, processTree } from '../harness/process-tree.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** PATH as a user's shell has it: without any node_modules/.bin that npm put first. */
function userPath(): string {
  return (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.includes('node_modules')).join(delimiter);
}

/** Every executable `name` on the user's PATH (like `which -a`). */
function onPath(name: string): string[] {
  const found: string[] = [];
  for (const dir of userPath().split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      found.push(join(dir, name));
    } catch {
      // not here
    }
  }
  return found;
}

/** The first Node older than 24 on the user's PATH: the one the wrapper exists for. */
function systemNode(): string | undefined {
  return onPath('node').find((bin) => {
    const version = spawnSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
    return Number(version.split('.')[0]) < 24;
  });
}

/** Polls `check` until it holds or `bound` ms have passed (a bound against hanging, not a timing claim). */
async function eventually(check: () => boolean | Promise<boolean>, bound = 30_000): Promise<boolean> {
  for (const until = Date.now() + bound; Date.now() < until;) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

const stoppedInstance = suiteInstance({}, { stopped: true });

interface Way {
  name: string;
  /** The command, or why this machine cannot have it (the only reason to skip). */
  command: () => { command: string; args: string[] } | string;
}

const WAYS: Record<string, Way> = {
  npx: {
    name: 'npx kakitome serve',
    command: () => {
      const npx = onPath('npx')[0];
      assert.ok(npx, 'npx is not on PATH (it comes with npm, which runs npm test)');
      return { command: npx, args: ['kakitome', 'serve'] };
    },
  },
  wrapper: {
    name: 'node bin/kakitome.js serve under the system Node',
    command: () => {
      const node = systemNode();
      return node ? { command: node, args: [KAKITOME_BIN, 'serve'] } : 'no Node older than 24 on PATH';
    },
  },
  npmStart: {
    name: 'npm start',
    command: () => {
      const npm = onPath('npm')[0];
      assert.ok(npm, 'npm is not on PATH (npm test runs under it)');
      return { command: npm, args: ['start'] };
    },
  },
  node24: {
    name: 'node bin/kakitome.js serve under Node 24',
    command: () => ({ command: process.execPath, args: [KAKITOME_BIN, 'serve'] }),
  },
};

const CASES: Array<[keyof typeof WAYS, NodeJS.Signals]> = [
  ['npx', 'SIGTERM'],
  ['npx', 'SIGINT'],
  ['wrapper', 'SIGTERM'],
  ['wrapper', 'SIGINT'],
  ['wrapper', 'SIGHUP'],
  ['npmStart', 'SIGTERM'],
  ['npmStart', 'SIGINT'],
  ['node24', 'SIGHUP'],
];

for (const [way, signal] of CASES) {
  test(`${WAYS[way]!.name}: ${signal} to the top PID drains, exits 0 and leaves no process or port behind`, async (t) => {
    const how = WAYS[way]!.command();
    if (typeof how === 'string') {
      t.skip(how); // skip reason: with no Node older than 24 on PATH, there is no old Node for the wrapper to leave
      return;
    }
    const instance = stoppedInstance();
    const env = childEnv({ PATH: userPath(), KAKITOME_CONFIG: instance.configPath, npm_config_offline: 'true', npm_config_update_notifier: 'false' });
    for (const name of Object.keys(env)) if (/^npm_(lifecycle|package|config_(?!offline|update_notifier))/i.test(name)) delete env[name];
    const log = new ServeLog();
    const serve = await ServeProcess.start(how.command, how.args, ROOT, log, 60_000, env);
    const top = serve.child.pid!;
    const tree = processTree(top);
    t.after(() => {
      // Whatever happened, nothing of this tree outlives the test.
      for (const p of alive(tree)) {
        try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    });
    assert.ok(tree.length >= 1, 'the process tree was recorded');

    process.kill(top, signal);
    const exited = await settlesWithin(serve.exited, 30_000);
    if (!exited) serve.child.kill('SIGKILL');
    assert.ok(exited, `the top process (${how.command} ${how.args.join(' ')}) did not exit after ${signal}; logs:\n${log.lines.join('\n')}`);
    assert.deepEqual({ code: serve.child.exitCode, signal: serve.child.signalCode }, { code: 0, signal: null },
      `exit status after ${signal}; logs:\n${log.lines.join('\n')}`);
    assert.ok(log.entries().some((e) => e.msg === 'stopped'), `the server drained and logged "stopped"; logs:\n${log.lines.join('\n')}`);

    await eventually(() => alive(tree).length === 0);
    assert.deepEqual(describeProcesses(alive(tree)), '', `processes of the tree (${tree.map((p) => p.pid).join(' ')}) still running after the top one exited`);

    const ports = Object.values(instance.ports);
    await eventually(async () => (await Promise.all(ports.map((port) => isTcpPortFree(port, instance.host)))).every(Boolean));
    for (const port of ports) assert.ok(await isTcpPortFree(port, instance.host), `port ${port} is free again`);
  });
}
