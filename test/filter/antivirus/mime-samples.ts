// Messages that carry a file as an attachment, the ways mail carries one: base64,
// quoted-printable, and inside a forwarded message (message/rfc822). For the antivirus
// tests: every sample must be caught however it is wrapped.
import { base64Lines } from '../attachments/fixtures.ts';

/** RFC 2045 §6.7 quoted-printable of arbitrary octets (binary: CR and LF encoded too), soft breaks under 76. */
export function quotedPrintable(data: Buffer): string {
  const lines: string[] = [];
  let line = '';
  for (const octet of data) {
    const plain = octet >= 33 && octet <= 126 && octet !== 61;
    const piece = plain ? String.fromCharCode(octet) : `=${octet.toString(16).toUpperCase().padStart(2, '0')}`;
    if (line.length + piece.length > 75) {
      lines.push(`${line}=`);
      line = '';
    }
    line += piece;
  }
  lines.push(line);
  return lines.join('\r\n');
}

export type Wrapping = 'base64' | 'quoted-printable' | 'forwarded';

/** A message from `from` to `to` with `file` attached under `name`, wrapped as asked. */
export function messageWith(file: Buffer, name: string, wrapping: Wrapping, headers: { from: string; to: string; subject: string }): string {
  const top = [
    `From: <${headers.from}>`,
    `To: <${headers.to}>`,
    `Subject: ${headers.subject}`,
    `Message-ID: <${headers.subject}@client.test>`,
    'MIME-Version: 1.0',
  ];
  const attachment = (encoding: 'base64' | 'quoted-printable') => [
    `Content-Type: application/octet-stream; name="${name}"`,
    `Content-Disposition: attachment; filename="${name}"`,
    `Content-Transfer-Encoding: ${encoding}`,
    '',
    encoding === 'base64' ? base64Lines(file) : quotedPrintable(file),
  ].join('\r\n');
  const multipart = (boundary: string, part: string) => [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'See the attachment.',
    `--${boundary}`,
    part,
    `--${boundary}--`,
    '',
  ].join('\r\n');
  if (wrapping !== 'forwarded') return [...top, multipart('outer-b0undary', attachment(wrapping))].join('\r\n');
  const inner = ['From: <someone@elsewhere.example>', 'Subject: the original', 'MIME-Version: 1.0', multipart('inner-b0undary', attachment('base64'))].join('\r\n');
  return [...top, multipart('outer-b0undary', ['Content-Type: message/rfc822', 'Content-Disposition: attachment', '', inner].join('\r\n'))].join('\r\n');
}
