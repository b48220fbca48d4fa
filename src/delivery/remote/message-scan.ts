// What the SMTP client must know about a queued message before MAIL FROM: whether it has 8-bit octets
// (BODY=8BITMIME, RFC 6152), whether its header needs SMTPUTF8 (RFC 6531/6532: raw UTF-8 in header
// fields), and how many Received fields it carries (RFC 5321 §6.3 loop detection).
import type { Readable } from "node:stream";

export interface MessageTraits {
  eightBit: boolean;
  /** raw non-ASCII octets in the header section */
  utf8Header: boolean;
  /** Received: header fields in the header section */
  received: number;
}

/** Scans a message stream once (prefix + blob), holding at most the header section in memory. */
export async function scanMessage(parts: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<MessageTraits> {
  let eightBit = false;
  let utf8Header = false;
  let inHeader = true;
  let header = "";
  // the last 3 octets of the previous chunk, to find CRLFCRLF / LFLF across chunk boundaries
  let tail = Buffer.alloc(0);
  for await (const chunk of parts as AsyncIterable<Buffer>) {
    if (inHeader) {
      const joined = Buffer.concat([tail, chunk]);
      const end = headerEnd(joined);
      const headPart = end < 0 ? chunk : joined.subarray(tail.length, end);
      if (has8bit(headPart)) {
        eightBit = true;
        utf8Header = true;
      }
      // latin1 keeps one char per octet: enough to count field names
      if (header.length < 4 * 1024 * 1024) header += headPart.toString("latin1");
      if (end >= 0) {
        inHeader = false;
        if (!eightBit && has8bit(joined.subarray(end))) eightBit = true;
      } else {
        tail = joined.subarray(Math.max(0, joined.length - 3));
      }
    } else if (!eightBit && has8bit(chunk)) {
      eightBit = true;
    }
  }
  const received = header.match(/(?:^|\n)Received[ \t]*:/gi)?.length ?? 0;
  return { eightBit, utf8Header, received };
}

function headerEnd(buf: Buffer): number {
  const crlf = buf.indexOf("\r\n\r\n");
  const lf = buf.indexOf("\n\n");
  if (crlf < 0) return lf < 0 ? -1 : lf + 2;
  if (lf < 0) return crlf + 4;
  return Math.min(crlf + 4, lf + 2);
}

function has8bit(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) if ((buf[i] as number) > 0x7f) return true;
  return false;
}

/** The message as the client sends it: the queue entry's prefix (DKIM-Signature, Received) then the blob. */
export function messageSource(prefix: Buffer, blob: () => Readable): AsyncIterable<Buffer> {
  return (async function* () {
    if (prefix.length > 0) yield prefix;
    for await (const chunk of blob()) yield chunk as Buffer;
  })();
}
