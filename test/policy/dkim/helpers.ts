// Verifying DKIM signatures the way a receiver does, against the DNS records that
// `kakitome dns` prints: the zone-file text is parsed back into TXT character-strings,
// served by a fake resolver to mailauth's dkimVerify, and handed to Debian's dkimpy
// (python3-dkim) as an independent second verifier.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dkimVerify } from 'mailauth';
import { childEnv, makeTempDir, removeDir, run } from '../../harness/processes.ts';

const PY_SCRIPT = fileURLToPath(new URL('./py/dkim_verify.py', import.meta.url));
// Debian's python3-dkim installs into /usr/lib/python3/dist-packages, which only the
// system interpreter sees (a python3 from pyenv or a venv earlier on PATH does not).
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** DNS name (lower case, no final dot) → the TXT record's character-strings, unescaped. */
export type TxtZone = Map<string, string[]>;

/**
 * Reads the TXT records back from zone-file text as toZoneFile writes it (RFC 1035
 * §5.1: quoted character-strings, `\"` and `\\` escapes, a record continued inside
 * parentheses). Checks that no character-string is longer than 255 octets
 * (RFC 1035 §3.3.14), as a name server loading the zone would.
 */
export function parseZoneTxt(zone: string): TxtZone {
  const records: TxtZone = new Map();
  const text = zone.replace(/^;.*$/gm, '');
  const record = /^(\S+)\s+\d+\s+IN\s+TXT\s+(\([^)]*\)|"(?:[^"\\]|\\.)*")/gm;
  for (const match of text.matchAll(record)) {
    const strings = [...match[2]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
    for (const s of strings) {
      if (Buffer.byteLength(s, 'latin1') > 255) throw new Error(`character-string of ${s.length} octets in ${match[1]}`);
    }
    const name = match[1]!.replace(/\.$/, '').toLowerCase();
    records.set(name, strings);
  }
  return records;
}

/** A mailauth resolver serving the zone's TXT records; every other name is NXDOMAIN. */
export function resolverFor(zone: TxtZone) {
  return async (name: string, type: string): Promise<string[][]> => {
    const strings = type === 'TXT' ? zone.get(name.replace(/\.$/, '').toLowerCase()) : undefined;
    if (!strings) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return [strings];
  };
}

export interface Verification {
  /** selector → result (pass, fail, neutral, …) */
  bySelector: Record<string, string>;
  /** every result, in header order */
  results: { selector: string; algorithm: string; result: string; info: string }[];
}

/** Verifies every DKIM signature of the message with mailauth's dkimVerify. */
export async function verifyWithMailauth(message: Buffer, zone: TxtZone, now?: Date): Promise<Verification> {
  const verified = await dkimVerify(message, { resolver: resolverFor(zone), ...(now ? { curTime: now } : {}) });
  const results = verified.results.map((r) => ({
    selector: String(r.selector ?? ''),
    algorithm: String(r.algo ?? ''),
    result: String(r.status?.result ?? ''),
    info: String(r.info ?? ''),
  }));
  return { bySelector: Object.fromEntries(results.map((r) => [r.selector, r.result])), results };
}

export interface DkimpyResult {
  d: string;
  s: string;
  a: string;
  ok: boolean;
  log: string[];
}

/** Verifies every DKIM signature of the message with dkimpy (Debian python3-dkim). */
export async function verifyWithDkimpy(message: Buffer, zone: TxtZone): Promise<DkimpyResult[]> {
  const dir = await makeTempDir('kakitome-dkimpy');
  try {
    const recordsFile = join(dir, 'records.json');
    await writeFile(recordsFile, JSON.stringify(Object.fromEntries(zone)));
    const result = await run(PYTHON, [PY_SCRIPT, recordsFile], {
      stdin: message,
      env: childEnv({ PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' }),
      missingHint: 'Debian package python3-dkim, see .ci/run',
    });
    if (result.code !== 0) {
      const hint = /No module named '(dkim|nacl)'/.test(result.stderr) ? ' (install the Debian packages python3-dkim and python3-nacl)' : '';
      throw new Error(`dkim_verify.py failed (exit ${result.code})${hint}\n${result.stderr}`);
    }
    return (JSON.parse(result.stdout) as { signatures: DkimpyResult[] }).signatures;
  } finally {
    await removeDir(dir);
  }
}

/** The tags of each DKIM-Signature field in a block of header fields. */
export function signatureTags(fields: string): Record<string, string>[] {
  return fields
    .split(/\r\n(?=\S)/)
    .filter((f) => /^DKIM-Signature:/i.test(f))
    .map((f) => {
      const value = f.slice(f.indexOf(':') + 1).replace(/\r\n[ \t]/g, ' ');
      const tags: Record<string, string> = {};
      for (const part of value.split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0) tags[part.slice(0, eq).trim()] = part.slice(eq + 1).replace(/\s+/g, '');
      }
      return tags;
    });
}
