// A kakitome instance for the POP3 benchmark, made only through its command line, as an
// administrator would: `init`, `user add`, `serve` — with its defaults. `serve` is our
// direct child (under `taskset -c CPU` when pinned: taskset execs node, so the pid is
// still serve's), and its /proc/PID/status VmHWM is kakitome's peak RSS.
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parse as parseToml } from 'smol-toml';
import { KAKITOME_BIN, runKakitome, useClamd } from '../../test/harness/instance.ts';
import { assertLoopback } from '../../test/harness/loopback.ts';
import { pickPortOffset, portsForOffset, type ListenerPorts } from '../../test/harness/ports.ts';
import { ServeLog, ServeProcess } from '../../test/harness/serve-process.ts';
import { cpuSeconds, pssBytes, statusBytes } from '../smtp-inbound/procfs.ts';

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
  /** `taskset -c CPU` for serve (every thread); undefined: not pinned. */
  cpu: number | undefined;
}

export interface KakitomePeer {
  settings: KakitomeSettings;
  ports: ListenerPorts;
  pid: number;
  /** The PEM certificate `init` made, which the client trusts. */
  cert: string;
  /** Rows in the messages table: messages delivered into mailboxes. */
  delivered(): number;
  cpuSeconds(): number;
  /** VmHWM of the serve process, in bytes. */
  peakRss(): number | undefined;
  /** Resets VmHWM to the current RSS (Linux ≥ 4.0: "5" to /proc/PID/clear_refs), so the next peak is the next phase's. */
  resetPeakRss(): boolean;
  pss(): number | undefined;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

async function mustSucceed(what: string, result: ReturnType<typeof runKakitome>): Promise<void> {
  const { code, stdout, stderr } = await result;
  if (code !== 0) throw new Error(`kakitome ${what} failed with exit code ${code}\n${stdout}${stderr}`);
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
  await mustSucceed(`user add ${settings.user}`, runKakitome(
    ['user', 'add', settings.user, '--password-stdin', '--config', configPath],
    { ...options, stdin: `${settings.password}\n` },
  ));
  const config = parseToml(await readFile(configPath, 'utf8')) as { data_dir?: unknown; tls?: { cert?: unknown } };
  const base = resolve(configPath, '..');
  const databasePath = join(resolve(base, typeof config.data_dir === 'string' ? config.data_dir : 'data'), DATABASE_FILE);
  const cert = readFileSync(resolve(base, typeof config.tls?.cert === 'string' ? config.tls.cert : 'tls/cert.pem'), 'utf8');

  const log = new ServeLog();
  const command = settings.cpu === undefined ? [process.execPath] : ['taskset', '-c', String(settings.cpu), process.execPath];
  const serve = await ServeProcess.start(command[0]!, [...command.slice(1), KAKITOME_BIN, 'serve', '--config', configPath], settings.dir, log, 30_000);
  const pid = serve.child.pid!;
  let db: DatabaseSync | undefined;

  return {
    settings,
    ports: portsForOffset(offset),
    pid,
    cert,
    delivered: () => {
      db ??= new DatabaseSync(databasePath, { readOnly: true });
      return Number((db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number | bigint }).n);
    },
    cpuSeconds: () => cpuSeconds(pid),
    peakRss: () => statusBytes(pid, 'VmHWM'),
    resetPeakRss: () => {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    },
    pss: () => pssBytes(pid),
    logTail: (lines = 20) => log.lines.slice(-lines).join('\n'),
    stop: async () => {
      db?.close();
      db = undefined;
      if (serve.running) await serve.stop('SIGTERM', 20_000, log);
    },
  };
}
