// RFC 3461 §5.2.3: the MTA that delivers a message into a mailbox issues the "delivered" DSN for
// recipients that asked for NOTIFY=SUCCESS. The notice carries the original's header only (§6.2:
// success reports never return the content) and goes to the envelope sender through the same
// BounceSink the queue uses; never to the null sender (RFC 5321 §4.5.5).
import { composeDsn, type DsnRecipient } from "../mail/dsn.js";
import type { BounceSink } from "../queue/bounce-sink.js";
import type { MailStore } from "../store/types.js";
import type { InboundEnvelope, SpooledMessage } from "./types.js";

export interface SuccessNotices {
  sink: BounceSink;
  hostname: string;
}

/** The local recipients of `env` that asked for a success notice. */
export function successRecipients(env: InboundEnvelope): DsnRecipient[] {
  if (env.mailFrom === "") return [];
  return env.recipients
    .filter((r) => r.kind === "local" && r.notify?.includes("SUCCESS"))
    .map((r) => ({
      address: r.address,
      orcpt: r.orcpt ?? null,
      action: "delivered" as const,
      status: "2.0.0",
      lastAttemptDate: null,
      reason: "delivered to the mailbox",
    }));
}

export async function sendSuccessNotice(
  notices: SuccessNotices,
  store: MailStore,
  msg: SpooledMessage,
  env: InboundEnvelope,
  date: Date,
): Promise<boolean> {
  const recipients = successRecipients(env);
  if (recipients.length === 0) return false;
  const header = await store.blobs.read(msg.blobId, 0, Math.min(msg.mime.headerEnd, 1 << 20));
  const dsn = composeDsn({
    hostname: notices.hostname,
    to: env.mailFrom,
    date,
    envid: env.envid ?? null,
    arrivalDate: date,
    recipients: recipients.map((r) => ({ ...r, lastAttemptDate: date })),
    ret: "HDRS",
    original: header,
    originalComplete: false,
    originalSize: msg.size,
  });
  await notices.sink.send(env.mailFrom, dsn);
  return true;
}
