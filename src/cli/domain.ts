// postamt domain add|list|remove|dkim-rotate|dkim-drop-retired DOMAIN
import type { Command } from "commander";
import type { MailStore } from "../store/types.js";
import { dropRetiredDomainKeys, ensureDomainKeys, rotateDomainKeys } from "../security/dkim-keys.js";
import { normalizeDomain } from "./addresses.js";
import { withStore } from "./context.js";
import { dkimRecords, explainDkim, renderZone } from "./dns.js";
import { CliError } from "./errors.js";
import { printJson, printTable } from "./table.js";

async function requireDomain(store: MailStore, domain: string): Promise<void> {
  if (!(await store.getDomain(domain))) {
    throw new CliError(`${domain} is not a local domain; add it first: postamt domain add ${domain}`);
  }
}

function parseDays(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) {
    throw new CliError(`--older-than wants a number of days, e.g. 7 (got "${value}")`, 2);
  }
  return n;
}

export function registerDomain(program: Command): void {
  const domain = program
    .command("domain")
    .description("manage the mail domains this server receives mail for")
    .addHelpText("after", "\nExample:\n  postamt domain add example.com\n");

  domain
    .command("add <domain>")
    .description("add a local mail domain (and create its DKIM keys, RSA and Ed25519)")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const ascii = normalizeDomain(name);
      await withStore(cmd, async (store, config) => {
        await store.addDomain(ascii);
        await explainDkim(ensureDomainKeys(config.data_dir, ascii));
        process.stdout.write(
          `added domain ${ascii}\nnext: postamt user add alice@${ascii}   (and publish the DNS records: postamt dns ${ascii})\n`,
        );
      });
    });

  domain
    .command("list")
    .description("list local domains")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, async (store) => {
        const domains = await store.listDomains();
        const accounts = await store.listAccounts();
        const rows = domains.map((d) => ({
          domain: d.name,
          users: accounts.filter((a) => a.domainId === d.id).length,
          created: d.createdAt.toISOString(),
        }));
        if (opts.json) return printJson(rows);
        if (rows.length === 0)
          return void process.stdout.write("no domains yet: postamt domain add example.com\n");
        printTable(
          ["DOMAIN", "USERS", "CREATED"],
          rows.map((r) => [r.domain, String(r.users), r.created]),
        );
      });
    });

  domain
    .command("remove <domain>")
    .description("remove a local domain (refused while it has users or aliases, unless --force)")
    .option("--force", "also remove the domain's users, their mail, and its aliases")
    .action(async (name: string, opts: { force?: boolean }, cmd: Command) => {
      const ascii = normalizeDomain(name);
      await withStore(cmd, async (store) => {
        await store.removeDomain(ascii, { force: opts.force === true });
        process.stdout.write(`removed domain ${ascii}\n`);
      });
    });

  domain
    .command("dkim-rotate <domain>")
    .description(
      "make new DKIM keys (new selectors) and sign with them from now on; prints the records to publish",
    )
    .addHelpText(
      "after",
      "\nThe previous keys are retired: `postamt dns` keeps printing their records so that mail signed\n" +
        "before the rotation still verifies. Publish the new records at once (until they are in DNS, new\n" +
        "signatures do not verify); a week later, drop the old ones: postamt domain dkim-drop-retired DOMAIN\n" +
        "\nExample:\n  postamt domain dkim-rotate example.com\n",
    )
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const ascii = normalizeDomain(name);
      await withStore(cmd, async (store, config) => {
        await requireDomain(store, ascii);
        const { active, retired } = await explainDkim(rotateDomainKeys(config.data_dir, ascii));
        const out = process.stdout;
        out.write(
          `rotated the DKIM keys of ${ascii}: new selectors ${active.rsa.selector} (RSA) and ` +
            `${active.ed25519.selector} (Ed25519)\n`,
        );
        out.write(
          `; Publish these records in the ${ascii} zone now: outgoing mail is signed with them from now on.\n`,
        );
        out.write(renderZone(dkimRecords(ascii, [active.rsa, active.ed25519])));
        if (retired.length) {
          out.write(
            `; Keep the records of the retired selectors (${retired.map((k) => k.selector).join(", ")}) for a week,\n` +
              `; then: postamt domain dkim-drop-retired ${ascii}   (all records: postamt dns ${ascii})\n`,
          );
        }
      });
    });

  domain
    .command("dkim-drop-retired <domain>")
    .description("delete the DKIM keys retired by dkim-rotate, so their DNS records can be removed")
    .option("--older-than <days>", "only keys retired at least this many days ago", "7")
    .addHelpText("after", "\nExample:\n  postamt domain dkim-drop-retired example.com --older-than 0\n")
    .action(async (name: string, opts: { olderThan: string }, cmd: Command) => {
      const ascii = normalizeDomain(name);
      const days = parseDays(opts.olderThan);
      await withStore(cmd, async (store, config) => {
        await requireDomain(store, ascii);
        const before = new Date(Date.now() - days * 86_400_000);
        const dropped = await explainDkim(dropRetiredDomainKeys(config.data_dir, ascii, before));
        if (dropped.length === 0) {
          process.stdout.write(`no retired DKIM keys of ${ascii} older than ${days} days\n`);
          return;
        }
        process.stdout.write(
          `dropped the retired DKIM keys ${dropped.join(", ")} of ${ascii}; remove their records from DNS:\n` +
            dropped.map((sel) => `  ${sel}._domainkey.${ascii}. TXT\n`).join(""),
        );
      });
    });
}
