// Builds the intake (the one pipeline every message goes through) with its steps per
// origin and the MDA behind it. Used by `serve` and by commands that take mail in
// (`kakitome queue cancel` sends its notice through the same pipeline).
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/store.ts';
import { Intake } from '../intake/intake.ts';
import { stepsByOrigin } from '../intake/origins.ts';
import { MailDeliveryAgent } from '../mda/deliver.ts';
import type { MailauthResolver } from '../policy/spf/resolver.ts';
import type { AntivirusStepOptions } from '../intake/steps/antivirus.ts';
import { antivirusOptions, attachmentOptions } from './antivirus.ts';
import type { SpamStepOptions } from '../intake/steps/spam.ts';

export function createIntake(
  config: Config,
  store: Store,
  resolver: MailauthResolver,
  logger: Logger,
  antivirus: AntivirusStepOptions = antivirusOptions(config),
  /** The spam step's settings (spamStepOptions), for serve; commands that only send notices or releases need none. */
  spam?: SpamStepOptions,
): Intake {
  return new Intake({
    steps: stepsByOrigin({
      resolver,
      senderAuth: config.sender_auth,
      submissionReceivedClientIp: config.submission.received_client_ip,
      accounts: store.accounts,
      keys: store.keys,
      antivirus,
      attachments: attachmentOptions(config),
      ...(spam ? { spam } : {}),
    }),
    // Only the MDA gets the delivery store: it alone writes mailboxes and the queue.
    mda: new MailDeliveryAgent(store.deliveries),
    scratch: store.deliveries,
    hostname: config.hostname,
    logger: logger.child({ role: 'intake' }),
  });
}
