// postamt config check | describe
import type { Command } from "commander";
import { describeConfig } from "../config/describe.js";
import { configFor } from "./context.js";

export function registerConfig(program: Command): void {
  const config = program
    .command("config")
    .description("validate the configuration file or describe every option");

  config
    .command("check")
    .description("validate the configuration file and print the effective settings")
    .action((_opts: unknown, cmd: Command) => {
      const c = configFor(cmd);
      const out = process.stdout;
      out.write(`${c.source ?? "built-in defaults (no postamt.toml found)"}: OK\n`);
      out.write(
        `hostname  ${c.hostname}\ndata_dir  ${c.data_dir}\nstore     ${c.store.url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")}\n`,
      );
      out.write(`tls       ${c.tls.cert ?? "self-signed certificate generated into data_dir/tls"}\n`);
      for (const [name, addrs] of Object.entries(c.listen)) {
        out.write(
          `listen.${name.padEnd(12)} ${addrs.length ? addrs.map((a) => a.text).join(", ") : "(disabled)"}\n`,
        );
      }
    });

  config
    .command("describe")
    .description("print every option with its type, default and meaning")
    .option("--markdown", "print Markdown (what docs/config.md holds)")
    .action((opts: { markdown?: boolean }) => {
      process.stdout.write(describeConfig(opts.markdown ? "markdown" : "text"));
    });
}
