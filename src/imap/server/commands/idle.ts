// IDLE (RFC 2177, RFC 9051 §6.3.13): "+ idling", then changes are pushed as they happen until the
// client sends DONE. A wake-up from the ChangeBus triggers a poll of the change log (the truth), so a
// lost wake-up only delays, and the next NOOP or command still reports everything.
import { continuation, taggedOk } from "../../protocol/compose.js";
import { parseIdleDone } from "../../protocol/parse-command.js";
import type { Cmd } from "./index.js";
import type { ImapSession } from "../session.js";

/** RFC 9051 §5.4: the autologout timer is at least 30 minutes; IDLE re-arms it with every line. */
const IDLE_TIMEOUT_MS = 30 * 60_000;

export async function handleIdle(s: ImapSession, cmd: Cmd<"IDLE">): Promise<void> {
  s.mode = "idle";
  s.idleTag = cmd.tag;
  s.send(continuation("idling"));
  await s.announce(true);
  s.flush();
  s.io.setIdleTimeout(IDLE_TIMEOUT_MS);
  const view = s.selected;
  if (!view) return;
  let running = false;
  let again = false;
  const wake = () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void (async () => {
      try {
        do {
          again = false;
          if (s.mode !== "idle" || s.selected !== view) return;
          await s.announce(true);
          s.flush();
        } while (again);
      } catch (err) {
        s.log.error("internal.error", "IDLE update failed", { err });
      } finally {
        running = false;
      }
    })();
  };
  s.idleUnsubscribe = s.deps.store.bus.subscribe(view.mailboxId, wake);
}

export async function endIdle(s: ImapSession, line: Buffer): Promise<void> {
  const tag = s.idleTag!;
  s.idleUnsubscribe?.();
  s.idleUnsubscribe = null;
  s.mode = "command";
  s.idleTag = null;
  s.io.setIdleTimeout(IDLE_TIMEOUT_MS);
  if (!parseIdleDone(line)) {
    s.bad(tag, "Expected DONE to end IDLE");
    return;
  }
  await s.announce(true);
  s.send(taggedOk(tag, "IDLE terminated"));
}
