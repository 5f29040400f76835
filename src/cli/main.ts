// The `kakitome` command: a table of subcommands, one module per group.
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../config/load.ts';
import { configPathOf } from './context.ts';
import { registerDomainCommands } from './domain.ts';
import { CliError, isUserFacing, oneLine } from './errors.ts';
import { initInstance, parseWholeNumber, type InitOptions } from './init.ts';
import { POSTMASTER_OPTION_HELP, roleAliasLines } from './role-aliases.ts';
import { print } from './io.ts';
import { registerServeCommand } from './serve.ts';
import { registerUserCommands } from './user.ts';
import { registerQueueCommands } from './queue.ts';
import { registerQuarantineCommands } from './quarantine.ts';
import { registerSpamCommands } from './spam.ts';
import { registerDkimCommands } from './dkim.ts';
import { dnsRecordsText } from './domain.ts';
import { openStore } from '../store/store.ts';

const CONFIG_HELP = 'config file (default: $KAKITOME_CONFIG, else ./kakitome.toml)';

function buildProgram(): Command {
  const program = new Command('kakitome')
    .description('kakitome: a secure mail server for your own domains (MTA, MSA, MDA, POP3, outbound relay)')
    .option('--config <file>', CONFIG_HELP)
    .showHelpAfterError('(run kakitome --help for the list of commands)')
    .exitOverride();

  program
    .command('init')
    .description('create DIR/kakitome.toml, the data directory, a self-signed TLS certificate and DKIM keys; print the DNS records')
    .requiredOption('--dir <dir>', 'instance directory to create')
    .requiredOption('--domain <domain>', 'first local domain')
    .option('--hostname <host>', 'the server host name (default: mail.DOMAIN)')
    .option('--port-offset <n>', 'add N to every standard port (25, 587, 465, 110, 995)', parseWholeNumber)
    .option('--listen <addr>', 'IP address every listener binds to (default 0.0.0.0)')
    .option('--dns <host:port>', 'DNS resolver to use instead of the system one')
    .option('--postmaster <address>', POSTMASTER_OPTION_HELP)
    .action(async (opts: InitOptions) => {
      const result = await initInstance(opts);
      print(`created ${result.configPath}`);
      print(`publish these DNS records for ${result.domain}:`);
      print();
      const config = await loadConfig(result.configPath);
      const store = openStore(config.data_dir);
      let awaitsFirstUser: boolean;
      try {
        print(await dnsRecordsText(store, result.domain, result.hostname));
        print();
        for (const line of await roleAliasLines(store, result.domain)) print(line);
        awaitsFirstUser = (await store.accounts.listPendingAliases()).some((p) => p.awaiting === null);
      } finally {
        await store.close();
      }
      print();
      const role = awaitsFirstUser ? ' (the first user also receives the mail to postmaster@ and abuse@)' : '';
      print(`next: kakitome --config ${result.configPath} user add ADDRESS${role}`);
    });

  registerServeCommand(program);

  program
    .command('check-config')
    .description('validate the config file; print what is wrong with its location')
    .action(async (_opts, cmd: Command) => {
      const path = configPathOf(cmd);
      await loadConfig(path);
      print(`${path}: ok`);
    });

  registerDomainCommands(program);
  registerUserCommands(program);
  registerQueueCommands(program);
  registerQuarantineCommands(program);
  registerSpamCommands(program);
  registerDkimCommands(program);

  // SPEC: every subcommand takes --config FILE, before or after the subcommand name.
  const addConfigOption = (cmd: Command) => {
    if (cmd.name() !== 'kakitome' && cmd.name() !== 'init' && cmd.commands.length === 0) {
      cmd.option('--config <file>', CONFIG_HELP);
    }
    cmd.commands.forEach(addConfigOption);
    cmd.exitOverride();
  };
  addConfigOption(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its message (or the help / version text).
      return err.exitCode === 0 ? 0 : 2;
    }
    if (isUserFacing(err)) {
      process.stderr.write(`kakitome: ${oneLine(err.message)}\n`);
      return 1;
    }
    process.stderr.write(`kakitome: internal error: ${oneLine((err as Error)?.stack ?? String(err))}\n`);
    return 70; // EX_SOFTWARE
  }
}

// Files kakitome creates (database, message files, keys) are for its own user only.
process.umask(0o077);
process.exitCode = await main(process.argv);
