// postamt dns DOMAIN: the DNS records to publish so the world can send mail to the domain and trust
// mail from it (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, and RFC 6186 SRV records for client setup).
import type { Command } from "commander";
import type { Config, ListenerName } from "../config/types.js";
import { ensureDkimKey } from "../security/dkim-keys.js";
import { normalizeDomain } from "./addresses.js";
import { withStore } from "./context.js";
import { CliError } from "./errors.js";

/** A TXT value as quoted strings of at most 255 octets each (RFC 1035 §3.3.14 character-strings). */
export function txt(value: string): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(`"${value.slice(i, i + 255)}"`);
  return parts.join(" ");
}

export function dnsRecords(
  config: Config,
  domain: string,
  dkim: { selector: string; publicKeyBase64: string },
): string[][] {
  const host = `${config.hostname}.`;
  const d = `${domain}.`;
  const port = (name: ListenerName): number | null => config.listen[name][0]?.port ?? null;
  // RFC 6186 §4: a target of "." says the service is not offered.
  const srv = (service: string, name: ListenerName, priority: number): string[] => {
    const p = port(name);
    return [`_${service}._tcp.${d}`, "SRV", p ? `${priority} 1 ${p} ${host}` : "0 0 0 ."];
  };
  const stsId = new Date().toISOString().slice(0, 10).replaceAll("-", "") + "01";
  return [
    [d, "MX", `10 ${host}`],
    [d, "TXT", txt("v=spf1 mx -all")],
    [`${dkim.selector}._domainkey.${d}`, "TXT", txt(`v=DKIM1; k=rsa; p=${dkim.publicKeyBase64}`)],
    [`_dmarc.${d}`, "TXT", txt(`v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@${domain}`)],
    [`_mta-sts.${d}`, "TXT", txt(`v=STSv1; id=${stsId}`)],
    [`_smtp._tls.${d}`, "TXT", txt(`v=TLSRPTv1; rua=mailto:postmaster@${domain}`)],
    srv("submissions", "submissions", 0),
    srv("submission", "submission", 10),
    srv("imaps", "imaps", 0),
    srv("imap", "imap", 10),
    srv("pop3s", "pop3s", 20),
    srv("pop3", "pop3", 30),
  ];
}

export function registerDns(program: Command): void {
  program
    .command("dns <domain>")
    .description("print the DNS records to publish for a local domain (zone-file format)")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const domain = normalizeDomain(name);
      await withStore(cmd, async (store, config) => {
        if (!(await store.getDomain(domain))) {
          throw new CliError(`${domain} is not a local domain; add it first: postamt domain add ${domain}`);
        }
        const dkim = await ensureDkimKey(config.data_dir, domain);
        const rows = dnsRecords(config, domain, dkim);
        const width = Math.max(...rows.map((r) => r[0]!.length));
        const out = process.stdout;
        out.write(`; DNS records for ${domain}: publish them in the ${domain} zone at your DNS provider.\n`);
        out.write(`; ${config.hostname} needs A/AAAA records for this server's public addresses, and the\n`);
        out.write(`; reverse (PTR) record of those addresses should name ${config.hostname}.\n`);
        for (const [owner, type, value] of rows)
          out.write(`${owner!.padEnd(width)}  3600  IN  ${type!.padEnd(4)} ${value}\n`);
        out.write(
          `; MTA-STS also needs https://mta-sts.${domain}/.well-known/mta-sts.txt (served by a later version).\n`,
        );
      });
    });
}
