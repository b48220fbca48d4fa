// The end of a message (after CRLF.CRLF or BDAT LAST): make the spool durable, apply the submission
// rules to the header, hand the message to the LocalDeliveryAgent (local copies and the queue in one
// transaction), and only then say 250 (DESIGN.md §5 step 4). Store trouble becomes a 4xx, never a
// half-delivered message.
import { addressBelongsTo } from "../../../policy/recipients.js";
import type { MimeLimits } from "../../../mail/mime-types.js";
import type { SpoolOptions } from "../../../delivery/spool.js";
import { AuthResultsFilter } from "../../../security/header-filter.js";
import { StoreError } from "../../../store/types.js";
import { REPLIES, type Reply, withText } from "../../protocol/reply.js";
import type { SpooledMessage } from "../../../delivery/types.js";
import type { SmtpSession } from "../session.js";

export function mimeLimits(s: SmtpSession): Partial<MimeLimits> {
  const l = s.deps.config.limits;
  return { maxHeaderBytes: l.mime_header_bytes, maxParts: l.mime_parts, maxDepth: l.mime_depth };
}

/**
 * How a message is spooled: with the MIME bounds, and with forged Authentication-Results fields
 * removed on every listener (RFC 8601 §5: only ours may claim our authserv-id; a local user could
 * otherwise show colleagues a fake "dkim=pass").
 */
export function spoolOptions(s: SmtpSession): SpoolOptions {
  return {
    limits: mimeLimits(s),
    transform: new AuthResultsFilter({
      authservId: s.deps.config.hostname,
      maxHeaderBytes: s.deps.config.limits.mime_header_bytes,
    }),
  };
}

export async function commitMessage(s: SmtpSession): Promise<void> {
  const txn = s.txn;
  if (!txn?.spool) return;
  const spool = txn.spool;
  const id = s.nextTransactionId();
  try {
    if (txn.spoolError) throw txn.spoolError;
    const message = await spool.finish();
    if (s.account) {
      // RFC 6409 §8.1 lets the MSA refuse a From: that does not belong to the submitter.
      for (const a of message.envelope.from) {
        if (!a.mailbox || a.host === null) continue;
        const address = `${a.mailbox}@${a.host}`;
        if (!(await addressBelongsTo(s.deps.store, address, s.account))) {
          s.reject("from-mismatch");
          s.txn = null;
          await spool.abort();
          s.reply({
            code: 550,
            enhanced: "5.7.1",
            lines: [`From: <${address}> does not belong to ${s.account.address}`],
          });
          return;
        }
      }
    }
    // RFC 5321 §6.3: too many Received fields means a loop; refuse rather than pass it on again.
    const header = await s.deps.store.blobs.read(message.blobId, 0, Math.min(message.mime.headerEnd, 1 << 20));
    const hops = countReceived(header);
    if (hops > s.deps.config.limits.hops) {
      s.reject("too-many-hops");
      s.txn = null;
      await spool.abort();
      s.reply({ code: 554, enhanced: "5.4.6", lines: [`Too many hops (${hops} Received header fields): mail loop?`] });
      return;
    }
    let extraPrefix = "";
    let junk = false;
    if (s.role === "smtp" && s.client) {
      const decision = await s.deps.policy.data(
        {
          blobId: message.blobId,
          size: message.size,
          ip: s.io.remoteAddress,
          helo: s.helo,
          mailFrom: txn.from?.address ?? "",
          recipients: txn.recipients.map((r) => r.address),
          spf: txn.spf,
          heloSpf: txn.heloSpf,
          queueId: id,
        },
        s.client,
      );
      if (decision.action !== "accept") {
        s.reject(decision.reason);
        s.log.warn("policy.verdict", `message refused: ${decision.reason}`, {
          id,
          from: txn.from?.address ?? "<>",
          remote: s.io.remoteAddress,
          ...decision.notes,
        });
        s.txn = null;
        await spool.abort();
        s.reply(decision.reply);
        return;
      }
      extraPrefix = decision.prefix;
      junk = decision.junk;
      if (junk || Object.keys(decision.notes).length > 0)
        s.log.info("policy.verdict", junk ? "message filed as junk" : "message authenticated", {
          id,
          junk,
          ...decision.notes,
        });
    }
    const queueExtraPrefix = await dkimPrefix(s, message, txn.from?.address ?? "");
    const outcome = await s.deps.delivery.deliver(
      message,
      {
        mailFrom: txn.from?.address ?? "",
        ret: txn.params.ret,
        envid: txn.params.envid,
        smtputf8: txn.params.smtputf8,
        recipients: txn.recipients,
      },
      {
        receivedBy: s.deps.config.hostname,
        heloName: s.helo,
        remoteAddress: s.io.remoteAddress,
        remoteHost: s.client ? await s.deps.policy.verifiedHost(s.client) : null,
        protocol: s.withProtocol(),
        tls: s.io.tls,
        authenticatedAs: s.account?.address ?? null,
        id,
      },
      { accountId: s.account?.id ?? null, queueExtraPrefix, extraPrefix, junk },
    );
    s.txn = null;
    s.deps.metrics.messagesAccepted.inc({ listener: s.role });
    s.log.info(
      "message.accepted",
      `message accepted: ${message.size} bytes for ${txn.recipients.length} recipient(s)`,
      {
        id,
        from: txn.from?.address ?? "<>",
        size: message.size,
        local: outcome.localCopies,
        queued: outcome.queueId,
      },
    );
    s.reply({ code: 250, enhanced: "2.0.0", lines: [`Ok: queued as ${outcome.queueId ?? id}`] });
  } catch (err) {
    s.txn = null;
    await spool.abort().catch(() => undefined);
    s.reply(storeFailureReply(s, err));
  }
}

/** Received: fields in a header section (field names at line starts). */
export function countReceived(header: Buffer): number {
  return header.toString("latin1").match(/(?:^|\n)Received[ \t]*:/gi)?.length ?? 0;
}

/**
 * DKIM-Signature fields for what an authenticated user sends to other domains (RFC 6376, RFC 8463),
 * signed for the From domain when it is ours (DMARC alignment), else the envelope sender's. Local
 * copies are not signed: they never leave the server. A signing failure is logged, not fatal:
 * unsigned mail is better than lost mail.
 */
async function dkimPrefix(s: SmtpSession, message: SpooledMessage, mailFrom: string): Promise<string> {
  const signer = s.deps.signer;
  const txn = s.txn;
  if (!signer || !s.account || !txn?.recipients.some((r) => r.kind === "remote")) return "";
  const fromDomain = message.envelope.from.find((a) => a.host)?.host ?? null;
  const senderDomain = mailFrom.includes("@") ? mailFrom.slice(mailFrom.lastIndexOf("@") + 1) : null;
  let domain: string | null = null;
  for (const d of [fromDomain, senderDomain]) {
    if (d && (await s.deps.store.getDomain(d.toLowerCase()))) {
      domain = d.toLowerCase();
      break;
    }
  }
  if (!domain) return "";
  try {
    return await signer.sign({ body: s.deps.store.blobs.createReadStream(message.blobId) }, { domain });
  } catch (err) {
    s.log.error("internal.error", `DKIM signing for ${domain} failed; sending unsigned`, { err });
    return "";
  }
}

function storeFailureReply(s: SmtpSession, err: unknown): Reply {
  if (err instanceof StoreError && err.code === "quota") {
    s.reject("quota");
    return withText({ code: 452, enhanced: "4.2.2", lines: [] }, "Mailbox full, try again later");
  }
  if ((err as NodeJS.ErrnoException)?.code === "ENOSPC") {
    s.reject("disk-full");
    s.log.error("internal.error", "disk full while receiving a message", { err });
    return REPLIES.insufficientStorage;
  }
  s.reject("store-error");
  s.log.error("internal.error", "could not store a message", { err });
  return REPLIES.localError;
}
