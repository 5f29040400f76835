// The steps of each origin, in order: data, not code paths (DESIGN). The README's
// design section shows this table; a test holds the two equal.
//
//   mta     received → sender-auth → antivirus → attachments → spam
//   msa     submission-header → received → antivirus → attachments → dkim-sign
//   notice       (none: made here, delivered locally)
//   release-mta  (none: released from the quarantine, as it arrived on port 25)
//   release-msa  dkim-sign
//
// Encryption at rest and the archive join these lists as they are built. The spam step
// comes last on port 25: it scores what the steps before it found (sender auth, a stripped
// attachment), and a message refused for a virus costs no scoring. Submitted mail is not
// scored (the MSA's rate limit and the user's own account answer for it). The antivirus step scans the message as it arrived, so where it stands among
// the header steps changes nothing it sees; it runs after sender-auth so that a refusal
// for forgery costs no scan, and before dkim-sign so that a refused message costs no
// signature. The attachment policy comes after the antivirus (malware is refused, or
// quarantined, even where the policy would only strip its part) and before dkim-sign
// (a stripped part is signed as delivered). A release (`kakitome quarantine release`)
// delivers the original the administrator judged safe: it passes no content filter
// again, and was kept with the trace fields its origin's steps had added before the
// filter took it; submitted mail is signed, as it would have been.
import type { SenderAuthPolicy } from '../policy/sender-auth.ts';
import type { MailauthResolver } from '../policy/spf/resolver.ts';
import type { AccountStore } from '../store/accounts.ts';
import type { KeyStore } from '../store/keys.ts';
import type { IntakeOrigin, Step } from './step.ts';
import { receivedStep } from './steps/received.ts';
import { senderAuthStep } from './steps/sender-auth.ts';
import { submissionHeaderStep } from './steps/submission-header.ts';
import { dkimSignStep } from './steps/dkim-sign.ts';
import { antivirusStep, type AntivirusStepOptions } from './steps/antivirus.ts';
import { attachmentsStep, type AttachmentStepOptions } from './steps/attachments.ts';
import { spamStep, type SpamStepOptions } from './steps/spam.ts';

export interface OriginStepsOptions {
  resolver: MailauthResolver;
  senderAuth: SenderAuthPolicy;
  /** [submission] received_client_ip: name the submitting client's address in Received. */
  submissionReceivedClientIp: boolean;
  accounts: Pick<AccountStore, 'isLocalDomain'>;
  keys: Pick<KeyStore, 'activeDkimKeys'>;
  antivirus: AntivirusStepOptions;
  /** The inbound (port 25) and outbound (submission) attachment policies. */
  attachments: { inbound: AttachmentStepOptions; outbound: AttachmentStepOptions };
  /** Absent with [spam] enabled = false: no spam step. */
  spam?: SpamStepOptions;
}

export function stepsByOrigin(options: OriginStepsOptions): Record<IntakeOrigin, Step[]> {
  return {
    mta: [
      receivedStep({ showClientAddress: true }),
      senderAuthStep({ resolver: options.resolver, policy: options.senderAuth }),
      antivirusStep(options.antivirus),
      attachmentsStep(options.attachments.inbound),
      ...(options.spam ? [spamStep(options.spam)] : []),
    ],
    msa: [
      submissionHeaderStep(),
      receivedStep({ showClientAddress: options.submissionReceivedClientIp }),
      antivirusStep(options.antivirus),
      attachmentsStep(options.attachments.outbound),
      dkimSignStep({ accounts: options.accounts, keys: options.keys }),
    ],
    notice: [],
    'release-mta': [],
    'release-msa': [dkimSignStep({ accounts: options.accounts, keys: options.keys })],
  };
}
