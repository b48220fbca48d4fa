// postamt serve: run every listener until SIGTERM/SIGINT.
import type { Command } from "commander";
import { configFor } from "./context.js";

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the mail server (all listeners) until stopped with SIGTERM or Ctrl-C")
    .option("--log-format <format>", "pretty or json (default: pretty on a terminal, json otherwise)")
    .action(async (opts: { logFormat?: "pretty" | "json" }, cmd: Command) => {
      const config = configFor(cmd);
      if (opts.logFormat && opts.logFormat !== "pretty" && opts.logFormat !== "json") {
        throw new Error(`--log-format must be pretty or json, not ${opts.logFormat}`);
      }
      // Loaded here, not at the top: `postamt --help` and the admin commands need none of it.
      const [{ createLog }, { startServer }] = await Promise.all([
        import("../log/logger.js"),
        import("../server.js"),
      ]);
      const log = createLog({ level: config.log.level, format: opts.logFormat });
      const server = await startServer(config, log);
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (sig: NodeJS.Signals) => {
          signals++;
          if (signals > 1) {
            log.warn("server.shutdown", `second ${sig}: exiting now`);
            process.exit(1);
          }
          log.info("server.shutdown", `${sig} received`);
          server.stop().then(resolve, (err: unknown) => {
            log.error("internal.error", "error while stopping", { err });
            process.exitCode = 1;
            resolve();
          });
        };
        process.on("SIGTERM", onSignal);
        process.on("SIGINT", onSignal);
      });
    });
}
