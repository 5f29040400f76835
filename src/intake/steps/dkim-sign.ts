// Intake step `dkim-sign` (587/465, last): mail whose From is in a local domain is
// signed with every active key of that domain (RSA-SHA256 and Ed25519-SHA256,
// relaxed/relaxed, src/policy/dkim/sign.ts). It runs last, so the signature covers
// exactly the bytes stored and sent, local copies included.
import { signMessage, signingDomainFor } from '../../policy/dkim/sign.ts';
import { fieldsNamed, parseHeaderSection } from '../../mail/header.ts';
import type { AccountStore } from '../../store/accounts.ts';
import type { KeyStore } from '../../store/keys.ts';
import type { Step } from '../step.ts';

export function dkimSignStep(options: { accounts: Pick<AccountStore, 'isLocalDomain'>; keys: Pick<KeyStore, 'activeDkimKeys'> }): Step {
  return {
    name: 'dkim-sign',
    timeoutMs: 10_000,
    run: async (draft) => {
      const header = await draft.content.header();
      const from = fieldsNamed(parseHeaderSection(header), 'From').map((field) => field.value).join(', ');
      const candidate = signingDomainFor(from, () => true);
      if (!candidate || !(await options.accounts.isLocalDomain(candidate))) return { action: 'accept', notes: { dkim: null } };
      const signature = await signMessage(await draft.content.read(), candidate, await options.keys.activeDkimKeys(candidate));
      if (!signature) return { action: 'accept', notes: { dkim: null } };
      return { action: 'modify', prepend: signature, notes: { dkim: candidate } };
    },
  };
}
