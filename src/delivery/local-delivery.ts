// LocalDeliveryAgent: the only code that puts mail in a mailbox (DESIGN.md §4–5). One spooled
// blob serves every copy; what differs per copy is the trace-header prefix stored beside it:
//
//   Return-Path: <sender>             RFC 5321 §4.4: added at final delivery
//   Delivered-To: <final recipient>   loop detection, as Postfix and Dovecot
//   Received: … for <rcpt>; <date>    RFC 5321 §4.4, one recipient per copy (no Bcc leak, §7.2)
//   <extraPrefix>                     e.g. Authentication-Results
//
// Every local copy and the queue entry for remote recipients go into ONE store.deliver call: one
// transaction, all or nothing, durable (fsync) when it resolves — the session answers 250 only then.

import type { Metrics } from "../http/metrics.js";
import { deliveredToHeader, receivedHeader, returnPathHeader } from "../mail/received.js";
import { normalizeAddress, normalizeRemoteAddress, splitAddress, splitSubaddress } from "../store/address.js";
import type { DeliveryTarget, MailStore, NewQueueMessage, NewQueueRecipient } from "../store/types.js";
import { sendSuccessNotice, type SuccessNotices } from "./success-notice.js";
import type {
  DeliveryOutcome,
  InboundEnvelope,
  LocalRecipient,
  RemoteRecipient,
  SpooledMessage,
  TraceInfo,
} from "./types.js";

export interface DeliverOptions {
  /** file into each account's Junk mailbox (special-use \Junk) instead of INBOX */
  junk?: boolean;
  /** the authenticated submitter's account, recorded on the queue entry */
  accountId?: number | null;
  /** header fields placed after Received in every local copy (e.g. Authentication-Results) */
  extraPrefix?: string;
  /** header fields placed before Received in the queued copy (e.g. DKIM-Signature) */
  queueExtraPrefix?: string;
}

interface Copy {
  accountId: number;
  deliveredTo: string;
  rcpt: string;
}

export class LocalDeliveryAgent {
  constructor(
    private readonly deps: {
      store: MailStore;
      metrics?: Metrics;
      onQueued?: () => void;
      /** where "delivered" DSNs for NOTIFY=SUCCESS go (RFC 3461 §5.2.3); absent: none are sent */
      notices?: SuccessNotices;
      /** a notice that cannot be sent is logged, never fails the delivery */
      onNoticeError?: (err: unknown) => void;
    },
  ) {}

  /**
   * Per local recipient one copy per account (an account reached through several recipients or
   * aliases gets one copy; the first recipient wins for Delivered-To and Received "for"); remote
   * recipients become one queue entry. Throws StoreError "quota" when an account is over quota;
   * then nothing is written for anyone.
   */
  async deliver(
    msg: SpooledMessage,
    env: InboundEnvelope,
    trace: TraceInfo,
    opts: DeliverOptions = {},
  ): Promise<DeliveryOutcome> {
    const { store, metrics } = this.deps;
    // one timestamp for every Received of this delivery and the copies' internal date
    const date = trace.date ?? new Date();
    const t: TraceInfo = { ...trace, date };

    const copies = localCopies(env.recipients);
    const remote = remoteRecipients(env.recipients);

    const junk = opts.junk ? await this.junkMailboxes(copies.map((c) => c.accountId)) : null;
    const returnPath = returnPathHeader(env.mailFrom);
    const extra = opts.extraPrefix ?? "";
    const targets: DeliveryTarget[] = copies.map((c) => {
      const target: DeliveryTarget = {
        accountId: c.accountId,
        prefix: Buffer.from(
          returnPath + deliveredToHeader(c.deliveredTo) + receivedHeader(t, c.rcpt) + extra,
          "utf8",
        ),
      };
      const mailboxId = junk?.get(c.accountId);
      if (mailboxId !== undefined) target.mailboxId = mailboxId;
      return target;
    });

    let queue: NewQueueMessage | undefined;
    if (remote.length > 0) {
      // "for" names the recipient only when there is exactly one (RFC 5321 §7.2: no Bcc leak)
      const received = receivedHeader(t, remote.length === 1 ? remote[0]!.address : null);
      queue = {
        sender: env.mailFrom,
        recipients: remote,
        blobId: msg.blobId,
        prefix: Buffer.from((opts.queueExtraPrefix ?? "") + received, "utf8"),
        dsn: dsnParams(env),
        accountId: opts.accountId ?? null,
      };
    }

    const result = await store.deliver({
      content: {
        blobId: msg.blobId,
        blobSize: msg.size,
        mime: msg.mime,
        envelope: msg.envelope,
        searchText: msg.searchText,
        header: msg.header,
      },
      internalDate: date,
      targets,
      queue,
    });
    if (metrics && result.copies.length > 0) {
      // remote copies are counted by the outbound delivery once sent
      metrics.messagesDelivered.inc({ via: "local" }, result.copies.length);
    }
    if (result.queueId !== null) this.deps.onQueued?.();
    if (this.deps.notices) {
      await sendSuccessNotice(this.deps.notices, store, msg, env, date).catch((err: unknown) =>
        this.deps.onNoticeError?.(err),
      );
    }
    return { localCopies: result.copies.length, queueId: result.queueId };
  }

  /** account id → its Junk mailbox (special-use \Junk, else named "Junk"); absent: use INBOX */
  private async junkMailboxes(accountIds: number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    await Promise.all(
      accountIds.map(async (id) => {
        const boxes = await this.deps.store.listMailboxes(id);
        const junk = boxes.find((b) => b.specialUse === "\\Junk") ?? boxes.find((b) => b.name === "Junk");
        if (junk) out.set(id, junk.id);
      }),
    );
    return out;
  }
}

/** One copy per account, in recipient order. */
function localCopies(recipients: InboundEnvelope["recipients"]): Copy[] {
  const seen = new Set<number>();
  const copies: Copy[] = [];
  for (const r of recipients) {
    if (r.kind !== "local") continue;
    r.accountIds.forEach((accountId, i) => {
      if (seen.has(accountId)) return;
      seen.add(accountId);
      copies.push({ accountId, deliveredTo: deliveredTo(r, i), rcpt: r.address });
    });
  }
  return copies;
}

/**
 * The final recipient for Delivered-To. When RCPT named the account itself, with or without a
 * "+tag", the RCPT address is kept, tag included (as Postfix local(8) writes it), so filters can
 * sort on it; after alias or catch-all expansion it is the account's address.
 */
function deliveredTo(r: LocalRecipient, i: number): string {
  const final = r.addresses[i] ?? r.address;
  try {
    const rcpt = normalizeAddress(r.address);
    const { local, domain } = splitAddress(rcpt);
    const base = splitSubaddress(local)?.base ?? local;
    if (rcpt === final || `${base}@${domain}` === final) return rcpt;
  } catch {
    // not a parseable local address: fall back to the account's
  }
  return final;
}

/** Remote recipients, each address once (the domain compared case-insensitively). */
function remoteRecipients(recipients: InboundEnvelope["recipients"]): NewQueueRecipient[] {
  const seen = new Set<string>();
  const out: NewQueueRecipient[] = [];
  for (const r of recipients) {
    if (r.kind !== "remote") continue;
    const key = remoteKey(r);
    if (seen.has(key)) continue;
    seen.add(key);
    const q: NewQueueRecipient = { address: r.address };
    if (r.notify !== undefined) q.notify = r.notify;
    if (r.orcpt !== undefined) q.orcpt = r.orcpt;
    out.push(q);
  }
  return out;
}

function remoteKey(r: RemoteRecipient): string {
  try {
    return normalizeRemoteAddress(r.address);
  } catch {
    return r.address; // the store rejects it with a clear error
  }
}

function dsnParams(env: InboundEnvelope): NewQueueMessage["dsn"] {
  const dsn: NonNullable<NewQueueMessage["dsn"]> = {};
  if (env.ret !== undefined) dsn.ret = env.ret;
  if (env.envid !== undefined) dsn.envid = env.envid;
  return dsn;
}
