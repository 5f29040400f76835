// The server's TLS policy on all five TLS ports, as openssl s_client (a client no one
// here wrote) sees it: client-initiated renegotiation is refused on the STARTTLS/STLS
// ports as on the implicit-TLS ones (issue 10: 25, 587 and 110 allowed it without
// limit), the server picks the cipher suite by its own order, and TLS 1.2 offers AEAD
// suites only unless `[tls] legacy_cbc_ciphers` asks for CBC (with a logged warning).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startInstance, type Instance } from '../harness/instance.ts';
import { run } from '../harness/processes.ts';
import type { ListenerRole } from '../harness/ports.ts';

/** How s_client reaches the TLS layer of each role: STARTTLS, STLS or implicit TLS. */
const STARTTLS: Record<ListenerRole, string[]> = {
  smtp: ['-starttls', 'smtp'],
  submission: ['-starttls', 'smtp'],
  submissions: [],
  pop3: ['-starttls', 'pop3'],
  pop3s: [],
};
/** A command every role answers in its state right after TLS starts. */
const PROBE: Record<ListenerRole, string> = { smtp: 'EHLO probe.test', submission: 'EHLO probe.test', submissions: 'EHLO probe.test', pop3: 'CAPA', pop3s: 'CAPA' };
const ROLES = Object.keys(STARTTLS) as ListenerRole[];
const REPLY_LINE = /^(?:[2-5]\d\d[ -]|\+OK|-ERR)/m;

/**
 * Runs s_client against a role with `lines` written to it one by one (s_client reads a
 * line "R" at the start as "renegotiate"); returns everything it printed.
 */
async function sClient(instance: Instance, role: ListenerRole, args: readonly string[], lines: readonly string[]): Promise<string> {
  const feed = ['sleep 1', ...lines.map((line) => `echo '${line}'; sleep 0.5`), 'sleep 1'].join('; ');
  const connect = `${instance.host}:${instance.ports[role]}`;
  const full = await run('bash', ['-c', `(${feed}) | exec openssl s_client -connect ${connect} -servername ${instance.hostname} ${[...STARTTLS[role], ...args].join(' ')} 2>&1`], { timeoutMs: 30_000 });
  return full.stdout;
}

describe('TLS policy on 25, 587, 465, 110 and 995 (openssl s_client)', { concurrency: 4 }, () => {
  let instance: Instance;

  before(async () => {
    instance = await startInstance({});
  });
  after(async () => {
    await instance?.close();
  });

  for (const role of ROLES) {
    test(`${role}: client-initiated renegotiation in TLS 1.2 is refused with a no_renegotiation alert; nothing is answered after it`, async () => {
      const output = await sClient(instance, role, ['-tls1_2'], [PROBE[role], 'R', PROBE[role], 'R', PROBE[role]]);
      const [beforeRenegotiation, afterRenegotiation] = output.split(/^RENEGOTIATING$/m);
      assert.match(beforeRenegotiation ?? '', REPLY_LINE, `the session answered before the renegotiation:\n${output}`);
      assert.ok(afterRenegotiation !== undefined, `s_client never tried to renegotiate:\n${output}`);
      assert.match(afterRenegotiation, /no renegotiation/, `the server did not refuse the renegotiation:\n${output}`);
      assert.doesNotMatch(afterRenegotiation, REPLY_LINE, `the session went on after a renegotiation:\n${output}`);
      assert.equal(output.match(/^RENEGOTIATING$/gm)?.length, 1, `more than one renegotiation was tried:\n${output}`);
    });
  }

  test('the server chooses by its own order: a TLS 1.2 client preferring AES-128-GCM gets AES-256-GCM; TLS 1.3 likewise', async () => {
    const tls12 = await sClient(instance, 'submissions', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384'], ['QUIT']);
    assert.match(tls12, /Cipher is ECDHE-RSA-AES256-GCM-SHA384/, tls12);
    const tls13 = await sClient(instance, 'pop3s', ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384'], ['QUIT']);
    assert.match(tls13, /Cipher is TLS_AES_256_GCM_SHA384/, tls13);
  });

  for (const role of ROLES) {
    test(`${role}: a TLS 1.2 client that offers only CBC suites gets a handshake failure; so do TLS 1.1 and 1.0`, async () => {
      const cbc = await sClient(instance, role, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:AES128-SHA'], [PROBE[role]]);
      assert.match(cbc, /handshake failure|no shared cipher|alert/i, cbc);
      assert.doesNotMatch(cbc, /Cipher is ECDHE-RSA-AES/, cbc);
      for (const version of ['-tls1_1', '-tls1']) {
        const old = await sClient(instance, role, [version, '-cipher', 'DEFAULT@SECLEVEL=0'], [PROBE[role]]);
        assert.match(old, /alert|handshake failure|unsupported protocol|wrong version/i, `${version} did not fail:\n${old}`);
        assert.doesNotMatch(old, /Cipher is [A-Z]/, `${version} was accepted:\n${old}`);
      }
    });
  }
});

test('[tls] legacy_cbc_ciphers = true: CBC suites are accepted after the AEAD ones, and serve logs a warning', async (t) => {
  const instance = await startInstance({ t, editConfig: (toml) => {
    assert.match(toml, /^\[tls\]$/m, 'init writes a [tls] table');
    return toml.replace(/^\[tls\]\n/m, '[tls]\nlegacy_cbc_ciphers = true\n');
  } });
  const warning = instance.logEntries().find((entry) => entry.level === 'warn' && /legacy_cbc_ciphers/.test(String(entry.msg)));
  assert.ok(warning, `no warning logged:\n${instance.logs().join('\n')}`);
  const cbc = await sClient(instance, 'submissions', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA'], ['QUIT']);
  assert.match(cbc, /Cipher is ECDHE-RSA-AES128-SHA/, cbc);
  const preferred = await sClient(instance, 'submissions', ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256'], ['QUIT']);
  assert.match(preferred, /Cipher is ECDHE-RSA-AES128-GCM-SHA256/, `an AEAD suite comes first:\n${preferred}`);
});
