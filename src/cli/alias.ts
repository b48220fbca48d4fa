// postamt alias add ADDRESS TARGET[,TARGET…] | list | remove ADDRESS   ("@domain" = catch-all)
import type { Command } from "commander";
import { domainOf, normalizeAddress, normalizeAliasAddress } from "./addresses.js";
import { withStore } from "./context.js";
import { CliError } from "./errors.js";
import { printJson, printTable } from "./table.js";

export function registerAlias(program: Command): void {
  const alias = program
    .command("alias")
    .description('manage aliases: addresses that forward to users or other addresses ("@domain" = catch-all)')
    .addHelpText(
      "after",
      "\nExamples:\n  postamt alias add info@example.com alice@example.com,bob@example.com\n  postamt alias add @example.com alice@example.com      # catch-all\n",
    );

  alias
    .command("add <address> <targets...>")
    .description("add an alias delivering to one or more targets (comma- or space-separated)")
    .action(async (address: string, targets: string[], _opts: unknown, cmd: Command) => {
      const key = normalizeAliasAddress(address);
      const list = targets
        .flatMap((t) => t.split(","))
        .map((t) => t.trim())
        .filter(Boolean)
        .map((t) => normalizeAddress(t, "alias target"));
      if (list.length === 0) throw new CliError("an alias needs at least one target address", 2);
      await withStore(cmd, async (store) => {
        const domain = domainOf(key);
        if (!(await store.getDomain(domain))) {
          throw new CliError(`${domain} is not a local domain; add it first: postamt domain add ${domain}`);
        }
        if (!key.startsWith("@") && (await store.getAccount(key))) {
          throw new CliError(`${key} is a user; an alias cannot have the same address`);
        }
        await store.addAlias(key, [...new Set(list)]);
        process.stdout.write(`added alias ${key} → ${[...new Set(list)].join(", ")}\n`);
      });
    });

  alias
    .command("list")
    .description("list aliases")
    .argument("[domain]", "only the aliases of this domain")
    .option("--json", "print JSON")
    .action(async (domain: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, async (store) => {
        const aliases = await store.listAliases(domain?.toLowerCase());
        if (opts.json) return printJson(aliases.map((a) => ({ address: a.address, targets: a.targets })));
        if (aliases.length === 0) return void process.stdout.write("no aliases\n");
        printTable(
          ["ALIAS", "TARGETS"],
          aliases.map((a) => [a.address, a.targets.join(", ")]),
        );
      });
    });

  alias
    .command("remove <address>")
    .description("remove an alias")
    .action(async (address: string, _opts: unknown, cmd: Command) => {
      const key = normalizeAliasAddress(address);
      await withStore(cmd, async (store) => {
        await store.removeAlias(key);
        process.stdout.write(`removed alias ${key}\n`);
      });
    });
}
