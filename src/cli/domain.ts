// postamt domain add|list|remove DOMAIN
import type { Command } from "commander";
import { ensureDkimKey } from "../security/dkim-keys.js";
import { normalizeDomain } from "./addresses.js";
import { withStore } from "./context.js";
import { printJson, printTable } from "./table.js";

export function registerDomain(program: Command): void {
  const domain = program
    .command("domain")
    .description("manage the mail domains this server receives mail for")
    .addHelpText("after", "\nExample:\n  postamt domain add example.com\n");

  domain
    .command("add <domain>")
    .description("add a local mail domain (and create its DKIM key)")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const ascii = normalizeDomain(name);
      await withStore(cmd, async (store, config) => {
        await store.addDomain(ascii);
        await ensureDkimKey(config.data_dir, ascii);
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
}
