// A real kakitome, in process, for the session targets: `kakitome init` in a temporary
// directory (the CLI, as an administrator runs it), a user with a password and an APOP
// secret, then startServer() from src/app/server.ts in this thread with the config init
// wrote, its DNS on an NXDOMAIN server of its own, its antivirus a real clamd
// (test/harness/clamd.ts). Lockout limits are raised so that
// the fuzzer's failed logins do not lock the user out of the transaction state.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { startServer } from '../../src/app/server.ts';
import { pickPortOffset, portsForOffset, type ListenerPorts } from '../../test/harness/ports.ts';
import { startNxdomainDns } from './nxdomain-dns.ts';
import { sharedClamd } from '../../test/harness/clamd.ts';
import { useClamd } from '../../test/harness/instance.ts';

const KAKITOME = fileURLToPath(new URL('../../bin/kakitome.js', import.meta.url));
export const FUZZ_USER = { address: 'alice@example.test', password: 'fuzz-password-1', apopSecret: 'fuzz-apop-secret' };

export interface FuzzServer {
  host: string;
  ports: ListenerPorts;
  /** Resolves with the first reply line of a new connection to `port` (its greeting). */
  greeting(port: number): Promise<string>;
  stop(): Promise<void>;
}

function cli(args: string[], stdin?: string): void {
  const result = spawnSync(process.execPath, [KAKITOME, ...args], { input: stdin, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`kakitome ${args.join(' ')} failed: ${result.stderr}`);
}

export function firstLine(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\r\n');
      if (end >= 0) {
        socket.end('QUIT\r\n');
        resolve(text.slice(0, end));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`connection to ${port} closed before a greeting`)));
  });
}

export async function startFuzzServer(): Promise<FuzzServer> {
  const host = '127.0.0.1';
  // In memory where the machine has it: the fuzzer is about parsing, not durability, and
  // every delivery's fsync would otherwise set the pace.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'kakitome-fuzz-'));
  const dns = await startNxdomainDns();
  const offset = await pickPortOffset(host);
  const configPath = join(dir, 'kakitome.toml');
  cli(['init', '--dir', dir, '--domain', 'example.test', '--hostname', 'mail.example.test', '--port-offset', String(offset), '--listen', host, '--dns', dns.server]);
  cli(['user', 'add', FUZZ_USER.address, '--password-stdin', '--config', configPath], `${FUZZ_USER.password}\n`);
  cli(['user', 'apop', FUZZ_USER.address, '--secret-stdin', '--config', configPath], `${FUZZ_USER.apopSecret}\n`);
  // Every message is scanned, as in any instance: by a real clamd of this process.
  writeFileSync(configPath, useClamd(readFileSync(configPath, 'utf8'), (await sharedClamd()).socket));
  appendFileSync(configPath, '\n[auth]\nmax_failures_per_ip = 100000\nmax_failures_per_account = 100000\n\n[log]\nlevel = "fatal"\n');
  const server = await startServer(await loadConfig(configPath));
  return {
    host,
    ports: portsForOffset(offset),
    greeting: (port) => firstLine(host, port),
    async stop() {
      await server.stop();
      await dns.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
