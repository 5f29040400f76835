// `kakitome init` and `check-config`, through the real command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { runKakitome } from '../harness/instance.ts';
import { makeTempDir, removeDir } from '../harness/processes.ts';

async function tempDir(t: import('node:test').TestContext): Promise<string> {
  const dir = await makeTempDir('kakitome-cli');
  t.after(() => removeDir(dir));
  return dir;
}

test('init creates config, a 0700 data dir, a certificate for the hostname and DKIM keys', async (t) => {
  const dir = join(await tempDir(t), 'inst');
  const r = await runKakitome(['init', '--dir', dir, '--domain', 'Example.TEST', '--port-offset', '10000', '--listen', '127.0.0.1', '--dns', '127.0.0.1:5353']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual(readdirSync(dir).sort(), ['data', 'kakitome.toml', 'tls']);
  assert.equal(statSync(join(dir, 'data')).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'tls', 'key.pem')).mode & 0o777, 0o600);

  const toml = readFileSync(join(dir, 'kakitome.toml'), 'utf8');
  assert.match(toml, /^hostname = "mail\.example\.test"$/m);
  for (const [role, port] of [['smtp', 10025], ['submission', 10587], ['submissions', 10465], ['pop3', 10110], ['pop3s', 10995]] as const) {
    assert.match(toml, new RegExp(`^${role}\\s+= \\["127\\.0\\.0\\.1:${port}"\\]`, 'm'));
  }
  assert.match(toml, /^servers = \["127\.0\.0\.1:5353"\]/m);

  const cert = new X509Certificate(readFileSync(join(dir, 'tls', 'cert.pem')));
  assert.equal(cert.checkHost('mail.example.test'), 'mail.example.test');
  assert.ok(cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(readFileSync(join(dir, 'tls', 'key.pem'))))));

  // The DNS records to publish: MX, SPF, an RSA and an Ed25519 DKIM key, DMARC.
  assert.match(r.stdout, /^example\.test\.\t3600\tIN\tMX\t10 mail\.example\.test\.$/m);
  assert.match(r.stdout, /^example\.test\.\t3600\tIN\tTXT\t"v=spf1 mx -all"$/m);
  assert.match(r.stdout, /^k\d{8}r\._domainkey\.example\.test\.\t3600\tIN\tTXT\t\( "v=DKIM1; k=rsa; h=sha256; p=/m);
  assert.match(r.stdout, /^k\d{8}e\._domainkey\.example\.test\.\t3600\tIN\tTXT\t"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="$/m);
  assert.match(r.stdout, /^_dmarc\.example\.test\.\t3600\tIN\tTXT\t"v=DMARC1; p=reject; rua=mailto:postmaster@example\.test"$/m);

  const check = await runKakitome(['check-config', '--config', join(dir, 'kakitome.toml')]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /kakitome\.toml: ok$/m);

  // The same records again from `kakitome dns`, via $KAKITOME_CONFIG.
  const dns = await runKakitome(['dns', 'example.test'], { env: { KAKITOME_CONFIG: join(dir, 'kakitome.toml') } });
  assert.equal(dns.code, 0, dns.stderr);
  assert.ok(r.stdout.includes(dns.stdout.trim()));
});

test('init listens on IPv6 with bracketed addresses', async (t) => {
  const dir = join(await tempDir(t), 'v6');
  const r = await runKakitome(['init', '--dir', dir, '--domain', 'example.test', '--listen', '::1', '--port-offset', '20000']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(readFileSync(join(dir, 'kakitome.toml'), 'utf8'), /^smtp\s+= \["\[::1\]:20025"\]/m);
  assert.equal((await runKakitome(['check-config', '--config', join(dir, 'kakitome.toml')])).code, 0);
});

test('init refuses to overwrite an instance and leaves it untouched', async (t) => {
  const dir = join(await tempDir(t), 'inst');
  assert.equal((await runKakitome(['init', '--dir', dir, '--domain', 'example.test'])).code, 0);
  const before = readFileSync(join(dir, 'kakitome.toml'), 'utf8');
  const again = await runKakitome(['init', '--dir', dir, '--domain', 'other.test']);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /^kakitome: .*kakitome\.toml already exists; init never overwrites an instance\n$/);
  assert.equal(readFileSync(join(dir, 'kakitome.toml'), 'utf8'), before);
  assert.deepEqual(readdirSync(dir).sort(), ['data', 'kakitome.toml', 'tls'], 'no staging left behind');
});

for (const [args, message] of [
  [['--domain', '../x'], /invalid domain/],
  [['--domain', 'example.test', '--hostname', 'bad host'], /invalid domain/],
  [['--domain', 'example.test', '--listen', 'localhost'], /--listen must be an IP address/],
  [['--domain', 'example.test', '--port-offset', '65000'], /--port-offset must be a whole number from 0 to 64540/],
  [['--domain', 'example.test', '--port-offset', 'ten'], /expected a whole number/],
  [['--domain', 'example.test', '--dns', '127.0.0.1'], /--dns must be HOST:PORT/],
] as const) {
  test(`init rejects ${args.join(' ')} with one line and writes nothing`, async (t) => {
    const dir = join(await tempDir(t), 'inst');
    const r = await runKakitome(['init', '--dir', dir, ...args]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(existsSync(join(dir, 'kakitome.toml')), false);
    assert.equal(existsSync(join(dir, 'data')), false);
  });
}

test('check-config names the file, line and key of a mistake', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.toml');
  writeFileSync(file, 'hostname = "mail.example.test"\n\n[listen]\nsmtp = ["127.0.0.1:25"]\nsmpt = ["127.0.0.1:26"]\n');
  const r = await runKakitome(['check-config', '--config', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^kakitome: .*bad\.toml:5: listen\.smpt: unknown key/);
  assert.equal(r.stderr.trim().split('\n').length, 1);

  const missing = await runKakitome(['check-config', '--config', join(dir, 'nope.toml')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /nope\.toml.*ENOENT/);
});

test('unknown commands and options fail with a usage error', async () => {
  const r = await runKakitome(['frobnicate']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  const help = await runKakitome(['--help']);
  assert.equal(help.code, 0);
  for (const command of ['init', 'serve', 'check-config', 'domain', 'user', 'alias', 'dns']) {
    assert.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'));
  }
});
