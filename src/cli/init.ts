// `kakitome init`: a new instance directory with its config, data directory (0700),
// a self-signed TLS certificate, DKIM keys for the first domain and its postmaster@
// and abuse@ (pending until their user is added, unless --postmaster names a remote
// or otherwise existing address). Everything is
// built in a staging directory first and moved into place at the end, config last,
// so that a failure leaves nothing half-written.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { normaliseDomain } from '../mail/address.ts';
import { openStore } from '../store/store.ts';
import { addDomainWithKeys } from './domain.ts';
import { CliError } from './errors.ts';
import { roleAliasTarget } from './role-aliases.ts';
import { DEFAULT_CLAMD_SOCKET } from '../config/schema.ts';

export const CONFIG_FILE = 'kakitome.toml';
const DATA_DIR = 'data';
const TLS_DIR = 'tls';

/** The standard port of each listener role; `--port-offset` is added to each. */
export const STANDARD_PORTS = { smtp: 25, submission: 587, submissions: 465, pop3: 110, pop3s: 995 } as const;

export interface InitOptions {
  dir: string;
  domain: string;
  hostname?: string;
  portOffset?: number;
  listen?: string;
  dns?: string;
  /** Where postmaster@ and abuse@ deliver; default: the first user added. */
  postmaster?: string;
}

export interface InitResult {
  configPath: string;
  domain: string;
  hostname: string;
}

export async function initInstance(options: InitOptions): Promise<InitResult> {
  const dir = resolve(options.dir);
  const domain = normaliseDomain(options.domain);
  const hostname = normaliseDomain(options.hostname ?? `mail.${domain}`);
  const portOffset = options.portOffset ?? 0;
  if (!Number.isInteger(portOffset) || portOffset < 0 || portOffset + STANDARD_PORTS.pop3s > 65535) {
    throw new CliError(`--port-offset must be a whole number from 0 to ${65535 - STANDARD_PORTS.pop3s}`);
  }
  const listen = options.listen ?? '0.0.0.0';
  if (isIP(listen) === 0) throw new CliError(`--listen must be an IP address, got ${JSON.stringify(listen)}`);
  const dns = options.dns === undefined ? undefined : parseHostPort(options.dns);
  const roleAliases = roleAliasTarget(options.postmaster);

  for (const name of [CONFIG_FILE, DATA_DIR, TLS_DIR]) {
    if (existsSync(join(dir, name))) {
      throw new CliError(`${join(dir, name)} already exists; init never overwrites an instance`);
    }
  }
  mkdirSync(dir, { recursive: true });
  const staging = mkdtempSync(join(dir, '.kakitome-init-'));
  try {
    // Loaded here, not at start: pkijs is ~12 MB of memory that `serve` never needs.
    const { createSelfSignedCertificate } = await import('../tls/self-signed.ts');
    const certificate = await createSelfSignedCertificate(hostname);
    mkdirSync(join(staging, TLS_DIR), { mode: 0o700 });
    writeFileSync(join(staging, TLS_DIR, 'cert.pem'), certificate.certPem, { mode: 0o644 });
    writeFileSync(join(staging, TLS_DIR, 'key.pem'), certificate.keyPem, { mode: 0o600 });

    const store = openStore(join(staging, DATA_DIR), { create: true });
    try {
      await addDomainWithKeys(store, domain, roleAliases);
    } finally {
      await store.close();
    }
    writeFileSync(join(staging, CONFIG_FILE), configText({ hostname, listen, portOffset, dns }), { mode: 0o600 });

    renameSync(join(staging, TLS_DIR), join(dir, TLS_DIR));
    renameSync(join(staging, DATA_DIR), join(dir, DATA_DIR));
    renameSync(join(staging, CONFIG_FILE), join(dir, CONFIG_FILE));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { configPath: join(dir, CONFIG_FILE), domain, hostname };
}

/** "host:port" with IPv6 in brackets; the port is required. */
function parseHostPort(text: string): string {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || !host || port < 1 || port > 65535) {
    throw new CliError(`--dns must be HOST:PORT (IPv6 as [ADDR]:PORT), got ${JSON.stringify(text)}`);
  }
  return text;
}

/** A command-line number such as `--port-offset 10000` (its range is checked where it is used). */
export function parseWholeNumber(text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new CliError(`expected a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function endpoint(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

function configText(o: { hostname: string; listen: string; portOffset: number; dns: string | undefined }): string {
  const at = (role: keyof typeof STANDARD_PORTS) => JSON.stringify([endpoint(o.listen, STANDARD_PORTS[role] + o.portOffset)]);
  return `# kakitome configuration (TOML). Every key is described in the README's
# "Configuration reference"; \`kakitome check-config\` validates this file.
# Paths are relative to this file.

hostname = ${JSON.stringify(o.hostname)}
data_dir = "${DATA_DIR}"

[listen]
smtp        = ${at('smtp')}   # MTA: inbound mail for local domains, no AUTH
submission  = ${at('submission')}   # MSA: STARTTLS, then AUTH
submissions = ${at('submissions')}   # MSA: implicit TLS
pop3        = ${at('pop3')}   # POP3 with STLS; USER/PASS refused before TLS
pop3s       = ${at('pop3s')}   # POP3 over implicit TLS

[tls]
cert = "${TLS_DIR}/cert.pem"   # self-signed by init: replace with a CA-issued certificate
key  = "${TLS_DIR}/key.pem"

[dns]
servers = ${JSON.stringify(o.dns === undefined ? [] : [o.dns])}   # empty = the system resolver

[relay]
trusted_networks = []   # CIDRs that may relay without AUTH; loopback is not trusted

[pop_before_smtp]
enabled = false
ttl = "30m"

[outbound]
smtp_port = 25
source_ip = ""
hold = "0s"

[outbound.transport]
# "example.net" = "10.0.0.5:25"

[antivirus]
action = "reject"      # malware: 554 5.7.1 in the session, naming the signature
fail_open = false      # an engine down: 451 4.7.1, never delivered unscanned

[[antivirus.engine]]   # every engine scans every message; add more tables for more engines
type = "clamd"
socket = ${JSON.stringify(DEFAULT_CLAMD_SOCKET)}   # Debian: apt install clamav-daemon
`;
}
