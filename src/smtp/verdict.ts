// What every SMTP policy stage returns (DESIGN: a verdict union, never an exception
// and never a callback that can fire twice).
import type { Reply } from './replies.ts';

export type Verdict<T = undefined> =
  | { action: 'accept'; reply?: Reply; value: T }
  | { action: 'reject' | 'tempfail'; reply: Reply };

export const accept = <T>(value: T, reply?: Reply): Verdict<T> =>
  reply ? { action: 'accept', value, reply } : { action: 'accept', value };

export const refuse = (reply: Reply): { action: 'reject' | 'tempfail'; reply: Reply } => ({
  action: reply.code >= 500 ? 'reject' : 'tempfail',
  reply,
});
