// Intake step `sender-auth` (port 25): SPF, DKIM, DMARC, ARC and Sender ID on the
// client's bytes (src/policy/sender-auth.ts, which never throws), then our verdict on
// top — one Authentication-Results field (RFC 8601) and, under DMARC p=quarantine, our
// quarantine mark — and nobody else's claim to speak for this host survives: incoming
// Authentication-Results naming our authserv-id and incoming quarantine marks are removed.
import { evaluateInbound, SENDER_AUTH_LIMITS, type InboundResults, type SenderAuthPolicy } from '../../policy/sender-auth.ts';
import type { MailauthResolver } from '../../policy/spf/resolver.ts';
import type { Step } from '../step.ts';
import { forgedOwnFields, QUARANTINE_FIELD } from './own-fields.ts';

export interface SenderAuthStepOptions {
  resolver: MailauthResolver;
  policy: SenderAuthPolicy;
}

export function senderAuthStep(options: SenderAuthStepOptions): Step {
  return {
    name: 'sender-auth',
    // The evaluation bounds itself (SENDER_AUTH_LIMITS.timeoutMs); this is the backstop.
    timeoutMs: SENDER_AUTH_LIMITS.timeoutMs + 5_000,
    run: async (draft, context) => {
      const client = context.client!;
      const auth = await evaluateInbound(
        {
          message: await draft.original.read(),
          ip: client.address,
          helo: client.helo,
          mailFrom: context.mailFrom,
          authservId: context.hostname,
          resolver: options.resolver,
        },
        options.policy,
        { onError: (err) => context.logger.warn({ queueId: context.queueId, err }, 'sender authentication failed') },
      );
      const notes = { auth: summariseAuth(auth.results), quarantine: false };
      if (auth.decision.action !== 'accept') {
        const { action, code, enhanced, text } = auth.decision;
        return { action, reply: { code, enhanced, text }, notes };
      }
      notes.quarantine = auth.decision.quarantine;
      const quarantine = auth.decision.quarantine ? `${QUARANTINE_FIELD}: ${auth.decision.reason ?? 'DMARC p=quarantine'}\r\n` : '';
      return {
        action: 'modify',
        prepend: auth.authenticationResults + quarantine,
        edits: forgedOwnFields(await draft.content.header(), context.hostname),
        notes,
      };
    },
  };
}

/** The results in one line each, for the log. */
function summariseAuth(results: InboundResults): Record<string, string> {
  return {
    spf: results.spf.result,
    dkim: results.dkim.map((d) => `${d.result}:${d.domain}:${d.algorithm}`).join(',') || 'none',
    dmarc: results.dmarc.result,
    arc: results.arc.result,
    ...(results.senderId ? { senderId: results.senderId.result } : {}),
  };
}
