// The inbound policy (DESIGN.md §4 InboundPolicy): what the SMTP session asks at each phase, and
// the reply it must give when the answer is no. Sessions act on the answers; nothing here touches
// a socket. The checks, in the order a message meets them:
//   connect  DNSBL and reverse DNS lookups start (their answers are awaited only later)
//   MAIL     per-IP message rate (MX) or per-account send limit (submission); SPF starts,
//            and is awaited only when inbound.spf_reject asks to refuse SPF failures here
//   RCPT     DNSBL listing, per-IP recipient rate, greylisting (MX); per-account recipients
//   DATA end DKIM/ARC/DMARC → Authentication-Results, DMARC policy, rspamd's verdict
// Clients in limits.exempt_networks (loopback by default: local scripts and web apps, like
// Postfix's mynetworks) skip rates, DNSBL, greylisting and DMARC enforcement; their mail is still
// authenticated and gets an Authentication-Results header.
import type { Readable } from "node:stream";
import type { Config } from "../config/types.js";
import type { DnsResolver } from "../dns/types.js";
import type { Log } from "../log/logger.js";
import { type IprevResult, checkIprev } from "../security/iprev.js";
import { type InboundAuthResult, type SpfOutcome, authenticateInbound, checkSpf } from "../security/inbound-auth.js";
import type { Reply } from "../smtp/protocol/reply.js";
import type { MailStore } from "../store/types.js";
import type { DmarcRecorder } from "./dmarc-recorder.js";
import type { DnsblChecker, DnsblListing } from "./dnsbl.js";
import type { Greylist } from "./greylist.js";
import type { AbuseLimits } from "./rate-limits.js";
import { type RspamdClient, rspamdVerdict } from "./rspamd.js";

export interface InboundPolicyDeps {
  config: Config;
  store: Pick<MailStore, "isLocalDomain" | "blobs">;
  resolver: DnsResolver;
  log: Log;
  abuse: AbuseLimits;
  dnsbl: DnsblChecker | null;
  greylist: Greylist | null;
  rspamd: RspamdClient | null;
  dmarc: DmarcRecorder | null;
}

/** Lookups about the client, started once per connection on the MX listener. */
export interface ClientChecks {
  ip: string;
  exempt: boolean;
  iprev: Promise<IprevResult> | null;
  dnsbl: Promise<DnsblListing | null> | null;
}

export interface MessageFacts {
  blobId: string;
  size: number;
  ip: string;
  helo: string | null;
  /** "" for <> */
  mailFrom: string;
  recipients: string[];
  /** SPF as started at MAIL FROM */
  spf: Promise<SpfOutcome> | null;
  /** SPF of the HELO name, started at MAIL FROM (null: HELO was an address literal, or <>) */
  heloSpf?: Promise<SpfOutcome> | null;
  queueId: string;
}

export type DataDecision =
  | {
      action: "accept";
      /** file into Junk */
      junk: boolean;
      /** header fields to add to every local copy (Authentication-Results, X-Spam-*) */
      prefix: string;
      /** for the log line */
      notes: Record<string, unknown>;
    }
  | { action: "reject" | "tempfail"; reply: Reply; reason: string; notes: Record<string, unknown> };

const retryMinutes = (ms: number) => Math.max(1, Math.ceil(ms / 60_000));

export class InboundPolicy {
  constructor(private readonly deps: InboundPolicyDeps) {}

  get abuse(): AbuseLimits {
    return this.deps.abuse;
  }

  /** The client's verified reverse DNS name (iprev pass), for Received; null when unknown. */
  async verifiedHost(c: ClientChecks): Promise<string | null> {
    return verifiedName(await c.iprev?.catch(() => null)) || null;
  }

  /** At the greeting of an MX session. Failures of these lookups are logged and ignored. */
  startClient(ip: string): ClientChecks {
    const { config, resolver, dnsbl } = this.deps;
    const exempt = this.deps.abuse.isExempt(ip);
    const iprev = config.inbound.authenticate
      ? checkIprev(ip, resolver).catch((): IprevResult => ({ result: "temperror", name: null }))
      : null;
    iprev?.catch(() => undefined);
    const listing = dnsbl && !exempt ? dnsbl.check(ip).catch(() => null) : null;
    return { ip, exempt, iprev, dnsbl: listing };
  }

  /** MAIL FROM on the MX listener. */
  async mail(
    c: ClientChecks,
    helo: string | null,
    mailFrom: string,
  ): Promise<{ reply: Reply | null; spf: Promise<SpfOutcome> | null; heloSpf?: Promise<SpfOutcome> | null }> {
    const { config, resolver, abuse } = this.deps;
    if (!c.exempt) {
      const rate = abuse.message(c.ip);
      if (!rate.ok) {
        return {
          reply: {
            code: 451,
            enhanced: "4.7.1",
            lines: [
              `Too many messages from your address; try again in ${retryMinutes(rate.retryAfterMs)} minute(s)`,
            ],
          },
          spf: null,
        };
      }
    }
    if (!config.inbound.authenticate && !config.inbound.spf_reject) return { reply: null, spf: null };
    const spf = checkSpf({ ip: c.ip, helo, mailFrom, hostname: config.hostname, resolver });
    spf.catch(() => undefined);
    // RFC 7208 §2.3: the HELO identity checked too, when it is a name (an address literal has no SPF)
    const heloSpf =
      config.inbound.authenticate && mailFrom !== "" && helo && !helo.startsWith("[") && helo.includes(".")
        ? checkSpf({ ip: c.ip, helo, mailFrom: "", hostname: config.hostname, resolver })
        : null;
    heloSpf?.catch(() => undefined);
    if (config.inbound.spf_reject && !c.exempt) {
      const r = await spf.catch(() => null);
      if (r?.result === "fail") {
        // RFC 7208 §8.4: a "fail" may be rejected with 550 5.7.1; RFC 7372 §3.2 gives 5.7.23.
        return {
          reply: {
            code: 550,
            enhanced: "5.7.23",
            lines: [`SPF of ${r.domain} does not allow ${c.ip} to send its mail: ${oneLine(r.comment)}`],
          },
          spf,
        };
      }
    }
    return { reply: null, spf, heloSpf };
  }

  /** MAIL FROM on submission: the account's hourly message limit. */
  submissionMail(accountId: number): Reply | null {
    const r = this.deps.abuse.accountMessage(accountId);
    if (r.ok) return null;
    return {
      code: 451,
      enhanced: "4.7.1",
      lines: [`Sending limit reached (messages per hour); try again in ${retryMinutes(r.retryAfterMs)} minute(s)`],
    };
  }

  /** RCPT TO on submission: the account's daily recipient limit. */
  submissionRcpt(accountId: number): Reply | null {
    const r = this.deps.abuse.accountRecipient(accountId);
    if (r.ok) return null;
    return {
      code: 451,
      enhanced: "4.7.1",
      lines: [`Sending limit reached (recipients per day); try again in ${retryMinutes(r.retryAfterMs)} minute(s)`],
    };
  }

  /**
   * RCPT TO on the MX, before the recipient is looked up: the DNSBL listing (RFC 5782) and the
   * recipient rate.
   */
  async rcptClient(c: ClientChecks): Promise<Reply | null> {
    if (c.exempt) return null;
    const listing = c.dnsbl ? await c.dnsbl : null;
    if (listing) {
      return {
        code: 554,
        enhanced: "5.7.1",
        lines: [`Service unavailable; client [${c.ip}] blocked using ${listing.zone}: ${oneLine(listing.text)}`],
      };
    }
    const rate = this.deps.abuse.recipient(c.ip);
    if (!rate.ok) {
      return {
        code: 451,
        enhanced: "4.7.1",
        lines: [`Too many recipients from your address; try again in ${retryMinutes(rate.retryAfterMs)} minute(s)`],
      };
    }
    return null;
  }

  /** RCPT TO on the MX, after the recipient was found: greylisting (RFC 6647). */
  async rcptAccepted(c: ClientChecks, mailFrom: string, rcpt: string): Promise<Reply | null> {
    const g = this.deps.greylist;
    if (!g || c.exempt) return null;
    const r = await g.check(c.ip, mailFrom, rcpt).catch((err: unknown) => {
      this.deps.log.warn("policy.error", "greylisting failed; recipient accepted", { err });
      return null;
    });
    if (!r || r.action === "pass") return null;
    // RFC 6647 §2.1: a temporary failure; the text says when a retry will pass
    return {
      code: 451,
      enhanced: "4.7.1",
      lines: [`Greylisted, please try again in ${Math.max(1, r.retryAfterSeconds)} seconds`],
    };
  }

  /** End of data on the MX: authentication, DMARC, rspamd. Never throws. */
  async data(m: MessageFacts, c: ClientChecks): Promise<DataDecision> {
    const { config, store, log } = this.deps;
    const notes: Record<string, unknown> = {};
    let prefix = "";
    let junk = false;
    if (config.inbound.authenticate) {
      let auth: InboundAuthResult | null = null;
      try {
        auth = await authenticateInbound({
          message: store.blobs.createReadStream(m.blobId) as Readable,
          ip: m.ip,
          helo: m.helo,
          mailFrom: m.mailFrom,
          hostname: config.hostname,
          resolver: this.deps.resolver,
          spf: (await m.spf?.catch(() => undefined)) ?? undefined,
          heloSpf: (await m.heloSpf?.catch(() => undefined)) ?? undefined,
          iprev: (await c.iprev?.catch(() => undefined)) ?? undefined,
          isLocalDomain: (d) => store.isLocalDomain(d),
          dmarcEnforce: config.inbound.dmarc_enforce && !c.exempt,
          protectLocalDomains: config.inbound.protect_local_domains && !c.exempt,
          trustedArcSealers: config.inbound.trusted_arc_sealers,
        });
      } catch (err) {
        log.warn("policy.error", "message authentication failed; delivered without it", { err });
      }
      if (auth) {
        prefix += auth.header;
        notes.spf = auth.spf.result;
        notes.dkim = auth.dkim.map((d) => `${d.domain}:${d.result}`).join(",") || "none";
        notes.dmarc = auth.dmarc.result;
        if (auth.dmarc.domain) this.recordDmarc(m, auth);
        if (auth.disposition === "reject") {
          notes.reason = auth.reason;
          return {
            action: "reject",
            reply: { code: 550, enhanced: "5.7.1", lines: [oneLine(auth.reason)] },
            reason: "dmarc",
            notes,
          };
        }
        if (auth.disposition === "quarantine") {
          junk = true;
          notes.quarantine = auth.reason;
        }
      }
    }
    const rspamd = this.deps.rspamd;
    if (rspamd) {
      try {
        const r = await rspamd.check({
          message: store.blobs.createReadStream(m.blobId) as Readable,
          size: m.size,
          ip: m.ip,
          helo: m.helo,
          mailFrom: m.mailFrom,
          recipients: m.recipients,
          // rspamd's Hostname is the client's verified reverse DNS name ("" when unknown)
          hostname: verifiedName(await c.iprev?.catch(() => null)),
          queueId: m.queueId,
        });
        const v = rspamdVerdict(r);
        notes.rspamd = `${r.action} ${r.score}/${r.requiredScore}`;
        if (v.action === "reject")
          return { action: "reject", reply: { code: v.code, enhanced: v.enhanced, lines: [oneLine(v.text)] }, reason: "spam", notes };
        if (v.action === "tempfail")
          return {
            action: "tempfail",
            reply: { code: v.code, enhanced: v.enhanced, lines: [oneLine(v.text)] },
            reason: "spam-tempfail",
            notes,
          };
        prefix += v.headers;
        junk ||= v.junk;
      } catch (err) {
        log.warn("policy.error", `rspamd could not scan the message (rspamd.on_error = ${config.rspamd.on_error})`, {
          err,
        });
        if (config.rspamd.on_error === "tempfail") {
          return {
            action: "tempfail",
            reply: { code: 451, enhanced: "4.7.1", lines: ["Message could not be scanned; try again later"] },
            reason: "scanner-error",
            notes,
          };
        }
      }
    }
    return { action: "accept", junk, prefix, notes };
  }

  private recordDmarc(m: MessageFacts, auth: InboundAuthResult): void {
    const rec = this.deps.dmarc;
    if (!rec) return;
    const best = auth.dkim.find((d) => d.result === "pass") ?? auth.dkim[0];
    rec.record({
      domain: auth.dmarc.domain,
      // a dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; reports name them as IPv4
      sourceIp: m.ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, ""),
      policy: auth.dmarc.policy,
      disposition: auth.disposition,
      dmarc: auth.dmarc.result,
      spf: auth.spf.result,
      spfDomain: auth.spf.domain,
      dkim: best?.result ?? "none",
      dkimDomain: best?.domain ?? "",
    });
  }
}

function verifiedName(iprev: IprevResult | null | undefined): string {
  return iprev?.result === "pass" ? (iprev.name ?? "") : "";
}

/** Text from DNS or a scanner, made safe for one reply line. */
function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, " ").slice(0, 400);
}
