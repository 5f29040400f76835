// The DNS records an administrator publishes for a local domain, in zone-file
// syntax (RFC 1035 §5.1). TXT values longer than 255 octets are split into
// several character-strings (RFC 1035 §3.3.14; RFC 7208 §3.3 and RFC 6376 §3.6.2.2
// say verifiers concatenate them).
import { dkimRecordValue, type DkimAlgorithm } from './dkim/keys.ts';

export interface PublishedKey {
  selector: string;
  algorithm: DkimAlgorithm;
  publicKey: string;
  retiredAt: number | null;
}

export interface DnsRecord {
  name: string;
  type: 'MX' | 'TXT';
  value: string;
  comment: string;
}

const TTL = 3600;
const MAX_CHARACTER_STRING = 255;

export function recordsToPublish(domain: string, hostname: string, keys: readonly PublishedKey[]): DnsRecord[] {
  const records: DnsRecord[] = [
    { name: domain, type: 'MX', value: `10 ${hostname}.`, comment: `mail for ${domain} goes to ${hostname}` },
    // RFC 7208: only the hosts named by MX may send for the domain; everything else fails.
    { name: domain, type: 'TXT', value: 'v=spf1 mx -all', comment: 'SPF (RFC 7208)' },
  ];
  records.push(...dkimKeyRecords(domain, keys));
  records.push({
    name: `_dmarc.${domain}`,
    type: 'TXT',
    value: `v=DMARC1; p=reject; rua=mailto:postmaster@${domain}`,
    comment: 'DMARC (RFC 7489): reject what fails, aggregate reports to postmaster',
  });
  return records;
}

/** The DKIM key records (RFC 6376 §3.6.2.1: SELECTOR._domainkey.DOMAIN), active and retired. */
export function dkimKeyRecords(domain: string, keys: readonly PublishedKey[]): DnsRecord[] {
  return keys.map((key) => ({
    name: `${key.selector}._domainkey.${domain}`,
    type: 'TXT',
    value: dkimRecordValue(key.algorithm, key.publicKey),
    comment: `DKIM ${key.algorithm} (RFC ${key.algorithm === 'rsa-sha256' ? '6376' : '8463'})${key.retiredAt ? ', retired: keep until mail signed with it has been delivered' : ''}`,
  }));
}

/** Splits a TXT value into quoted character-strings of at most 255 octets. */
export function txtStrings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const strings: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += MAX_CHARACTER_STRING) {
    const chunk = bytes.subarray(offset, offset + MAX_CHARACTER_STRING).toString('latin1');
    strings.push(`"${chunk.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
  }
  return strings.length === 0 ? ['""'] : strings;
}

export function toZoneFile(records: DnsRecord[]): string {
  return records
    .map((r) => {
      const owner = `${r.name}.`;
      const data = r.type === 'TXT' ? formatTxt(r.value) : r.value;
      return `; ${r.comment}\n${owner}\t${TTL}\tIN\t${r.type}\t${data}`;
    })
    .join('\n');
}

function formatTxt(value: string): string {
  const strings = txtStrings(value);
  return strings.length === 1 ? strings[0]! : `( ${strings.join('\n\t\t\t\t')} )`;
}
