// postamt queue list | show ID | retry [ID] | remove ID
import type { Command } from "commander";
import type { QueueMessage } from "../store/types.js";
import { withStore } from "./context.js";
import { CliError } from "./errors.js";
import { formatBytes, printJson, printTable } from "./table.js";

function summary(m: QueueMessage) {
  const pending = m.recipients.filter((r) => r.status === "pending" || r.status === "deferred");
  const next = pending
    .map((r) => r.nextAttemptAt?.getTime() ?? Number.POSITIVE_INFINITY)
    .reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
  return { pending: pending.length, next: Number.isFinite(next) ? new Date(next).toISOString() : "-" };
}

export function registerQueue(program: Command): void {
  const queue = program.command("queue").description("inspect and manage the outbound mail queue");

  queue
    .command("list")
    .description("list queued messages")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, async (store) => {
        const items = await store.listQueue();
        if (opts.json) return printJson(items.map((m) => ({ ...m, prefix: undefined })));
        if (items.length === 0) return void process.stdout.write("the queue is empty\n");
        printTable(
          ["ID", "SENDER", "SIZE", "RCPTS", "PENDING", "NEXT ATTEMPT", "AGE"],
          items.map((m) => {
            const s = summary(m);
            const age = Math.round((Date.now() - m.createdAt.getTime()) / 60000);
            return [
              m.id,
              m.sender || "<>",
              formatBytes(m.size),
              String(m.recipients.length),
              String(s.pending),
              s.next,
              `${age}m`,
            ];
          }),
        );
      });
    });

  queue
    .command("show <id>")
    .description("show a queued message's envelope and each recipient's state")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      await withStore(cmd, async (store) => {
        const m = await store.getQueued(id);
        if (!m) throw new CliError(`no queued message ${id} (postamt queue list shows the queue)`);
        if (opts.json) return printJson({ ...m, prefix: m.prefix.toString("utf8") });
        const out = process.stdout;
        out.write(`id:       ${m.id}\nsender:   ${m.sender || "<>"}\nsize:     ${formatBytes(m.size)}\n`);
        out.write(`queued:   ${m.createdAt.toISOString()}\nblob:     ${m.blobId}\n`);
        if (m.dsn.envid || m.dsn.ret)
          out.write(`dsn:      ${m.dsn.ret ?? ""} ${m.dsn.envid ? `envid=${m.dsn.envid}` : ""}\n`);
        out.write("\n");
        printTable(
          ["RECIPIENT", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST REPLY"],
          m.recipients.map((r) => [
            r.address,
            r.status,
            String(r.attempts),
            r.nextAttemptAt?.toISOString() ?? "-",
            r.lastReply ?? "",
          ]),
        );
      });
    });

  queue
    .command("retry [id]")
    .description("make deferred recipients due now (all messages without an id)")
    .action(async (id: string | undefined, _opts: unknown, cmd: Command) => {
      await withStore(cmd, async (store) => {
        if (id && !(await store.getQueued(id))) throw new CliError(`no queued message ${id}`);
        const n = await store.retryQueued(id);
        process.stdout.write(`${n} recipient(s) scheduled for immediate retry\n`);
      });
    });

  queue
    .command("remove <id>")
    .description("remove a message from the queue without sending a bounce")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withStore(cmd, async (store) => {
        if (!(await store.removeQueued(id))) throw new CliError(`no queued message ${id}`);
        process.stdout.write(`removed ${id} from the queue\n`);
      });
    });
}
