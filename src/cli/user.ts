// postamt user add EMAIL [--password-stdin] | list | passwd EMAIL [--password-stdin] | remove EMAIL
import type { Command } from "commander";
import { PasswordPolicyError, deriveCredentials } from "../auth/password.js";
import { SaslprepError } from "../auth/saslprep.js";
import { parseSize } from "../config/values.js";
import { normalizeAddress } from "./addresses.js";
import { withStore } from "./context.js";
import { CliError } from "./errors.js";
import { promptPassword, readPasswordFromStdin } from "./prompt.js";
import { formatBytes, printJson, printTable } from "./table.js";

interface PasswordOptions {
  passwordStdin?: boolean;
}

async function obtainPassword(opts: PasswordOptions, address: string) {
  const password = opts.passwordStdin
    ? await readPasswordFromStdin()
    : await promptPassword(`Password for ${address}: `);
  try {
    return await deriveCredentials(password);
  } catch (err) {
    if (err instanceof PasswordPolicyError || err instanceof SaslprepError)
      throw new CliError(`password refused: ${err.message}`);
    throw err;
  }
}

function quotaOption(value: string): number | null {
  if (value === "unlimited" || value === "0") return null;
  const parsed = parseSize(value);
  if (!parsed.ok)
    throw new CliError(`--quota ${value}: ${parsed.reason} (e.g. 2GB, 500MB or "unlimited")`, 2);
  return parsed.value === 0 ? null : parsed.value;
}

export function registerUser(program: Command): void {
  const user = program
    .command("user")
    .description("manage mail users (accounts); users log in with their full address")
    .addHelpText(
      "after",
      "\nExample:\n  echo 'secret' | postamt user add alice@example.com --password-stdin\n",
    );

  user
    .command("add <email>")
    .description("add a user; the password is asked without echo, or read from standard input")
    .option("--password-stdin", "read the password from standard input (one line)")
    .option("--quota <size>", 'storage limit, e.g. 2GB (default: accounts.default_quota; "unlimited")')
    .action(async (email: string, opts: PasswordOptions & { quota?: string }, cmd: Command) => {
      const address = normalizeAddress(email, "user address");
      const quota = opts.quota !== undefined ? quotaOption(opts.quota) : undefined;
      await withStore(cmd, async (store, config) => {
        const domain = address.slice(address.indexOf("@") + 1);
        if (!(await store.getDomain(domain))) {
          throw new CliError(
            `${domain} is not a local domain yet; add it first: postamt domain add ${domain}`,
          );
        }
        if (await store.getAccount(address))
          throw new CliError(`user ${address} already exists (postamt user passwd to change the password)`);
        const creds = await obtainPassword(opts, address);
        const quotaBytes = quota !== undefined ? quota : config.accounts.default_quota || null;
        await store.addAccount({ address, ...creds, quotaBytes });
        process.stdout.write(
          `added user ${address} (quota ${formatBytes(quotaBytes)}) with mailboxes INBOX, Sent, Drafts, Trash, Junk, Archive\n`,
        );
      });
    });

  user
    .command("list")
    .description("list users with their quota and usage")
    .argument("[domain]", "only the users of this domain")
    .option("--json", "print JSON")
    .action(async (domain: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, async (store) => {
        const accounts = await store.listAccounts(domain?.toLowerCase());
        const rows = await Promise.all(
          accounts.map(async (a) => {
            const q = await store.getQuota(a.id);
            return {
              address: a.address,
              quota: a.quotaBytes,
              used: q.usedBytes,
              messages: q.messages,
              disabled: a.disabled,
            };
          }),
        );
        if (opts.json) return printJson(rows);
        if (rows.length === 0)
          return void process.stdout.write("no users yet: postamt user add alice@example.com\n");
        printTable(
          ["USER", "USED", "QUOTA", "MESSAGES"],
          rows.map((r) => [r.address, formatBytes(r.used), formatBytes(r.quota), String(r.messages)]),
        );
      });
    });

  user
    .command("passwd <email>")
    .description("change a user's password")
    .option("--password-stdin", "read the new password from standard input (one line)")
    .action(async (email: string, opts: PasswordOptions, cmd: Command) => {
      const address = normalizeAddress(email, "user address");
      await withStore(cmd, async (store) => {
        if (!(await store.getAccount(address)))
          throw new CliError(`no user ${address} (postamt user list shows the users)`);
        const creds = await obtainPassword(opts, address);
        await store.setPassword(address, creds.passwordHash, creds.scram);
        process.stdout.write(`changed the password of ${address}\n`);
      });
    });

  user
    .command("quota <email> <size>")
    .description('set a user\'s storage limit, e.g. 2GB, or "unlimited"')
    .action(async (email: string, size: string, _opts: unknown, cmd: Command) => {
      const address = normalizeAddress(email, "user address");
      const quota = quotaOption(size);
      await withStore(cmd, async (store) => {
        await store.setQuota(address, quota);
        process.stdout.write(`quota of ${address} is now ${formatBytes(quota)}\n`);
      });
    });

  user
    .command("remove <email>")
    .description("remove a user with all their mailboxes and mail")
    .action(async (email: string, _opts: unknown, cmd: Command) => {
      const address = normalizeAddress(email, "user address");
      await withStore(cmd, async (store) => {
        await store.removeAccount(address);
        process.stdout.write(`removed user ${address} and their mail\n`);
      });
    });
}
