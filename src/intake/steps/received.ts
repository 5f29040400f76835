// Intake step `received`: the Received header field a receiving SMTP server prepends
// (RFC 5321 §4.4), with the protocol names of RFC 3848 (ESMTPS = ESMTP over TLS,
// ESMTPA/ESMTPSA = with AUTH).
import { isIPv6 } from 'node:net';
import { plainAddress } from '../../mail/ip.ts';
import { rfc5322Date } from '../../mail/date.ts';
import type { Step } from '../step.ts';

export interface ReceivedInfo {
  helo: string;
  esmtp: boolean;
  remoteAddress: string;
  hostname: string;
  tls: { protocol: string; cipher: string } | null;
  authenticated: boolean;
  /** Off for submission by default: a user's private address must not leak to recipients. */
  showClientAddress: boolean;
  queueId: string;
  /** Named only when there is exactly one recipient, so others' addresses are not disclosed. */
  recipient?: string;
  date: Date;
}

export function receivedHeader(info: ReceivedInfo): string {
  const address = plainAddress(info.remoteAddress);
  const literal = isIPv6(address) ? `[IPv6:${address}]` : `[${address}]`;
  const protocol =
    (info.esmtp ? 'ESMTP' : 'SMTP') + (info.esmtp && info.tls ? 'S' : '') + (info.esmtp && info.authenticated ? 'A' : '');
  const tls = info.tls ? ` (${info.tls.protocol} cipher ${info.tls.cipher})` : '';
  const forClause = info.recipient ? `\r\n\tfor <${info.recipient}>` : '';
  const from = info.showClientAddress ? `${info.helo} (${literal})` : info.helo;
  return (
    `Received: from ${from}\r\n` +
    `\tby ${info.hostname} with ${protocol}${tls} id ${info.queueId}${forClause};\r\n` +
    `\t${rfc5322Date(info.date)}\r\n`
  );
}

/**
 * Prepends our Received field. `for <address>` only with a single recipient, so others'
 * addresses are not disclosed; the client's address only where showClientAddress (off
 * for submission by default: a user's private address must not leak to recipients).
 */
export function receivedStep(options: { showClientAddress: boolean }): Step {
  return {
    name: 'received',
    timeoutMs: 1_000,
    run: async (_draft, context) => {
      const client = context.client;
      if (!client) return { action: 'accept' };
      const only = context.envelopeRecipients.length === 1 ? context.envelopeRecipients[0] : undefined;
      return {
        action: 'modify',
        prepend: receivedHeader({
          helo: client.helo,
          esmtp: client.esmtp,
          remoteAddress: client.address,
          hostname: context.hostname,
          tls: client.tls,
          authenticated: client.smtpAuth,
          showClientAddress: options.showClientAddress,
          queueId: context.queueId,
          recipient: only,
          date: context.now,
        }),
      };
    },
  };
}
