// CONDSTORE enabling commands (RFC 7162 §3.1): FETCH with MODSEQ or CHANGEDSINCE, SEARCH with
// MODSEQ, STORE with UNCHANGEDSINCE turn CONDSTORE on for the rest of the connection. The first
// one with a mailbox selected MUST be followed by the mailbox's HIGHESTMODSEQ.
import { Code } from "../protocol/compose.js";
import type { ImapSession } from "./session.js";

export function enableCondstore(s: ImapSession): void {
  if (s.condstore) return;
  s.enabled.add("CONDSTORE");
  if (s.selected) s.untagged(`OK [${Code.highestModseq(s.selected.highestModseq)}] Highest`);
}
