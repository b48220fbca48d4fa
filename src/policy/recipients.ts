// Which recipients a transaction may have (DESIGN.md §5 step 1). The rules that keep Postamt from
// being an open relay live here and only here:
//   - a recipient in a local domain must resolve (account, alias, +tag, catch-all), else 550 5.1.1;
//   - any other domain is accepted only from an authenticated submitter, into the outbound queue;
//     everyone else gets 554 5.7.1;
//   - the local part is never interpreted for routing ("%" hack, "user@a"@b, bang paths): an
//     address is routed by its domain alone, so such tricks only ever reach the lookup.
import type { AcceptedRecipient } from "../delivery/types.js";
import type { Mailbox } from "../smtp/protocol/address.js";
import type { Reply } from "../smtp/protocol/reply.js";
import { REPLIES, withText } from "../smtp/protocol/reply.js";
import { normalizeDomain } from "../store/address.js";
import type { MailStore } from "../store/types.js";

export type RecipientDecision =
  | { ok: true; recipients: AcceptedRecipient[] }
  | { ok: false; reply: Reply; reason: "unknown-user" | "relay-denied" | "quota" | "bad-domain" };

export interface RecipientContext {
  store: MailStore;
  /** the session may relay (authenticated submission) */
  mayRelay: boolean;
  /** declared message size (SIZE=), for the quota check */
  declaredSize: number;
  /** the server's hostname, for resolving "postmaster" without a domain */
  hostname: string;
  notify?: string[];
  orcpt?: string;
  /** a bounce (MAIL FROM:<>) arriving on the MX */
  nullSender?: boolean;
}

const mailboxFull = (address: string): Reply =>
  withText({ code: 452, enhanced: "4.2.2", lines: [] }, `<${address}>: Mailbox full, try again later`);

export async function decideRecipient(to: Mailbox, ctx: RecipientContext): Promise<RecipientDecision> {
  const { store } = ctx;
  const dsn = { notify: ctx.notify, orcpt: ctx.orcpt };
  let address = to.address;
  // RFC 5321 §4.5.1: "postmaster" without a domain must be accepted.
  if (to.domain === "") {
    const domains = await store.listDomains();
    const hostDomain = ctx.hostname.split(".").slice(1).join(".");
    const target = domains.find((d) => d.name === ctx.hostname || d.name === hostDomain) ?? domains[0];
    if (!target)
      return {
        ok: false,
        reply: withText(REPLIES.mailboxUnknown, "<postmaster>: no local domain"),
        reason: "unknown-user",
      };
    address = `postmaster@${target.name}`;
  }
  if (address.startsWith("[") || address.includes("@[")) {
    // Address literals are never a local destination, and the outbound queue routes by MX only.
    return ctx.mayRelay
      ? {
          ok: false,
          reply: {
            code: 553,
            enhanced: "5.1.2",
            lines: ["Address literals are not supported as recipients"],
          },
          reason: "bad-domain",
        }
      : { ok: false, reply: REPLIES.relayDenied, reason: "relay-denied" };
  }
  const at = address.lastIndexOf("@");
  let domain: string;
  try {
    domain = normalizeDomain(address.slice(at + 1));
  } catch {
    return { ok: false, reply: withText(REPLIES.badRecipient, "Bad recipient domain"), reason: "bad-domain" };
  }
  if (!(await store.isLocalDomain(domain))) {
    return ctx.mayRelay
      ? { ok: true, recipients: [{ kind: "remote", address: `${address.slice(0, at)}@${domain}`, ...dsn }] }
      : { ok: false, reply: REPLIES.relayDenied, reason: "relay-denied" };
  }
  const resolved = await store.resolveRecipient(address);
  if (resolved?.catchAll && ctx.nullSender) {
    // Backscatter: spammers forge random addresses of our domains as senders, and the bounces come
    // back to them. A catch-all would take them all; only a real mailbox or alias sent mail that
    // can bounce.
    return {
      ok: false,
      reply: withText(REPLIES.mailboxUnknown, `<${address}>: Recipient address rejected: bounces are accepted for real addresses only`),
      reason: "unknown-user",
    };
  }
  if (!resolved) {
    return {
      ok: false,
      reply: withText(REPLIES.mailboxUnknown, `<${address}>: Recipient address rejected: User unknown`),
      reason: "unknown-user",
    };
  }
  for (const id of resolved.accountIds) {
    const q = await store.getQuota(id);
    if (q.limitBytes !== null && q.usedBytes + ctx.declaredSize > q.limitBytes) {
      return { ok: false, reply: mailboxFull(address), reason: "quota" };
    }
  }
  const recipients: AcceptedRecipient[] = [];
  if (resolved.accountIds.length > 0) {
    recipients.push({
      kind: "local",
      address,
      accountIds: resolved.accountIds,
      addresses: resolved.addresses,
      ...dsn,
    });
  }
  // Alias targets in other domains are forwarded through the outbound queue.
  for (const remote of resolved.remote) recipients.push({ kind: "remote", address: remote, ...dsn });
  return { ok: true, recipients };
}

/** Does `address` belong to the account: its own address, a +tag of it, or an alias that delivers to it? */
export async function addressBelongsTo(
  store: MailStore,
  address: string,
  account: { id: number; address: string },
): Promise<boolean> {
  const lower = address.toLowerCase();
  if (lower === account.address) return true;
  const resolved = await store.resolveRecipient(lower).catch(() => null);
  return resolved?.accountIds.includes(account.id) ?? false;
}
