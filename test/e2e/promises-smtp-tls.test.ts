// SPEC: "TLS 1.2+ only", on every TLS port: 465 and 995 (TLS from the first byte),
// 587 and 25 (STARTTLS) and 110 (STLS). A client that offers TLS 1.0 or 1.1 at most
// gets the server's protocol_version alert (RFC 8446 §6.2, alert 70; RFC 8996 deprecates
// both) and no session; TLS 1.2 and 1.3 clients get one and the protocol answers in it.
//
// The instances run with `[tls] legacy_cbc_ciphers = true` as well as without: TLS 1.0
// and 1.1 have no AEAD suite, so against the default AEAD-only list an old client would
// fail on the cipher list alone (a handshake_failure alert). With the CBC suites on,
// a TLS 1.1 client shares a suite with the server, and only the version can refuse it.
//
// The clients: Node's TLS (through the harness's raw session) and openssl s_client, a
// client no one here wrote, both told to allow the old versions (SECLEVEL=0, which
// OpenSSL 3 needs for TLS 1.0/1.1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SecureVersion } from 'node:tls';
import { rawSession, type RawSession } from '../harness/clients.ts';
import { startInstance, type Instance } from '../harness/instance.ts';
import { run } from '../harness/processes.ts';
import type { ListenerRole } from '../harness/ports.ts';

const ROLES: readonly ListenerRole[] = ['smtp', 'submission', 'submissions', 'pop3', 'pop3s'];
const IMPLICIT_TLS: ReadonlySet<ListenerRole> = new Set(['submissions', 'pop3s']);
const isPop3 = (role: ListenerRole) => role === 'pop3' || role === 'pop3s';
/** Lets an OpenSSL 3 client offer TLS 1.0 and 1.1 (and their CBC suites) at all. */
const OLD_CLIENT_CIPHERS = 'DEFAULT@SECLEVEL=0';
/** What the server's protocol_version alert looks like to an OpenSSL client (Node's and s_client). */
const PROTOCOL_VERSION_ALERT = /alert protocol version/i;

const SMTP_LINE = /^\d{3} [^\r\n]*\r\n/m;
const POP3_LINE = /^(?:\+OK|-ERR)[^\r\n]*\r\n/;
const POP3_MULTI = /^\+OK[^\r\n]*\r\n(?:[^\r\n]*\r\n)*?\.\r\n/;

type Outcome = { session: RawSession } | { error: string };

/**
 * Reaches the TLS handshake of `role` (STARTTLS after EHLO, STLS, or at once) with a
 * client offering exactly `version`; returns the session in TLS, or the handshake's error.
 * What comes before the handshake is asserted: the server must agree to start TLS.
 */
async function handshake(instance: Instance, role: ListenerRole, version: SecureVersion): Promise<Outcome> {
  const tlsClient = { minVersion: version, maxVersion: version, ciphers: OLD_CLIENT_CIPHERS };
  const port = instance.ports[role];
  if (IMPLICIT_TLS.has(role)) {
    try {
      return { session: await rawSession(instance.host, port, { tls: true, tlsClient, timeoutMs: 10_000 }) };
    } catch (error) {
      return { error: (error as Error).message };
    }
  }
  const session = await rawSession(instance.host, port, { tlsClient, timeoutMs: 10_000 });
  try {
    if (isPop3(role)) {
      assert.match(await session.expect(POP3_LINE), /^\+OK/, `${role} greeting`);
      session.send('STLS');
      assert.match(await session.expect(POP3_LINE), /^\+OK/, `${role}: STLS is accepted`);
    } else {
      assert.match(await session.expect(SMTP_LINE), /^220 /m, `${role} greeting`);
      session.send('EHLO client.test');
      assert.match(await session.expect(SMTP_LINE), /^250[ -]STARTTLS\r\n/m, `${role}: EHLO offers STARTTLS`);
      session.send('STARTTLS');
      assert.match(await session.expect(SMTP_LINE), /^220 /m, `${role}: STARTTLS is accepted`);
    }
    await session.startTls();
    return { session };
  } catch (error) {
    session.close();
    if (error instanceof assert.AssertionError) throw error;
    return { error: (error as Error).message };
  }
}

/** Inside TLS, the protocol answers: EHLO gets 250, CAPA gets its list. */
async function assertProtocolAnswers(session: RawSession, role: ListenerRole): Promise<void> {
  if (isPop3(role)) {
    if (role === 'pop3s') assert.match(await session.expect(POP3_LINE), /^\+OK/, 'pop3s greeting inside TLS');
    session.send('CAPA');
    assert.match(await session.expect(POP3_MULTI), /^USER\r\n/m, `${role}: CAPA inside TLS lists USER`);
  } else {
    if (role === 'submissions') assert.match(await session.expect(SMTP_LINE), /^220 /m, 'submissions greeting inside TLS');
    session.send('EHLO client.test');
    assert.match(await session.expect(SMTP_LINE), /^250 /m, `${role}: EHLO inside TLS`);
  }
}

/** openssl s_client offering `flag` (-tls1_1, -tls1_2…); it quits at the end of its input (none). */
async function sClient(instance: Instance, role: ListenerRole, flag: string): Promise<string> {
  const starttls = IMPLICIT_TLS.has(role) ? [] : ['-starttls', isPop3(role) ? 'pop3' : 'smtp'];
  const args = ['s_client', '-connect', `${instance.host}:${instance.ports[role]}`, '-servername', instance.hostname, ...starttls, flag, '-cipher', OLD_CLIENT_CIPHERS];
  const result = await run('openssl', args, { stdin: '', timeoutMs: 30_000, missingHint: 'Debian package openssl, see .ci/run' });
  return `${result.stdout}\n${result.stderr}`;
}

for (const legacyCbc of [false, true]) {
  describe(`TLS 1.2+ only on 25, 587, 465, 110 and 995 (legacy_cbc_ciphers = ${legacyCbc})`, { concurrency: 5 }, () => {
    let instance: Instance;
    before(async () => {
      instance = await startInstance({
        editConfig: (toml) => {
          assert.match(toml, /^\[tls\]$/m, 'init writes a [tls] table');
          return toml.replace(/^\[tls\]\n/m, `[tls]\nlegacy_cbc_ciphers = ${legacyCbc}\n`);
        },
      });
    });
    after(async () => {
      await instance?.close();
    });

    for (const role of ROLES) {
      test(`${role}: TLS 1.0 and 1.1 get the protocol_version alert and no session; TLS 1.2 and 1.3 get a working one`, async () => {
        for (const version of ['TLSv1', 'TLSv1.1'] as const) {
          const old = await handshake(instance, role, version);
          if ('session' in old) {
            const protocol = old.session.tlsProtocol();
            old.session.close();
            assert.fail(`${role}: a ${version} client got a session (${protocol})`);
          }
          assert.match(old.error, PROTOCOL_VERSION_ALERT, `${role}: ${version} must be refused for its version`);
        }
        for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
          const current = await handshake(instance, role, version);
          assert.ok('session' in current, `${role}: a ${version} client was refused: ${'error' in current ? current.error : ''}`);
          try {
            assert.equal(current.session.tlsProtocol(), version);
            await assertProtocolAnswers(current.session, role);
          } finally {
            current.session.close();
          }
        }
      });

      test(`${role}: openssl s_client -tls1_1 gets the protocol_version alert, -tls1_2 a session`, async () => {
        const old = await sClient(instance, role, '-tls1_1');
        assert.match(old, PROTOCOL_VERSION_ALERT, `s_client -tls1_1 on ${role}:\n${old}`);
        assert.doesNotMatch(old, /Cipher is [A-Z]/, `s_client -tls1_1 on ${role} got a cipher:\n${old}`);
        const current = await sClient(instance, role, '-tls1_2');
        assert.match(current, /New, TLSv1\.2, Cipher is ECDHE-/, `s_client -tls1_2 on ${role}:\n${current}`);
      });
    }
  });
}
