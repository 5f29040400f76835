// `kakitome serve`: starts every listener, refuses to start half-way, stops cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startInstance, runKakitome, KAKITOME_BIN } from '../harness/instance.ts';
import { makeTempDir, removeDir } from '../harness/processes.ts';
import { ServeLog, ServeProcess } from '../harness/serve-process.ts';
import { rawSession } from '../harness/clients.ts';
import { pickPortOffset, portsForOffset } from '../harness/ports.ts';
import { DEV_PORT_OFFSET } from '../../src/cli/serve.ts';

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

test('the development instance\'s default port offset is the SPEC\'s 10000', () => {
  // Serving it would bind 10025–10995, where a developer's npm start may be running;
  // the test below serves it on a free offset instead.
  assert.equal(DEV_PORT_OFFSET, 10_000);
  assert.deepEqual(portsForOffset(DEV_PORT_OFFSET), { smtp: 10025, submission: 10587, submissions: 10465, pop3: 10110, pop3s: 10995 });
});

test('npm start (serve --dev) creates the development instance once, with a user, and serves it', async (t) => {
  const cwd = await makeTempDir('kakitome-dev');
  t.after(() => removeDir(cwd));
  // A free offset, so that a running `npm start` (10025–10995) or another test never clashes.
  const offset = await pickPortOffset();
  const ports = portsForOffset(offset);
  const devArgs = [KAKITOME_BIN, 'serve', '--dev', '--port-offset', String(offset)];
  const log = new ServeLog();
  const first = await ServeProcess.start(process.execPath, devArgs, cwd, log, 20_000);
  assert.equal(await first.stop('SIGTERM', 10_000, log), 0);
  const password = log.lines.map((l) => /^user dev@example\.test, password: (\S+)$/.exec(l)?.[1]).find(Boolean);
  assert.ok(password, log.lines.join('\n'));
  assert.ok(log.lines.some((l) => l.startsWith(`created the development instance in var/dev (domain example.test, 127.0.0.1, ports +${offset})`)), log.lines.join('\n'));
  const toml = readFileSync(join(cwd, 'var/dev/kakitome.toml'), 'utf8');
  assert.match(toml, new RegExp(`^smtp\\s+= \\["127\\.0\\.0\\.1:${ports.smtp}"\\]`, 'm'));
  assert.match(toml, new RegExp(`^pop3s\\s+= \\["127\\.0\\.0\\.1:${ports.pop3s}"\\]`, 'm'));
  const users = await runKakitome(['user', 'list', '--config', join(cwd, 'var/dev/kakitome.toml')]);
  assert.match(users.stdout, /^dev@example\.test/m);

  // The second start reuses it and prints no new password.
  const secondLog = new ServeLog();
  const second = await ServeProcess.start(process.execPath, devArgs, cwd, secondLog, 20_000);
  const smtp = await rawSession('127.0.0.1', ports.smtp);
  await smtp.expect(/^220 /m);
  smtp.close();
  assert.equal(await second.stop('SIGINT', 10_000, secondLog), 0);
  assert.ok(!secondLog.lines.some((l) => l.includes('password')));

  // Another offset for the existing instance is refused, before anything listens.
  const other = await runKakitome(['serve', '--dev', '--port-offset', String(offset + 1)], { cwd, timeoutMs: 15_000 });
  assert.notEqual(other.code, 0);
  assert.match(other.stderr, new RegExp(`^kakitome: the development instance in var/dev has port offset ${offset}, not ${offset + 1}; `));
});

test('serve --port-offset without --dev, or with a config given, is refused', async (t) => {
  const cwd = await makeTempDir('kakitome-dev');
  t.after(() => removeDir(cwd));
  const alone = await runKakitome(['serve', '--port-offset', '20000'], { cwd, timeoutMs: 15_000 });
  assert.notEqual(alone.code, 0);
  assert.match(alone.stderr, /^kakitome: --port-offset goes with --dev; a config file sets its own ports\n$/);
  const withConfig = await runKakitome(['serve', '--dev', '--port-offset', '20000', '--config', join(cwd, 'kakitome.toml')], { cwd, timeoutMs: 15_000 });
  assert.notEqual(withConfig.code, 0);
  assert.match(withConfig.stderr, /^kakitome: --port-offset is for the development instance, but a config is given/);
  assert.equal(existsSync(join(cwd, 'var')), false, 'no development instance was made');
});
