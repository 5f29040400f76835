// The MDA: the one writer of mailboxes and the outbound queue. It takes the delivery
// plan the intake pipeline made (which bytes, which mailbox and folder, which flags,
// which remote recipients) and makes it durable: every variant's file written and
// fdatasynced, then one transaction — shared with concurrent deliveries (group
// commit) — adds every mailbox copy and every queue row. Only then does it resolve,
// and only then may a listener say 250.
//
// SECURITY: nothing here reads the network or parses mail; the plan's folders are
// names, never paths (the store keeps mailboxes as rows).
import type { Readable } from 'node:stream';
import type { DeliveryPart, DeliveryStore, QuarantineRecord, QueueOrigin } from '../store/deliveries.ts';

/** The bytes of one variant: what the intake's MessageContent offers. */
export interface DeliverableContent {
  readonly size: number;
  /** True when every octet is in memory: written with one write. */
  readonly inMemory: boolean;
  read(): Promise<Buffer>;
  stream(): Readable;
}

export type PlanRecipient =
  | { kind: 'mailbox'; userId: number; folder: string; flags: DeliveryPart['copies'][number]['flags']; keywords: readonly string[] }
  | { kind: 'remote'; address: string };

/** Which bytes go to whom; one variant unless a step gave recipients their own bytes. */
export interface DeliveryPlan {
  queueId: string;
  /** '' for the null reverse-path. */
  mailFrom: string;
  /** Decides whether the sender may be told about a failed remote delivery (no backscatter). */
  queueOrigin: QueueOrigin;
  /** First attempt for remote recipients not before this (unix ms): the hold window. */
  notBefore?: number;
  variants: readonly { content: DeliverableContent; recipients: readonly PlanRecipient[] }[];
  /** The original a content filter took out of the message's way, kept in the quarantine with the delivery. */
  quarantine?: { content: DeliverableContent; record: QuarantineRecord };
  /** A quarantine entry this delivery releases: taken out in the same transaction (so it is delivered once). */
  release?: string;
  /** What the antivirus engines scanned it with, recorded per mailbox copy (rescans at retrieval). */
  scannedWith?: string;
}

export interface DeliveryResult {
  mailboxes: number;
  queued: number;
  size: number;
  /** An original went into the quarantine. */
  quarantined: boolean;
}

export class MailDeliveryAgent {
  readonly #store: DeliveryStore;

  constructor(store: DeliveryStore) {
    this.#store = store;
  }

  /** Resolves once the message is durable in every mailbox and the queue. */
  async deliver(plan: DeliveryPlan): Promise<DeliveryResult> {
    const written: string[] = [];
    try {
      const parts: DeliveryPart[] = [];
      const write = async (content: DeliverableContent) => {
        const file = this.#store.newMessageFile();
        written.push(file);
        const { size } = await this.#store.writeMessageFile(file, content.inMemory ? await content.read() : content.stream());
        return { file, size };
      };
      for (const variant of plan.variants) {
        const part = this.#part(plan, variant.recipients);
        if (part.copies.length === 0 && part.queued.length === 0) continue;
        parts.push({ ...(await write(variant.content)), ...part, ...(plan.scannedWith === undefined ? {} : { scannedWith: plan.scannedWith }) });
      }
      if (parts.length === 0 && !plan.quarantine) throw new RangeError(`message ${plan.queueId} has no recipient left to deliver to`);
      const delivered = { mailboxes: parts.reduce((n, p) => n + p.copies.length, 0), queued: parts.reduce((n, p) => n + p.queued.length, 0) };
      const size = parts[0]?.size;
      if (plan.quarantine) parts.push({ ...(await write(plan.quarantine.content)), copies: [], queued: [], quarantine: plan.quarantine.record });
      await this.#store.commitDelivery(parts, plan.release === undefined ? {} : { release: plan.release });
      return { ...delivered, size: size ?? parts[0]!.size, quarantined: plan.quarantine !== undefined };
    } catch (err) {
      await Promise.all(written.map((file) => this.#store.abandonMessageFile(file, err)));
      throw err;
    }
  }

  /**
   * A rescan at retrieval found stored message `messageId` infected: its content becomes
   * `notice` and the old content moves to the quarantine, in one durable transaction.
   * False when the message is gone meanwhile.
   */
  async replaceWithNotice(messageId: number, notice: Buffer, scannedWith: string, record: QuarantineRecord): Promise<boolean> {
    const file = this.#store.newMessageFile();
    let size: number;
    try {
      ({ size } = await this.#store.writeMessageFile(file, notice));
    } catch (err) {
      await this.#store.abandonMessageFile(file, err);
      throw err;
    }
    return this.#store.replaceContent(messageId, { file, size, scannedWith }, record);
  }

  /** Records what scanned stored messages that a rescan found clean. */
  recordScan(messageIds: readonly number[], scannedWith: string): Promise<void> {
    return this.#store.recordScan(messageIds, scannedWith);
  }

  /** Each local mailbox once, each remote address once. */
  #part(plan: DeliveryPlan, recipients: readonly PlanRecipient[]): Omit<DeliveryPart, 'file' | 'size'> {
    const copies = new Map<string, DeliveryPart['copies'][number]>();
    const remote = new Set<string>();
    for (const r of recipients) {
      if (r.kind === 'remote') {
        remote.add(r.address);
      } else {
        copies.set(`${r.userId}\0${r.folder}`, { userId: r.userId, folder: r.folder, flags: r.flags, keywords: r.keywords });
      }
    }
    return {
      copies: [...copies.values()],
      queued: [...remote].map((recipient) => ({
        queueId: plan.queueId,
        mailFrom: plan.mailFrom,
        recipient,
        origin: plan.queueOrigin,
        notBefore: plan.notBefore,
      })),
    };
  }
}
