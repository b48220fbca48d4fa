// Where the queue's DSNs go. StoreBounceSink delivers one like any mail from the null sender
// (RFC 3461 §6.1, RFC 5321 §4.5.5): to a local address → a copy in each resolved account's INBOX
// (quota ignored: a bounce must not be lost to a full mailbox) with "Return-Path: <>"; to a remote
// address (or remote alias targets) → a new queue entry with sender "" and NOTIFY=NEVER, so the
// notice itself never causes another notice.

import { deliveredToHeader, returnPathHeader } from "../mail/received.js";
import { parseMime } from "../mail/mime-parser.js";
import { decodeSubject } from "../mail/text-extract.js";
import { domainOf } from "../store/address.js";
import {
  type DeliveryTarget,
  type MailStore,
  type NewQueueMessage,
  StoreError,
  storedHeaderOf,
} from "../store/types.js";

export interface BounceSink {
  /** delivers `message` (a complete DSN) to `to`, durably before it resolves */
  send(to: string, message: Buffer): Promise<void>;
}

/** most characters of DSN text put in the full-text index */
const SEARCH_TEXT_LIMIT = 64 * 1024;

export class StoreBounceSink implements BounceSink {
  /** hostname: ours, named in errors */
  constructor(private readonly deps: { store: MailStore; hostname?: string }) {}

  async send(to: string, message: Buffer): Promise<void> {
    const { store } = this.deps;
    if (to === "") throw new StoreError("invalid", "a DSN is never sent to the null sender");
    const domain = domainOf(to);
    const local = await store.isLocalDomain(domain);
    const resolved = local ? await store.resolveRecipient(to) : null;
    if (local && !resolved) {
      const at = this.deps.hostname ? ` at ${this.deps.hostname}` : "";
      throw new StoreError("not-found", `no local recipient ${to}${at} for a delivery status notification`);
    }

    const blob = await store.blobs.put(message);
    const text: string[] = [];
    const parsed = parseMime(message, { textLimit: SEARCH_TEXT_LIMIT, onText: (chunk) => text.push(chunk) });
    const subject = decodeSubject(parsed.envelope) ?? "";

    const targets: DeliveryTarget[] = (resolved?.accountIds ?? []).map((accountId, i) => ({
      accountId,
      ignoreQuota: true,
      prefix: Buffer.from(returnPathHeader("") + deliveredToHeader(resolved?.addresses[i] ?? to), "utf8"),
    }));
    const remote = resolved ? resolved.remote : [to];
    let queue: NewQueueMessage | undefined;
    if (remote.length > 0) {
      queue = { sender: "", recipients: remote.map((address) => ({ address, notify: ["NEVER"] })) };
    }
    await store.deliver({
      content: {
        blobId: blob.id,
        blobSize: blob.size,
        mime: parsed.root,
        envelope: parsed.envelope,
        searchText: `${subject}\n${text.join("")}`,
        header: storedHeaderOf(message, parsed.root),
      },
      targets,
      queue,
    });
  }
}
