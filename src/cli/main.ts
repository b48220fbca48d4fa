#!/usr/bin/env node
// The `postamt` command: one program for the server and its administration (DESIGN.md §2, contract).
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config/errors.js";
import { BindError } from "../net/bind.js";
import { VERSION } from "../version.js";
import { registerAlias } from "./alias.js";
import { registerConfig } from "./config.js";
import { registerDmarc } from "./dmarc.js";
import { registerDns } from "./dns.js";
import { registerDomain } from "./domain.js";
import { CliError } from "./errors.js";
import { registerQueue } from "./queue.js";
import { registerServe } from "./serve.js";
import { registerUser } from "./user.js";

export function buildProgram(): Command {
  const program = new Command("postamt")
    .description("Postamt, a complete mail server: SMTP, submission, outbound queue, IMAP and POP3")
    .version(VERSION, "-V, --version")
    .option(
      "--config <file>",
      "configuration file (default: ./postamt.toml if present, else $POSTAMT_CONFIG, else built-in defaults)",
    )
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  registerServe(program);
  registerDomain(program);
  registerUser(program);
  registerAlias(program);
  registerQueue(program);
  registerDns(program);
  registerDmarc(program);
  registerConfig(program);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    return report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed help or the usage error.
    return err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0
      ? 0
      : 2;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`postamt: the configuration has errors:\n${err.format()}\n`);
    return 78; // EX_CONFIG (sysexits.h)
  }
  if (err instanceof CliError || err instanceof BindError) {
    process.stderr.write(`postamt: ${err.message}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
  process.stderr.write(
    `postamt: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return 1;
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
