// The IMAP ENVELOPE string (RFC 9051 §7.5.2, §9 envelope) from a stored Envelope.
//
// Envelope strings are raw header text (encoded-words kept; 8-bit header bytes were decoded as
// UTF-8, or Latin-1 when not valid UTF-8). They are sent as UTF-8: quoted when the session
// allows UTF-8 (or the value is ASCII), otherwise as literals, so 8-bit text always arrives.

import { nstring, type StringOptions } from "../imap/protocol/compose.js";
import type { Envelope, EnvelopeAddress } from "./mime-types.js";

/** `(date subject from sender reply-to to cc bcc in-reply-to message-id)` */
export function imapEnvelope(env: Envelope | null, opts: StringOptions = {}): string {
  if (env === null) return "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";
  const out: string[] = [
    nstring(env.date, opts),
    nstring(env.subject, opts),
    addressList(env.from, opts),
    addressList(env.sender, opts),
    addressList(env.replyTo, opts),
    addressList(env.to, opts),
    addressList(env.cc, opts),
    addressList(env.bcc, opts),
    nstring(env.inReplyTo, opts),
    nstring(env.messageId, opts),
  ];
  return `(${out.join(" ")})`;
}

/**
 * `((name adl mailbox host) …)`, or NIL for an empty list (absent or empty header field). Group
 * markers are stored as RFC 9051 wants them: start = (NIL NIL "name" NIL), end = all NIL.
 */
export function addressList(addrs: readonly EnvelopeAddress[], opts: StringOptions = {}): string {
  if (addrs.length === 0) return "NIL";
  const parts: string[] = [];
  for (const a of addrs) {
    parts.push(
      `(${nstring(a.name, opts)} ${nstring(a.adl, opts)} ${nstring(a.mailbox, opts)} ${nstring(a.host, opts)})`,
    );
  }
  return `(${parts.join("")})`;
}
