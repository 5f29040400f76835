// A real kakitome instance in a temporary directory, created and run only through
// the public command line (`kakitome init`, `domain add`, `user add`, `alias add`,
// `serve`), exactly as an administrator would.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { DEFAULT_CLAMD_SOCKET } from '../../src/config/schema.ts';
import { sharedClamd } from './clamd.ts';
import { fileURLToPath } from 'node:url';
import { after, before, type TestContext } from 'node:test';
import { afterTest, keepTestDirs } from './cleanup.ts';
import { startDns, type DnsFixture } from './dns.ts';
import { assertLoopback } from './loopback.ts';
import { pickPortOffset, portsForOffset, type ListenerPorts } from './ports.ts';
import { makeTempDir, removeDir, run, type RunResult } from './processes.ts';
import { PortTakenError, ServeLog, ServeProcess, type LogEntry } from './serve-process.ts';

let sharedEmptyDns: Promise<DnsFixture> | undefined;

/** One dnsmasq per test process that answers NXDOMAIN to everything (stopped at exit). */
/** The config `init` wrote, scanning with the clamd at `socket`. */
export function useClamd(toml: string, socket: string): string {
  const line = `socket = ${JSON.stringify(DEFAULT_CLAMD_SOCKET)}`;
  if (!toml.includes(line)) throw new Error(`the config init wrote has no ${line}`);
  return toml.replace(line, `socket = ${JSON.stringify(socket)}`);
}

function emptyDns(): Promise<DnsFixture> {
  sharedEmptyDns ??= startDns({}, { background: true });
  return sharedEmptyDns;
}

export const KAKITOME_BIN = fileURLToPath(new URL('../../bin/kakitome.js', import.meta.url));

export interface CliOptions {
  stdin?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `kakitome ARGS…` under this Node (24) and returns what the user sees. */
export async function runKakitome(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const result: RunResult = await run(process.execPath, [KAKITOME_BIN, ...args], {
    stdin: options.stdin,
    cwd: options.cwd,
    env: options.env,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  return { code: result.code, stdout: result.stdout, stderr: result.stderr };
}

export interface UserSpec {
  address: string;
  password: string;
}

export interface InstanceOptions {
  /** First local domain; default example.test. */
  domain?: string;
  /** Default mail.<domain>. */
  hostname?: string;
  /** More local domains (`kakitome domain add`). */
  domains?: string[];
  users?: UserSpec[];
  aliases?: Record<string, string | string[]>;
  /** `init --postmaster ADDRESS`: where postmaster@ and abuse@ deliver; default the first user. */
  postmaster?: string;
  /** Loopback address to listen on; default 127.0.0.1. */
  listen?: string;
  /** Default: a random offset with all five listener ports free. */
  portOffset?: number;
  /** Resolver for kakitome: a DNS fixture's server, "host:port"; default: an empty fixture (never the system resolver). */
  dns?: string;
  /** The clamd the instance scans with (its unix socket); default: this test process's shared clamd (harness/clamd.ts). */
  clamdSocket?: string;
  /** Rewrites the generated kakitome.toml before the first `serve`. */
  editConfig?: (toml: string) => string;
  /** Runs after the config is written, before the first `serve` (files the config names). */
  beforeServe?: (dir: string) => void | Promise<void>;
  /** Stop the instance when this test ends; its directory is kept if the test failed. */
  t?: TestContext;
  readyTimeoutMs?: number;
}

export interface Instance {
  /** The instance directory (`init --dir`). */
  dir: string;
  configPath: string;
  /** The self-signed certificate made by init, usable as a client's CA file. */
  certPath: string;
  domain: string;
  hostname: string;
  host: string;
  ports: ListenerPorts;
  /** `kakitome ARGS… --config <this instance>`. */
  cli(args: readonly string[], options?: CliOptions): Promise<CliResult>;
  /** Every stdout/stderr line of every `serve` run so far. */
  logs(): string[];
  /** The JSON (pino) lines of `logs()`, parsed. */
  logEntries(): LogEntry[];
  /** Resolves with the first log entry (past or future) matching; rejects after timeoutMs. */
  waitForLog(match: (entry: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>;
  running(): boolean;
  /** Sends `signal` and waits for exit; returns the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL, as a crash would; waits for exit. */
  kill(): Promise<void>;
  /** Stops (SIGTERM) if running, then serves again and waits until ready. */
  restart(): Promise<void>;
  /** Stops if running and removes the directory. */
  close(): Promise<void>;
}

function withConfig(args: readonly string[], configPath: string): string[] {
  if (args.includes('--config')) return [...args];
  const end = args.indexOf('--');
  return end < 0 ? [...args, '--config', configPath] : [...args.slice(0, end), '--config', configPath, ...args.slice(end)];
}

async function mustSucceed(what: string, result: Promise<CliResult>): Promise<CliResult> {
  const { code, stdout, stderr } = await result;
  if (code !== 0) throw new Error(`kakitome ${what} failed with exit code ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  return { code, stdout, stderr };
}

export async function startInstance(options: InstanceOptions = {}): Promise<Instance> {
  // A port chosen free may be taken by someone else before serve binds it; then the
  // whole instance is made again with another offset.
  for (let attempt = 1; ; attempt++) {
    try {
      return await createAndServe(options);
    } catch (error) {
      const portTaken = error instanceof PortTakenError;
      if (!portTaken || options.portOffset !== undefined || attempt >= 3) throw error;
    }
  }
}

/** The `[tls] cert` file named in the config, resolved against the config's directory. */
async function certificatePath(configPath: string): Promise<string> {
  const config = parseToml(await readFile(configPath, 'utf8')) as { tls?: { cert?: unknown } };
  const cert = typeof config.tls?.cert === 'string' ? config.tls.cert : 'tls/cert.pem';
  return resolve(dirname(configPath), cert);
}

async function createAndServe(options: InstanceOptions): Promise<Instance> {
  const host = options.listen ?? '127.0.0.1';
  assertLoopback(host, 'listen address');
  const domain = options.domain ?? 'example.test';
  const hostname = options.hostname ?? `mail.${domain}`;
  const portOffset = options.portOffset ?? (await pickPortOffset(host));
  const dir = await makeTempDir('kakitome-instance');
  const configPath = join(dir, 'kakitome.toml');
  const cli = (args: readonly string[], cliOptions: CliOptions = {}) =>
    runKakitome(withConfig(args, configPath), { cwd: dir, ...cliOptions });

  const log = new ServeLog();
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  let serve: ServeProcess | undefined;
  const startServing = async () => {
    serve = undefined;
    serve = await ServeProcess.start(process.execPath, [KAKITOME_BIN, 'serve', '--config', configPath], dir, log, readyTimeoutMs);
  };
  const stop: Instance['stop'] = async (signal = 'SIGTERM', timeoutMs = 10_000) => (serve ? serve.stop(signal, timeoutMs, log) : null);

  let certPath: string;
  try {
    const initArgs = ['init', '--dir', dir, '--domain', domain, '--hostname', hostname, '--port-offset', String(portOffset), '--listen', host];
    // Never the system resolver: an instance's lookups (SPF, DKIM, DMARC, MX, DNSBL)
    // must stay on loopback, so without a fixture of its own it gets an empty one.
    initArgs.push('--dns', options.dns ?? (await emptyDns()).server);
    if (options.postmaster !== undefined) initArgs.push('--postmaster', options.postmaster);
    await mustSucceed('init', runKakitome(initArgs, { cwd: dir }));
    for (const extra of options.domains ?? []) await mustSucceed(`domain add ${extra}`, cli(['domain', 'add', extra]));
    for (const user of options.users ?? []) {
      await mustSucceed(`user add ${user.address}`, cli(['user', 'add', user.address, '--password-stdin'], { stdin: `${user.password}\n` }));
    }
    for (const [alias, targets] of Object.entries(options.aliases ?? {})) {
      const targetList = Array.isArray(targets) ? targets : [targets];
      await mustSucceed(`alias add ${alias}`, cli(['alias', 'add', alias, ...targetList]));
    }
    // The default engine is clamd at Debian's socket; every instance scans with a real
    // clamd of the tests instead.
    const clamdSocket = options.clamdSocket ?? (await sharedClamd()).socket;
    await writeFile(configPath, useClamd(await readFile(configPath, 'utf8'), clamdSocket));
    if (options.editConfig) await writeFile(configPath, options.editConfig(await readFile(configPath, 'utf8')));
    await options.beforeServe?.(dir);
    certPath = await certificatePath(configPath);
    await startServing();
  } catch (error) {
    if (!keepTestDirs()) await removeDir(dir);
    throw error;
  }

  const instance: Instance = {
    dir,
    configPath,
    certPath,
    domain,
    hostname,
    host,
    ports: portsForOffset(portOffset),
    cli,
    logs: () => [...log.lines],
    logEntries: () => log.entries(),
    waitForLog: (match, timeoutMs = 10_000) => log.waitFor(match, timeoutMs),
    running: () => serve?.running ?? false,
    stop,
    kill: async () => {
      await stop('SIGKILL');
    },
    restart: async () => {
      if (serve?.running) await stop();
      await startServing();
    },
    close: async () => {
      if (serve?.running) await stop();
      await removeDir(dir);
    },
  };
  if (options.t) {
    const t = options.t;
    afterTest(t, async (passed) => {
      if (serve?.running) await stop().catch(() => stop('SIGKILL'));
      if (passed && !keepTestDirs()) await removeDir(dir);
      else t.diagnostic(`kakitome instance directory kept: ${dir}`);
    });
  }
  return instance;
}

/**
 * Inside a describe() (or at the top of a file): one instance started before the
 * suite's tests and closed after them. Returns its getter, to call inside the tests.
 * With `stopped`, its serve is stopped once it has started: for tests that run serve
 * themselves on its configuration.
 */
export function suiteInstance(options: InstanceOptions = {}, { stopped = false }: { stopped?: boolean } = {}): () => Instance {
  let instance: Instance | undefined;
  before(async () => {
    instance = await startInstance(options);
    if (stopped) await instance.stop();
  });
  after(async () => {
    await instance?.close();
  });
  return () => {
    if (!instance) throw new Error('suiteInstance: the instance is not running (call it inside a test)');
    return instance;
  };
}
