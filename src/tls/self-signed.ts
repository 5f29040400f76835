// A self-signed certificate for `kakitome init` and the development instance, so
// that TLS is on from the first start (SPEC: "TLS everywhere"). Production should
// replace it with a certificate from a public CA; see the README.
import { webcrypto, randomBytes, createPrivateKey } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

export interface SelfSignedCertificate {
  certPem: string;
  keyPem: string;
}

const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const GENERAL_NAME_DNS = 2;

/** RSA 2048 / SHA-256: the key type every mail and POP3 client still accepts. */
export async function createSelfSignedCertificate(
  hostname: string,
  validDays = 825,
): Promise<SelfSignedCertificate> {
  type EngineCrypto = ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'];
  const crypto = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as EngineCrypto });
  const algorithm = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
  };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;

  const cert = new pkijs.Certificate();
  cert.version = 2; // X.509 v3
  const serial = randomBytes(16);
  // RFC 5280 §4.1.2.2: a positive integer, and (DER) with no leading zero octet.
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  cert.serialNumber = new asn1js.Integer({ valueHex: serial });
  const name = new pkijs.AttributeTypeAndValue({
    type: OID_COMMON_NAME,
    value: new asn1js.Utf8String({ value: hostname }),
  });
  cert.subject.typesAndValues.push(name);
  cert.issuer.typesAndValues.push(name);
  const now = Date.now();
  cert.notBefore.value = new Date(now - 60_000);
  cert.notAfter.value = new Date(now + validDays * 86_400_000);

  const altNames = new pkijs.GeneralNames({
    names: [new pkijs.GeneralName({ type: GENERAL_NAME_DNS, value: hostname })],
  });
  const basicConstraints = new pkijs.BasicConstraints({ cA: false });
  const extKeyUsage = new pkijs.ExtKeyUsage({ keyPurposes: [OID_SERVER_AUTH] });
  cert.extensions = [
    extension(OID_SUBJECT_ALT_NAME, false, altNames.toSchema().toBER(false)),
    extension(OID_BASIC_CONSTRAINTS, true, basicConstraints.toSchema().toBER(false)),
    extension(OID_EXT_KEY_USAGE, false, extKeyUsage.toSchema().toBER(false)),
  ];

  await cert.subjectPublicKeyInfo.importKey(keys.publicKey, crypto);
  await cert.sign(keys.privateKey, 'SHA-256', crypto);

  const der = Buffer.from(cert.toSchema(true).toBER(false));
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
  return { certPem: pem('CERTIFICATE', der), keyPem };
}

function extension(extnID: string, critical: boolean, value: ArrayBuffer): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value });
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
