// `kakitome serve` (and `npm start`, which is `kakitome serve --dev`; `npm start --
// --port-offset N` makes the development instance on other ports).
import { existsSync } from 'node:fs';
import { flushCompileCache } from 'node:module';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { DEFAULT_CLAMD_SOCKET } from '../config/schema.ts';
import { startServer, type RunningServer } from '../app/server.ts';
import { hashPassword, generatePassword } from '../auth/password.ts';
import { openStore } from '../store/store.ts';
import { configPathOf, DEFAULT_CONFIG_FILE } from './context.ts';
import { CliError } from './errors.ts';
import { initInstance, parseWholeNumber, STANDARD_PORTS } from './init.ts';
import { print } from './io.ts';

/** SPEC: `npm start` with no config anywhere runs a development instance here. */
export const DEV_DIR = 'var/dev';
const DEV_DOMAIN = 'example.test';
const DEV_USER = `dev@${DEV_DOMAIN}`;
/** SPEC: the development instance listens on 127.0.0.1 with port offset 10000 (10025, …, 10995). */
export const DEV_PORT_OFFSET = 10_000;

function noConfigAnywhere(cmd: Command): boolean {
  return (
    cmd.optsWithGlobals<{ config?: string }>().config === undefined &&
    process.env.KAKITOME_CONFIG === undefined &&
    !existsSync(DEFAULT_CONFIG_FILE)
  );
}

/**
 * Creates the development instance on first run (with a user whose password is printed
 * once), with port offset `offset`. An existing one is reused; asked for another offset
 * (`--port-offset`), it is refused rather than served on ports the user did not ask for.
 */
async function ensureDevInstance(offset: number | undefined): Promise<string> {
  const configPath = resolve(DEV_DIR, 'kakitome.toml');
  if (existsSync(configPath)) {
    const existing = (await loadConfig(configPath)).listen.smtp[0];
    const existingOffset = existing === undefined ? undefined : existing.port - STANDARD_PORTS.smtp;
    if (offset !== undefined && offset !== existingOffset) {
      throw new CliError(
        `the development instance in ${DEV_DIR} has port offset ${existingOffset ?? '(none: no smtp listener)'}, not ${offset}; ` +
          `run without --port-offset to use it, or delete ${DEV_DIR} to make it again`,
      );
    }
    return configPath;
  }
  const portOffset = offset ?? DEV_PORT_OFFSET;
  await initInstance({ dir: DEV_DIR, domain: DEV_DOMAIN, listen: '127.0.0.1', portOffset });
  const password = generatePassword();
  const config = await loadConfig(configPath);
  const store = openStore(config.data_dir);
  try {
    await store.accounts.addUser(DEV_USER, DEV_DOMAIN, await hashPassword(password));
  } finally {
    await store.close();
  }
  print(`created the development instance in ${join(DEV_DIR)} (domain ${DEV_DOMAIN}, 127.0.0.1, ports +${portOffset})`);
  print(`user ${DEV_USER}, password: ${password}`);
  print(
    `mail is scanned by clamd at ${DEFAULT_CLAMD_SOCKET} (apt install clamav-daemon); while it does not answer, mail gets 451 4.7.1 ` +
      `([antivirus] in ${configPath})`,
  );
  return configPath;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run every configured listener until SIGTERM, SIGINT or SIGHUP, then drain sessions and exit 0')
    .option('--dev', `with no config anywhere, create (once) and run the development instance in ./${DEV_DIR}`)
    .option(
      '--port-offset <n>',
      `with --dev: the development instance's port offset when it is made (default ${DEV_PORT_OFFSET}), e.g. for a second one beside npm start`,
      parseWholeNumber,
    )
    .action(async (opts: { dev?: boolean; portOffset?: number }, cmd: Command) => {
      const dev = opts.dev === true && noConfigAnywhere(cmd);
      if (opts.portOffset !== undefined && !dev) {
        throw new CliError(
          opts.dev
            ? '--port-offset is for the development instance, but a config is given (--config, $KAKITOME_CONFIG or ./kakitome.toml) and its ports apply'
            : '--port-offset goes with --dev; a config file sets its own ports',
        );
      }
      const configPath = dev ? await ensureDevInstance(opts.portOffset) : configPathOf(cmd);
      const config = await loadConfig(configPath);
      // Handlers first: a signal that arrives while starting must still stop cleanly.
      let server: RunningServer | undefined;
      let stopRequested = false;
      const onSignal = (signal: NodeJS.Signals) => {
        stopRequested = true;
        server?.logger.info({ signal }, 'signal received');
        void server?.stop();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      // For now SIGHUP stops like SIGTERM (a supervisor or a closed terminal); it will become a reload.
      process.on('SIGHUP', onSignal);
      server = await startServer(config);
      // Everything serve runs is loaded now: write the compile cache (bin/kakitome.js)
      // at once, not at exit, so that a server that is killed still leaves it.
      flushCompileCache();
      if (stopRequested) void server.stop();
      await server.stopped;
      process.exit(0);
    });
}
