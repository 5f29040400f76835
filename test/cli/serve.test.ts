// `kakitome serve`: starts every listener, refuses to start half-way, stops cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startInstance, runKakitome, KAKITOME_BIN } from '../harness/instance.ts';
import { makeTempDir, removeDir } from '../harness/processes.ts';
import { ServeLog, ServeProcess } from '../harness/serve-process.ts';
import { rawSession } from '../harness/clients.ts';

test('serve opens every listener, TLS on 465/995 with the init certificate, and exits 0 on SIGTERM and SIGINT', async (t) => {
  const instance = await startInstance({ t });
  const ready = instance.logEntries().find((e) => e.msg === 'ready');
  assert.ok(ready, 'a JSON "ready" log line');
  assert.equal(ready.hostname, 'mail.example.test');

  const pop3s = await rawSession(instance.host, instance.ports.pop3s, { tls: true, ca: readFileSync(instance.certPath), servername: instance.hostname });
  await pop3s.expect(/^[+-]/m);
  pop3s.close();
  const smtp = await rawSession(instance.host, instance.ports.smtp);
  await smtp.expect(/^\d{3} /m);
  smtp.close();

  assert.equal(await instance.stop('SIGTERM'), 0);
  assert.ok(instance.logEntries().some((e) => e.msg === 'stopped'));
  await instance.restart();
  assert.equal(await instance.stop('SIGINT'), 0);
});

test('serve refuses to start when a port is taken, naming the address', async (t) => {
  const instance = await startInstance({ t });
  await instance.stop();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(instance.ports.pop3, instance.host, resolve));
  t.after(() => blocker.close());
  const r = await runKakitome(['serve', '--config', instance.configPath], { timeoutMs: 15_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`^kakitome: cannot listen on 127\\.0\\.0\\.1:${instance.ports.pop3} for pop3: address already in use\\n$`));
});

test('serve refuses to start with an unreadable or broken certificate', async (t) => {
  const instance = await startInstance({ t });
  await instance.stop();
  writeFileSync(instance.configPath, readFileSync(instance.configPath, 'utf8').replace('tls/cert.pem', 'tls/missing.pem'));
  const missing = await runKakitome(['serve', '--config', instance.configPath], { timeoutMs: 15_000 });
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /^kakitome: cannot read TLS certificate .*missing\.pem: ENOENT\n$/);

  writeFileSync(join(instance.dir, 'tls', 'missing.pem'), 'not a certificate\n');
  const broken = await runKakitome(['serve', '--config', instance.configPath], { timeoutMs: 15_000 });
  assert.notEqual(broken.code, 0);
  assert.match(broken.stderr, /^kakitome: TLS certificate .* are unusable: /);
});

test('serve refuses a data directory open to group or others', async (t) => {
  const instance = await startInstance({ t });
  await instance.stop();
  chmodSync(join(instance.dir, 'data'), 0o755);
  const r = await runKakitome(['serve', '--config', instance.configPath], { timeoutMs: 15_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /^kakitome: data directory .* is open to group or others \(mode 755\); run: chmod 700 /);
});

test('npm start is serve --dev, exec-ed so that the signals npm forwards reach the server', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, 'exec node bin/kakitome.js serve --dev');
});

test('npm start (serve --dev) creates the development instance once, with a user, and serves it', async (t) => {
  const cwd = await makeTempDir('kakitome-dev');
  t.after(() => removeDir(cwd));
  const log = new ServeLog();
  const first = await ServeProcess.start(process.execPath, [KAKITOME_BIN, 'serve', '--dev'], cwd, log, 20_000);
  assert.equal(await first.stop('SIGTERM', 10_000, log), 0);
  const password = log.lines.map((l) => /^user dev@example\.test, password: (\S+)$/.exec(l)?.[1]).find(Boolean);
  assert.ok(password, log.lines.join('\n'));
  assert.ok(log.lines.some((l) => l.startsWith('created the development instance in var/dev')));
  const toml = readFileSync(join(cwd, 'var/dev/kakitome.toml'), 'utf8');
  assert.match(toml, /^smtp\s+= \["127\.0\.0\.1:10025"\]/m);
  assert.match(toml, /^pop3s\s+= \["127\.0\.0\.1:10995"\]/m);
  const users = await runKakitome(['user', 'list', '--config', join(cwd, 'var/dev/kakitome.toml')]);
  assert.match(users.stdout, /^dev@example\.test/m);

  // The second start reuses it and prints no new password.
  const secondLog = new ServeLog();
  const second = await ServeProcess.start(process.execPath, [KAKITOME_BIN, 'serve', '--dev'], cwd, secondLog, 20_000);
  assert.equal(await second.stop('SIGINT', 10_000, secondLog), 0);
  assert.ok(!secondLog.lines.some((l) => l.includes('password')));
});
