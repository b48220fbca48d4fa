// postamt dmarc [--since DAY] [--domain D] [--json]: the DMARC aggregate report data recorded for
// mail received on the MX listener (inbound.dmarc_reports), one row per day, From domain, source
// and outcome — what an RFC 7489 §7.2 aggregate report to the domain owner would contain.
import type { Command } from "commander";
import { withStore } from "./context.js";
import { CliError } from "./errors.js";
import { printJson, printTable } from "./table.js";

export function registerDmarc(program: Command): void {
  program
    .command("dmarc")
    .description("show DMARC results of received mail: per day, From domain, sending IP and outcome")
    .option("--since <day>", "only days from this one on (YYYY-MM-DD)")
    .option("--domain <domain>", "only mail whose From: is in this domain")
    .option("--json", "print JSON")
    .action(async (opts: { since?: string; domain?: string; json?: boolean }, cmd: Command) => {
      if (opts.since !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(opts.since))
        throw new CliError(`--since ${opts.since}: write a day as YYYY-MM-DD, e.g. --since 2026-11-01`);
      await withStore(cmd, async (store) => {
        const rows = await store.listDmarc({ since: opts.since, domain: opts.domain });
        if (opts.json) return printJson(rows);
        if (rows.length === 0) {
          process.stdout.write(
            "no DMARC results recorded (mail from other domains on the smtp listener is counted when inbound.dmarc_reports is on)\n",
          );
          return;
        }
        printTable(
          ["DAY", "FROM DOMAIN", "SOURCE IP", "COUNT", "DMARC", "POLICY", "DISPOSITION", "SPF", "DKIM"],
          rows.map((r) => [
            r.day,
            r.domain,
            r.sourceIp,
            String(r.count),
            r.dmarc,
            r.policy || "-",
            r.disposition,
            r.spfDomain ? `${r.spf} (${r.spfDomain})` : r.spf,
            r.dkimDomain ? `${r.dkim} (${r.dkimDomain})` : r.dkim,
          ]),
        );
      });
    });
}
