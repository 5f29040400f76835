// A real clamd for the tests (Debian clamav-daemon), in the foreground with its own
// config, on a unix socket in a temporary directory, and a signature database written
// here: the EICAR test file's MD5 and the MD5 of clam.exe from Debian's
// clamav-testfiles (computed from the file, not copied). No network, no freshclam: the
// two signatures load in well under a second.
//
// sharedClamd() is one clamd per test process, stopped when the process exits; tests
// that stop or pause clamd start their own with startClamd().
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The EICAR anti-virus test file (eicar.org), 68 octets. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
export const TESTFILES_DIR = '/usr/share/clamav-testfiles';
/** Signature names as clamd reports them (a database that is not ClamAV's own adds .UNOFFICIAL). */
export const SIGNATURE = { eicar: 'Kakitome.Test.EICAR.UNOFFICIAL', clamExe: 'Kakitome.Test.ClamExe.UNOFFICIAL' } as const;

export interface Clamd {
  socket: string;
  dir: string;
  /** SIGSTOP: clamd holds connections and answers nothing (a hung engine). */
  pause(): void;
  resume(): void;
  /** Stops clamd (SIGTERM, then waits for it to exit). */
  stop(): Promise<void>;
  /** Starts it again on the same socket and database. */
  start(): Promise<void>;
  running(): boolean;
  /** clamd's process id while it runs (benchmarks count its CPU as the scanning's). */
  pid(): number | undefined;
  /** Stops it and removes its directory (for after()). */
  dispose(): Promise<void>;
}

function clamdBinary(): string {
  for (const path of ['/usr/sbin/clamd', '/usr/bin/clamd']) if (existsSync(path)) return path;
  throw new Error('clamd not found: the tests need the Debian package clamav-daemon (npm test installs it as root)');
}

function md5Signature(data: Buffer, name: string): string {
  return `${createHash('md5').update(data).digest('hex')}:${data.length}:${name.replace(/\.UNOFFICIAL$/, '')}`;
}

export interface ClamdOptions {
  /** Also listen on this loopback TCP address (for a peer that runs as another user, e.g. rspamd in the benchmark). */
  tcp?: { host: string; port: number };
}

export async function startClamd(options: ClamdOptions = {}): Promise<Clamd> {
  const binary = clamdBinary();
  const dir = mkdtempSync(join(tmpdir(), 'kakitome-clamd-'));
  const db = join(dir, 'db');
  mkdirSync(db);
  writeFileSync(join(db, 'kakitome-test.hdb'), [
    md5Signature(Buffer.from(EICAR, 'latin1'), SIGNATURE.eicar),
    md5Signature(readFileSync(join(TESTFILES_DIR, 'clam.exe')), SIGNATURE.clamExe),
  ].join('\n') + '\n');
  const socket = join(dir, 'clamd.sock');
  const config = join(dir, 'clamd.conf');
  writeFileSync(config, [
    `LocalSocket ${socket}`,
    'LocalSocketMode 600',
    `DatabaseDirectory ${db}`,
    'Foreground yes',
    `LogFile ${join(dir, 'clamd.log')}`,
    // Longer than the largest message the tests send (kakitome's limit is 25 MB by default).
    'StreamMaxLength 40M',
    // Debian's clamd.conf limits, not clamd's compiled-in ones (400 MB scanned per
    // stream): an archive bomb in a test costs clamd a quarter of the inflating.
    'MaxScanSize 100M',
    'MaxFileSize 25M',
    'MaxThreads 4',
    'SelfCheck 0',
    'IdleTimeout 30',
    ...(options.tcp ? [`TCPSocket ${options.tcp.port}`, `TCPAddr ${options.tcp.host}`] : []),
  ].join('\n') + '\n');

  let child: ChildProcess | undefined;
  const clamd: Clamd = {
    socket,
    dir,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    pid: () => child?.pid,
    stop: async () => {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGCONT');
      running.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000)]);
      if (running.exitCode === null && running.signalCode === null) running.kill('SIGKILL');
      rmSync(socket, { force: true });
    },
    dispose: async () => {
      await clamd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    start: async () => {
      rmSync(socket, { force: true });
      // Its output goes to its log file; nothing of it keeps this process alive (unref):
      // the exit handler below stops it when the tests are done.
      const started = spawn(binary, [`--config-file=${config}`], { stdio: 'ignore' });
      started.unref();
      child = started;
      // A watchdog that stops clamd when this process is gone however it ends (a killed
      // test process, a fuzz worker terminated mid-run, where no exit handler runs): it
      // waits on a pipe from us, which the kernel closes with our last descriptor.
      const watchdog = spawn('sh', ['-c', 'read _; kill -CONT "$1"; kill -TERM "$1"', 'clamd-watchdog', String(started.pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
      watchdog.unref();
      (watchdog.stdin as unknown as { unref(): void }).unref();
      started.once('exit', () => watchdog.kill('SIGKILL'));
      live.add(started);
      started.once('exit', () => live.delete(started));
      for (let i = 0; i < 300 && !existsSync(socket); i++) {
        if (started.exitCode !== null) break;
        await sleep(20);
      }
      if (!existsSync(socket)) {
        started.kill('SIGKILL');
        const log = existsSync(join(dir, 'clamd.log')) ? readFileSync(join(dir, 'clamd.log'), 'utf8') : '';
        throw new Error(`clamd did not create its socket within 6 s\n${log.split('\n').slice(-10).join('\n')}`);
      }
    },
  };
  await clamd.start();
  return clamd;
}

/** Every clamd this process started and that still runs: none outlives the test process. */
const live = new Set<ChildProcess>();
const sharedDirs: string[] = [];
process.once('exit', () => {
  for (const child of live) {
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  }
  for (const dir of sharedDirs) rmSync(dir, { recursive: true, force: true });
});

let shared: Promise<Clamd> | undefined;

/** One clamd for every instance of this test process; stopped when the process exits. */
export function sharedClamd(): Promise<Clamd> {
  shared ??= startClamd().then((clamd) => {
    sharedDirs.push(clamd.dir);
    return clamd;
  });
  return shared;
}
