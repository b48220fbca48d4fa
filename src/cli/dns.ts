// postamt dns DOMAIN: the DNS records to publish so the world can send mail to the domain and trust
// mail from it (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, and RFC 6186 SRV records for client setup), as
// zone-file lines with short comments, ready to paste.
import { createHash } from "node:crypto";
import { BlockList, isIP } from "node:net";
import type { Command } from "commander";
import type { Config, ListenerName } from "../config/types.js";
import { type DkimKey, DkimKeyError, listDomainKeys, type PublishedDkimKey } from "../security/dkim-keys.js";
import { normalizeDomain } from "./addresses.js";
import { withStore } from "./context.js";
import { CliError } from "./errors.js";

export const TTL = 3600;

/** A TXT value as quoted strings of at most 255 octets each (RFC 1035 §3.3.14 character-strings). */
export function txt(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(`"${value.slice(i, i + 255)}"`);
  return parts.join(" ");
}

/** A problem with the DKIM key files, reported as a one-line CLI error. */
export async function explainDkim<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof DkimKeyError) throw new CliError(err.message);
    throw err;
  }
}

/** One line of the printed zone: a comment, a record, or a blank line between groups. */
export type ZoneLine = { comment: string } | { owner: string; type: string; value: string } | { blank: true };

/** Renders zone lines with the record columns aligned. */
export function renderZone(lines: readonly ZoneLine[]): string {
  const records = lines.filter((l): l is { owner: string; type: string; value: string } => "owner" in l);
  const width = Math.max(0, ...records.map((r) => r.owner.length));
  const typeWidth = Math.max(4, ...records.map((r) => r.type.length));
  return lines
    .map((l) => {
      if ("blank" in l) return "\n";
      if ("comment" in l) return `; ${l.comment}`.trimEnd() + "\n";
      return `${l.owner.padEnd(width)}  ${TTL}  IN  ${l.type.padEnd(typeWidth)} ${l.value}\n`;
    })
    .join("");
}

/** The TXT records of DKIM keys (RFC 6376 §3.6.2.2: at <selector>._domainkey.<domain>). */
export function dkimRecords(domain: string, keys: readonly (DkimKey | PublishedDkimKey)[]): ZoneLine[] {
  const out: ZoneLine[] = [];
  for (const k of keys) {
    const retiredAt = "status" in k && k.status === "retired" ? k.retiredAt : undefined;
    const what = k.algorithm === "rsa" ? "RSA, rsa-sha256" : "Ed25519, ed25519-sha256, RFC 8463";
    out.push({
      comment: retiredAt
        ? `${k.selector}: retired ${retiredAt.slice(0, 10)} (${what}); keep it a week so mail signed before verifies`
        : `${k.selector}: signs outgoing mail (${what})`,
    });
    out.push({ owner: `${k.selector}._domainkey.${domain}.`, type: "TXT", value: txt(k.dnsRecord) });
  }
  return out;
}

/** The MTA-STS policy (RFC 8461 §3.2) for the domain's MX, and its id (changes when the policy does). */
export function mtaStsPolicy(config: Config): { text: string; id: string; mode: "testing" | "enforce" } {
  // A self-signed certificate would make senders that enforce the policy refuse to deliver: only enforce
  // with a configured certificate (which must then be valid for the host name).
  const mode = config.tls.cert ? "enforce" : "testing";
  const text = `version: STSv1\nmode: ${mode}\nmx: ${config.hostname}\nmax_age: 604800\n`;
  // §3.1: id is 1-32 alphanumerics; derived from the policy, so it is stable until the policy changes
  const id = createHash("sha256").update(text).digest("hex").slice(0, 20);
  return { text, id, mode };
}

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
] as const)
  PRIVATE.addSubnet(net, bits, "ipv4");
for (const [net, bits] of [
  ["::", 127],
  ["fc00::", 7],
  ["fe80::", 10],
] as const)
  PRIVATE.addSubnet(net, bits, "ipv6");

/** Public addresses the mail listeners are bound to explicitly (not wildcards, loopback or private). */
function publicAddresses(config: Config): string[] {
  const names: ListenerName[] = ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"];
  const found = new Set<string>();
  for (const n of names) {
    for (const a of config.listen[n]) {
      const host = a.host.replace(/^\[|\]$/g, "");
      const v = isIP(host);
      if (v && !PRIVATE.check(host, v === 4 ? "ipv4" : "ipv6")) found.add(host);
    }
  }
  return [...found];
}

export function dnsRecords(config: Config, domain: string, dkim: readonly PublishedDkimKey[]): ZoneLine[] {
  const host = `${config.hostname}.`;
  const d = `${domain}.`;
  const postmaster = `postmaster@${domain}`;
  const port = (name: ListenerName): number | null => config.listen[name][0]?.port ?? null;
  // RFC 6186 §4: a target of "." says the service is not offered.
  const srv = (service: string, name: ListenerName, priority: number): ZoneLine => {
    const p = port(name);
    return {
      owner: `_${service}._tcp.${d}`,
      type: "SRV",
      value: p ? `${priority} 1 ${p} ${host}` : "0 0 0 .",
    };
  };
  const sts = mtaStsPolicy(config);
  const addresses = publicAddresses(config);
  const lines: ZoneLine[] = [
    { comment: `DNS records for ${domain}: publish them in the ${domain} zone at your DNS provider.` },
    { blank: true },
    { comment: `MX: other servers deliver mail for ${domain} to ${config.hostname}.` },
    { owner: d, type: "MX", value: `10 ${host}` },
  ];
  if (addresses.length) {
    lines.push({ comment: `${config.hostname} (in its own zone) must point to this server:` });
    for (const a of addresses) lines.push({ owner: host, type: isIP(a) === 4 ? "A" : "AAAA", value: a });
  } else {
    lines.push({
      comment: `${config.hostname} needs A/AAAA records (in its own zone) for this server's public addresses, e.g.`,
    });
    lines.push({ comment: `  ${host}  ${TTL}  IN  A     192.0.2.25` });
    lines.push({ comment: `  ${host}  ${TTL}  IN  AAAA  2001:db8::25` });
  }
  lines.push({ comment: `and the reverse (PTR) record of those addresses should name ${config.hostname}.` });
  lines.push(
    { blank: true },
    { comment: "SPF (RFC 7208): only the domain's MX hosts send its mail; mail from anywhere else fails." },
    { comment: "Relaying through a provider's smarthost? Add its include: before -all." },
    { owner: d, type: "TXT", value: txt("v=spf1 mx -all") },
    { blank: true },
    {
      comment:
        "DKIM (RFC 6376): the public keys of the signatures on outgoing mail; retired keys stay a while.",
    },
    ...dkimRecords(domain, dkim),
    { blank: true },
    {
      comment: `DMARC (RFC 7489): mail failing both SPF and DKIM for ${domain} goes to spam; aggregate reports`,
    },
    { comment: `to ${postmaster} (make sure it exists: a user or an alias).` },
    {
      owner: `_dmarc.${d}`,
      type: "TXT",
      value: txt(`v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:${postmaster}`),
    },
    { blank: true },
    { comment: `MTA-STS (RFC 8461): senders require TLS to ${config.hostname}. Also serve this policy at` },
    {
      comment: `https://mta-sts.${domain}/.well-known/mta-sts.txt (mta-sts.${domain} needs a valid certificate):`,
    },
    ...sts.text
      .trimEnd()
      .split("\n")
      .map((l) => ({ comment: `  ${l}` })),
    ...(sts.mode === "testing"
      ? [{ comment: "mode is testing while the server uses its self-signed certificate (tls.cert unset)." }]
      : []),
    { owner: `_mta-sts.${d}`, type: "TXT", value: txt(`v=STSv1; id=${sts.id}`) },
    { blank: true },
    { comment: `TLS-RPT (RFC 8460): daily reports of TLS problems sending to ${domain}.` },
    { owner: `_smtp._tls.${d}`, type: "TXT", value: txt(`v=TLSRPTv1; rua=mailto:${postmaster}`) },
    { blank: true },
    {
      comment:
        "SRV (RFC 6186): mail clients find the submission, IMAP and POP3 servers; target . = not offered.",
    },
    srv("submissions", "submissions", 0),
    srv("submission", "submission", 10),
    srv("imaps", "imaps", 0),
    srv("imap", "imap", 10),
    srv("pop3s", "pop3s", 20),
    srv("pop3", "pop3", 30),
  );
  return lines;
}

export function registerDns(program: Command): void {
  program
    .command("dns <domain>")
    .description("print the DNS records to publish for a local domain (zone-file format)")
    .addHelpText(
      "after",
      "\nPrints MX, SPF, DKIM (every active and retired selector), DMARC, MTA-STS, TLS-RPT and SRV records.\n" +
        "Example:\n  postamt dns example.com\n",
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const domain = normalizeDomain(name);
      await withStore(cmd, async (store, config) => {
        if (!(await store.getDomain(domain))) {
          throw new CliError(`${domain} is not a local domain; add it first: postamt domain add ${domain}`);
        }
        const keys = await explainDkim(listDomainKeys(config.data_dir, domain));
        process.stdout.write(renderZone(dnsRecords(config, domain, keys)));
      });
    });
}
