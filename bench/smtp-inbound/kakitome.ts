// A kakitome instance for the benchmark, made only through its command line, as an
// administrator would: `init`, `user add`, `serve`. Its `serve` process is our direct
// child (bin/kakitome.js under this Node 24 does not re-exec), so its pid is the one
// whose /proc/PID/status VmHWM is kakitome's peak RSS.
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { parse as parseToml } from 'smol-toml';
import { KAKITOME_BIN, runKakitome, useClamd } from '../../test/harness/instance.ts';
import { assertLoopback } from '../../test/harness/loopback.ts';
import { pickPortOffset, portsForOffset } from '../../test/harness/ports.ts';
import { ServeLog, ServeProcess } from '../../test/harness/serve-process.ts';
import { cpuSeconds, statusBytes } from './procfs.ts';

/** src/store/store.ts DATABASE_FILE: the metadata database inside data_dir. */
const DATABASE_FILE = 'kakitome.db';

export interface KakitomeSettings {
  /** An empty directory for `init --dir`. */
  dir: string;
  host: string;
  domain: string;
  user: string;
  password: string;
  /** `--dns HOST:PORT`: a loopback resolver, so nothing kakitome looks up leaves the machine. */
  dns: string;
  /** The clamd every message is scanned by (the default config's one engine), started by the benchmark. */
  clamd: { socket: string; pid(): number | undefined };
  /** A YARA rule: a second engine ([[antivirus.engine]] type = "yara") with it, as its only rule file. */
  yaraRule?: string;
  /** Run serve under `--cpu-prof`, its profile written into this directory at exit. */
  cpuProfileDir?: string;
}

export interface KakitomePeer {
  settings: KakitomeSettings;
  port: number;
  pid: number;
  /** Rows in the messages table: messages delivered into mailboxes. */
  delivered(): number;
  /** CPU seconds used so far by the serve process (all threads) and by its clamd: the scanning is part of the work. */
  cpuSeconds(): number;
  /** Peak resident set of the serve process so far (VmHWM), in bytes. */
  peakRss(): number | undefined;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

async function mustSucceed(what: string, result: ReturnType<typeof runKakitome>): Promise<void> {
  const { code, stdout, stderr } = await result;
  if (code !== 0) throw new Error(`kakitome ${what} failed with exit code ${code}\n${stdout}${stderr}`);
}

async function dataDirectory(configPath: string): Promise<string> {
  const config = parseToml(await readFile(configPath, 'utf8')) as { data_dir?: unknown };
  return resolve(join(configPath, '..'), typeof config.data_dir === 'string' ? config.data_dir : 'data');
}

function profileFlags(settings: KakitomeSettings): string[] {
  return settings.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', settings.cpuProfileDir] : [];
}

export async function startKakitome(settings: KakitomeSettings): Promise<KakitomePeer> {
  assertLoopback(settings.host, 'kakitome listen address');
  const offset = await pickPortOffset(settings.host);
  const configPath = join(settings.dir, 'kakitome.toml');
  const options = { cwd: settings.dir, timeoutMs: 60_000 };
  await mustSucceed('init', runKakitome(
    ['init', '--dir', settings.dir, '--domain', settings.domain, '--listen', settings.host, '--port-offset', String(offset), '--dns', settings.dns],
    options,
  ));
  await writeFile(configPath, useClamd(await readFile(configPath, 'utf8'), settings.clamd.socket));
  if (settings.yaraRule !== undefined) {
    await mkdir(join(settings.dir, 'yara-rules'));
    await writeFile(join(settings.dir, 'yara-rules', 'bench.yar'), settings.yaraRule);
    await appendFile(configPath, '\n[[antivirus.engine]]\ntype = "yara"\nrules = "yara-rules"\n');
  }
  await mustSucceed(`user add ${settings.user}`, runKakitome(
    ['user', 'add', settings.user, '--password-stdin', '--config', configPath],
    { ...options, stdin: `${settings.password}\n` },
  ));

  const log = new ServeLog();
  const serve = await ServeProcess.start(process.execPath, [...profileFlags(settings), KAKITOME_BIN, 'serve', '--config', configPath], settings.dir, log, 30_000);
  const pid = serve.child.pid!;
  let db: DatabaseSync | undefined;
  let count: StatementSync | undefined;
  const databasePath = join(await dataDirectory(configPath), DATABASE_FILE);

  return {
    settings,
    port: portsForOffset(offset).smtp,
    pid,
    delivered: () => {
      // Read-only, one short read transaction per call: a WAL reader that does not hold
      // back kakitome's writers.
      db ??= new DatabaseSync(databasePath, { readOnly: true });
      count ??= db.prepare('SELECT count(*) AS n FROM messages');
      return Number((count.get() as { n: number | bigint }).n);
    },
    cpuSeconds: () => {
      const clamd = settings.clamd.pid();
      return cpuSeconds(pid) + (clamd === undefined ? 0 : cpuSeconds(clamd));
    },
    peakRss: () => statusBytes(pid, 'VmHWM'),
    logTail: (lines = 20) => log.lines.slice(-lines).join('\n'),
    stop: async () => {
      db?.close();
      db = undefined;
      if (serve.running) await serve.stop('SIGTERM', 20_000, log);
    },
  };
}
