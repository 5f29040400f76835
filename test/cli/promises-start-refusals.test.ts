// `kakitome serve` refuses to start, with one line on stderr and a non-zero exit, and
// without listening on any port (README, Running a production instance: "refuses to
// start … when … the certificate or key is … mismatched … or the data directory is
// open to group or others"; Data directory: "0700; serve refuses to start if group or
// others can enter it").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startInstance, runKakitome, type Instance } from '../harness/instance.ts';
import { isTcpPortFree } from '../harness/ports.ts';

/** Runs `serve` on a stopped instance that must refuse to start; returns its stderr. */
async function refusedServe(instance: Instance, why: string): Promise<string> {
  const result = await runKakitome(['serve', '--config', instance.configPath], { timeoutMs: 20_000 }); // hang guard: a serve that starts never exits
  assert.equal(result.code, 1, `serve with ${why}: exit status\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  assert.doesNotMatch(result.stdout, /"msg":"ready"/, `serve with ${why} must never be ready`);
  assert.match(result.stderr, /^kakitome: [^\n]+\n$/, `serve with ${why}: one line on stderr, got ${JSON.stringify(result.stderr)}`);
  for (const [role, port] of Object.entries(instance.ports)) {
    assert.ok(await isTcpPortFree(port, instance.host), `serve with ${why} left ${role} port ${port} bound (a partial start)`);
  }
  return result.stderr;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Sets `[tls] key` (the only `key =` line of the config init made) to tls/NAME. */
function setKeyFile(instance: Instance, name: string): void {
  const toml = readFileSync(instance.configPath, 'utf8');
  assert.equal(toml.match(/^key\s*=.*$/gm)?.length, 1, 'the config made by init has one key = line, [tls] key');
  writeFileSync(instance.configPath, toml.replace(/^key\s*=.*$/m, `key = "tls/${name}"`));
}

/** Writes `pem` to tls/NAME and makes it `[tls] key`; returns its absolute path. */
function useKey(instance: Instance, name: string, pem: string): string {
  const path = join(instance.dir, 'tls', name);
  writeFileSync(path, pem, { mode: 0o600 });
  setKeyFile(instance, name);
  return path;
}

test('a TLS key that is not the certificate\'s (another RSA key, an EC key) is refused at start: one line naming both files and the mismatch, exit 1, nothing listening', async (t) => {
  const instance = await startInstance({ t });
  assert.equal(await instance.stop(), 0);
  const keys = {
    'another RSA 2048 key': generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    'an EC P-256 key': generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
  };
  let n = 0;
  for (const [what, key] of Object.entries(keys)) {
    const keyPath = useKey(instance, `other-key-${++n}.pem`, key.export({ type: 'pkcs8', format: 'pem' }).toString());
    const stderr = await refusedServe(instance, `${what} beside the certificate`);
    assert.match(
      stderr,
      new RegExp(`^kakitome: TLS certificate ${escape(instance.certPath)} and key ${escape(keyPath)} are unusable: .*key values mismatch`),
      `${what}: the error names the certificate, the key and the mismatch`,
    );
  }
  // The certificate's own key again: serve starts (the refusals were about the key alone).
  setKeyFile(instance, 'key.pem');
  await instance.restart();
  assert.ok(instance.running(), 'serve runs with the matching key');
});

test('a data directory group or others can enter (0710, 0701) or more (0750, 0770, 0755) is refused at start with the chmod to run; 0700 starts', async (t) => {
  const instance = await startInstance({ t });
  assert.equal(await instance.stop(), 0);
  const dataDir = join(instance.dir, 'data');
  assert.equal(statSync(dataDir).mode & 0o777, 0o700, 'init made the data directory 0700');
  for (const mode of [0o710, 0o701, 0o750, 0o770, 0o755]) {
    chmodSync(dataDir, mode);
    const octal = mode.toString(8);
    const stderr = await refusedServe(instance, `the data directory at mode ${octal}`);
    assert.equal(
      stderr,
      `kakitome: data directory ${dataDir} is open to group or others (mode ${octal}); run: chmod 700 ${dataDir}\n`,
      `mode ${octal}`,
    );
    assert.equal(statSync(dataDir).mode & 0o777, mode, `serve left the mode ${octal} as it was (it refuses, it does not change it)`);
  }
  chmodSync(dataDir, 0o700);
  await instance.restart();
  assert.ok(instance.running(), 'serve runs once the data directory is 0700 again');
});
