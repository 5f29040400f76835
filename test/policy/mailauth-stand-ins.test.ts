import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import fc from 'fast-check';

// The real Joi, as mailauth would load it, read before the stand-ins module is imported
// (importing it installs the stand-ins, after which require('joi') would find the stand-in).
const requireFromMailauth = createRequire(createRequire(import.meta.url).resolve('mailauth/lib/tools.js'));
const Joi = requireFromMailauth('joi');
const { joiStandIn } = await import('../../src/policy/mailauth-stand-ins.ts');

const realBase64 = Joi.string().base64({ paddingRequired: false });
const realDomain = Joi.string().domain({ allowUnicode: false, tlds: false });
const standInBase64 = joiStandIn.string().base64({ paddingRequired: false });
const standInDomain = joiStandIn.string().domain({ allowUnicode: false, tlds: false });

type Schema = { validate(value: unknown): { error?: unknown } };
const verdict = (schema: Schema, value: unknown) => (schema.validate(value).error ? 'invalid' : 'valid');

function assertSame(real: Schema, standIn: Schema, value: unknown): void {
  assert.equal(verdict(standIn, value), verdict(real, value), `Joi and the stand-in disagree on ${JSON.stringify(value)}`);
}

const DOMAIN_CASES = [
  'example.com', 'EXAMPLE.COM', 'mail.example.co.uk', 'a.b', 'a', '', 'a..b', 'a.b.', '.a.b', 'a.b..',
  '1.2.3.4', '192.0.2.1', 'a.1com', 'a.com1', 'a-.com', '-a.com', 'a.-com', 'a.com-', 'ab--cd.com',
  'a_b.com', '_dmarc.example.com', 'a.0x10', '0x10.com', 'xn--bcher-kva.example', 'xn--zz.com',
  'xn--a.com', 'xn--.com', 'a.xn--p1ai', 'a.xn--zz', 'exa mple.com', 'a.com\0', 'a.com\t', 'ä.com',
  'a.com:25', 'a@b.com', 'a/b.com', 'a%41.com', 'a%.com', 'a<b.com', 'a|b.com', 'a^b.com', 'a[b].com',
  'a"b.com', 'a{b}.com', 'a~b.com', 'a`b.com', '%zz.com', 'a.b.c.d.e.f.g', `${'a'.repeat(63)}.com`,
  `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}ab`, `${'a.'.repeat(127)}abc`, `${'a'.repeat(250)}.com`,
];

test('the domain stand-in gives Joi\'s verdict on hand-picked names', () => {
  for (const value of DOMAIN_CASES) assertSame(realDomain, standInDomain, value);
  for (const value of [undefined, null, 5, {}, ['a.com']]) assertSame(realDomain, standInDomain, value);
  assert.equal(verdict(standInDomain, 'example.com'), 'valid');
  assert.equal(verdict(standInDomain, 'a..b'), 'invalid');
});

test('the domain stand-in gives Joi\'s verdict on generated names', () => {
  const char = fc.constantFrom(...'aZ09-._%:@/ xn-\u00e4\u0130#[]^|<>'.split(''));
  const name = fc.oneof(
    fc.string({ unit: char, maxLength: 24 }),
    fc.array(fc.stringMatching(/^(xn--)?[a-z0-9-]{0,8}$/), { minLength: 1, maxLength: 5 }).map((labels) => labels.join('.')),
  );
  fc.assert(fc.property(name, (value) => assertSame(realDomain, standInDomain, value)), { numRuns: 20_000 });
});

test('the base64 stand-in gives Joi\'s verdict, padded or not', () => {
  const cases = ['', 'QQ', 'QQ=', 'QQ==', 'QUI', 'QUI=', 'QUJD', 'QUJDRA', 'Q', 'QQ===', 'QU=I', 'QUJD\n', 'a-_b', 'QUJD RA=='];
  for (const value of cases) assertSame(realBase64, standInBase64, value);
  const key = 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAv3gy2l+3lTpAnQ7k4lN3kb/Q1Fyf1gYhH3XgdXw0AEGIUSE8ZhTq';
  assert.equal(verdict(standInBase64, key), 'valid');
  const char = fc.constantFrom(...'AZaz09+/=-_. \n'.split(''));
  fc.assert(fc.property(fc.string({ unit: char, maxLength: 14 }), (value) => assertSame(realBase64, standInBase64, value)), { numRuns: 20_000 });
});

test('the stand-in refuses a Joi schema mailauth has not used so far', () => {
  assert.throws(() => joiStandIn.string().domain({ allowUnicode: true, tlds: false }), /not supported/);
  assert.throws(() => joiStandIn.string().base64({ paddingRequired: true }), /not supported/);
});

test('loading kakitome\'s mailauth reads neither Joi nor encoding-japanese, and both still work', async () => {
  // A fresh process, so that nothing has loaded the real modules first.
  const script = `
    const { spf } = await import(${JSON.stringify(new URL('../../src/policy/mailauth.ts', import.meta.url).href)});
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const loaded = () => Object.keys(require.cache).filter((file) => /node_modules\\/(joi|@hapi|encoding-japanese)\\//.test(file)).map((file) => file.replace(/.*node_modules\\//, ''));
    const before = loaded();
    const noDns = async () => { throw Object.assign(new Error('no DNS here'), { code: 'ENOTFOUND' }); };
    const result = await spf({ sender: 'someone@bad_domain..test', ip: '192.0.2.1', helo: 'client.test', mta: 'mx.test', resolver: noDns });
    const libmime = createRequire(require.resolve('mailauth/lib/tools.js'))('libmime');
    const japanese = libmime.decodeWords('=?ISO-2022-JP?B?GyRCJEskWyRzGyhC?=');
    console.log(JSON.stringify({ before, spf: result.status.result, japanese, after: loaded().length > before.length }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  const seen = JSON.parse(stdout);
  assert.deepEqual(seen.before, ['joi/lib/index.js', 'encoding-japanese/src/index.js'], 'only the two stand-ins are in the module cache');
  assert.equal(seen.spf, 'none', 'an SPF domain that is not a host name is "none", as with Joi');
  assert.equal(seen.japanese, 'にほん', 'ISO-2022-JP still decodes: the real encoding-japanese loads on first use');
  assert.equal(seen.after, true);
});
