import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import {
  composeDsn,
  DEFAULT_MAX_RETURN_SIZE,
  type DsnInput,
  decodeOrcpt,
  dsnReturnsFull,
  headerSection,
} from "./dsn.js";
import { parseMime } from "./mime-parser.js";
import type { MimeNode } from "./mime-types.js";

const DATE = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
const ARRIVAL = new Date(Date.UTC(2024, 0, 1, 0, 0, 0));
const ORIGINAL = Buffer.from(
  "Received: by mx.example.org; Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
    "From: Alice <alice@example.org>\r\n" +
    "To: bob@remote.test, carol@other.test\r\n" +
    "Subject: Quarterly numbers\r\n" +
    "Message-ID: <q1@example.org>\r\n" +
    "\r\n" +
    "Hello Bob,\r\nthe numbers are in.\r\n",
);

function failure(over: Partial<DsnInput> = {}): DsnInput {
  return {
    hostname: "mx.example.org",
    to: "alice@example.org",
    date: DATE,
    messageId: "<dsn1@mx.example.org>",
    envid: "env-42",
    arrivalDate: ARRIVAL,
    queueId: "0123abcd",
    recipients: [
      {
        address: "bob@remote.test",
        orcpt: "rfc822;Bob+2Bsales@Remote.TEST",
        action: "failed",
        status: "5.1.1",
        remoteMta: "mx.remote.test",
        diagnostic: "smtp; 550 5.1.1 <bob@remote.test>: no such user",
        lastAttemptDate: DATE,
      },
      {
        address: "carol@other.test",
        action: "failed",
        status: "4.4.7",
        diagnostic: "smtp; 451 4.7.1 greylisted, try again later",
        remoteMta: "mx.other.test",
        lastAttemptDate: DATE,
      },
    ],
    original: ORIGINAL,
    ...over,
  };
}

function text(buf: Buffer, node: MimeNode): string {
  return buf.subarray(node.bodyStart, node.bodyEnd).toString("utf8");
}

/** the text/plain part with its line wrapping undone */
function human(buf: Buffer, node: MimeNode): string {
  return text(buf, node).replace(/\r\n[ ]*(?=\S)/g, " ");
}

/** header blocks of a message/delivery-status body, as name (lower case) → value maps */
function statusBlocks(body: string): Array<Map<string, string>> {
  return body
    .replace(/\r\n[ \t]+/g, " ")
    .split(/\r\n\r\n/)
    .filter((b) => b.trim() !== "")
    .map((b) => {
      const m = new Map<string, string>();
      for (const line of b.split("\r\n")) {
        if (line === "") continue;
        const i = line.indexOf(":");
        m.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
      }
      return m;
    });
}

function topHeader(buf: Buffer): string {
  return buf
    .subarray(0, buf.indexOf("\r\n\r\n"))
    .toString("utf8")
    .replace(/\r\n[ \t]+/g, " ");
}

function headerValue(head: string, name: string): string | undefined {
  const line = head.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

describe("composeDsn", () => {
  it("builds a failure report our MIME parser reads as multipart/report with three parts", () => {
    const dsn = composeDsn(failure());
    const { root, defects } = parseMime(dsn);
    assert.deepEqual(defects, []);
    assert.equal(root.contentType.type, "multipart");
    assert.equal(root.contentType.subtype, "report");
    assert.equal(root.contentType.params["report-type"], "delivery-status");
    assert.deepEqual(
      root.children.map((c) => `${c.contentType.type}/${c.contentType.subtype}`),
      ["text/plain", "message/delivery-status", "message/rfc822"],
    );

    const head = topHeader(dsn);
    assert.equal(headerValue(head, "From"), '"Mail Delivery System" <MAILER-DAEMON@mx.example.org>');
    assert.equal(headerValue(head, "To"), "alice@example.org");
    assert.equal(headerValue(head, "Subject"), "Undelivered Mail Returned to Sender");
    assert.equal(headerValue(head, "Date"), "Tue, 2 Jan 2024 03:04:05 +0000");
    assert.equal(headerValue(head, "Message-ID"), "<dsn1@mx.example.org>");
    assert.equal(headerValue(head, "Auto-Submitted"), "auto-replied");
    assert.equal(headerValue(head, "MIME-Version"), "1.0");

    const words = human(dsn, root.children[0]!);
    assert.match(words, /could not be delivered/);
    assert.match(words, /<bob@remote\.test>: delivery failed permanently/);
    assert.match(words, /mx\.remote\.test answered: 550 5\.1\.1 <bob@remote\.test>: no such user/);
    assert.match(words, /<carol@other\.test>: delivery time expired/);
    assert.match(words, /Your message is attached below/);
    for (const line of text(dsn, root.children[0]!).split("\r\n")) assert.ok(line.length <= 78, line);

    const [perMessage, bob, carol, ...rest] = statusBlocks(text(dsn, root.children[1]!));
    assert.equal(rest.length, 0);
    assert.equal(perMessage!.get("reporting-mta"), "dns; mx.example.org");
    assert.equal(perMessage!.get("original-envelope-id"), "env-42");
    assert.equal(perMessage!.get("arrival-date"), "Mon, 1 Jan 2024 00:00:00 +0000");
    assert.equal(bob!.get("original-recipient"), "rfc822;Bob+sales@Remote.TEST");
    assert.equal(bob!.get("final-recipient"), "rfc822; bob@remote.test");
    assert.equal(bob!.get("action"), "failed");
    assert.equal(bob!.get("status"), "5.1.1");
    assert.equal(bob!.get("remote-mta"), "dns; mx.remote.test");
    assert.equal(bob!.get("diagnostic-code"), "smtp; 550 5.1.1 <bob@remote.test>: no such user");
    assert.equal(bob!.get("last-attempt-date"), "Tue, 2 Jan 2024 03:04:05 +0000");
    assert.equal(bob!.has("will-retry-until"), false);
    assert.equal(carol!.has("original-recipient"), false);
    assert.equal(carol!.get("status"), "4.4.7");

    // the original comes back byte for byte, as an encapsulated message
    const returned = root.children[2]!;
    assert.deepEqual(dsn.subarray(returned.bodyStart, returned.bodyEnd), ORIGINAL);
    assert.equal(returned.message?.envelope?.subject, "Quarterly numbers");
  });

  it("returns only the header for RET=HDRS, for an original over the limit, and for a partial read", () => {
    const header = headerSection(ORIGINAL);
    for (const over of [
      { ret: "HDRS" as const },
      { maxReturnSize: 100 },
      { originalComplete: false, original: ORIGINAL.subarray(0, 200), originalSize: ORIGINAL.length },
    ]) {
      const dsn = composeDsn(failure(over));
      const { root } = parseMime(dsn);
      const part = root.children[2]!;
      assert.equal(`${part.contentType.type}/${part.contentType.subtype}`, "text/rfc822-headers");
      assert.deepEqual(dsn.subarray(part.bodyStart, part.bodyEnd), header);
      assert.match(human(dsn, root.children[0]!), /The header of your message is attached/);
    }
  });

  it("words a delay report with Will-Retry-Until and returns only the header", () => {
    const until = new Date(Date.UTC(2024, 0, 6, 0, 0, 0));
    const dsn = composeDsn(
      failure({
        recipients: [
          {
            address: "carol@other.test",
            action: "delayed",
            status: "4.4.1",
            reason: "connection refused by mx.other.test[192.0.2.7]",
            lastAttemptDate: DATE,
            willRetryUntil: until,
          },
        ],
      }),
    );
    const { root } = parseMime(dsn);
    assert.equal(headerValue(topHeader(dsn), "Subject"), "Delayed Mail (still being retried)");
    const words = human(dsn, root.children[0]!);
    assert.match(words, /This is only a warning/);
    assert.match(words, /retried until Sat, 6 Jan 2024 00:00:00 \+0000/);
    assert.match(words, /connection refused by mx\.other\.test/);
    const [, carol] = statusBlocks(text(dsn, root.children[1]!));
    assert.equal(carol!.get("action"), "delayed");
    assert.equal(carol!.get("will-retry-until"), "Sat, 6 Jan 2024 00:00:00 +0000");
    assert.equal(carol!.has("diagnostic-code"), false);
    assert.equal(root.children[2]!.contentType.subtype, "rfc822-headers");
  });

  it("words a success report (relayed and delivered)", () => {
    const dsn = composeDsn(
      failure({
        recipients: [
          { address: "bob@remote.test", action: "relayed", status: "2.0.0", remoteMta: "mx.remote.test" },
          { address: "dan@remote.test", action: "delivered", status: "2.0.0" },
        ],
      }),
    );
    const { root } = parseMime(dsn);
    assert.equal(headerValue(topHeader(dsn), "Subject"), "Successful Mail Delivery Report");
    assert.match(
      human(dsn, root.children[0]!),
      /handed on to mx\.remote\.test, which does not send delivery/,
    );
    const blocks = statusBlocks(text(dsn, root.children[1]!));
    assert.deepEqual(
      blocks.slice(1).map((b) => b.get("action")),
      ["relayed", "delivered"],
    );
    assert.equal(root.children[2]!.contentType.subtype, "rfc822-headers");
  });

  it("uses message/global-delivery-status and utf-8 address types for a UTF-8 recipient (RFC 6533)", () => {
    const original = Buffer.from("From: jörg@example.org\r\nSubject: Grüße\r\n\r\nHallo\r\n", "utf8");
    const dsn = composeDsn(
      failure({
        to: "jörg@example.org",
        original,
        recipients: [
          {
            address: "müller@bücher.test",
            action: "failed",
            status: "5.1.1",
            diagnostic: "550 5.1.1 unknown",
          },
        ],
      }),
    );
    const { root } = parseMime(dsn);
    assert.equal(root.children[1]!.contentType.subtype, "global-delivery-status");
    assert.equal(root.children[2]!.contentType.subtype, "global");
    const [, r] = statusBlocks(text(dsn, root.children[1]!));
    assert.equal(r!.get("final-recipient"), "utf-8; müller@bücher.test");
    assert.equal(r!.get("diagnostic-code"), "smtp; 550 5.1.1 unknown");
    assert.equal(headerValue(topHeader(dsn), "To"), "jörg@example.org");
    assert.equal(headerValue(topHeader(dsn), "Content-Transfer-Encoding"), "8bit");
  });

  it("keeps the original exact without a final line break, and keeps hostile text out of the fields", () => {
    const original = Buffer.from("Subject: x\r\n\r\nno final line break");
    const dsn = composeDsn(
      failure({
        original,
        envid: "e\r\nX-Injected: 1",
        recipients: [
          {
            address: "bob@remote.test",
            action: "failed",
            status: "bogus",
            remoteMta: "mx\r\nEvil: yes",
            diagnostic: `smtp; 550 ${"very long reply ".repeat(20)}\r\nInjected: 1`,
          },
        ],
      }),
    );
    const { root } = parseMime(dsn);
    const part = root.children[2]!;
    assert.deepEqual(dsn.subarray(part.bodyStart, part.bodyEnd), original);
    const body = text(dsn, root.children[1]!);
    assert.doesNotMatch(body, /^(X-Injected|Evil|Injected):/m);
    const [perMessage, r] = statusBlocks(body);
    assert.equal(perMessage!.get("original-envelope-id"), "e X-Injected: 1");
    assert.equal(r!.get("status"), "5.0.0");
    assert.match(r!.get("diagnostic-code")!, /^smtp; 550 very long reply/);
    for (const line of body.split("\r\n")) assert.ok(line.length <= 998);
  });

  it("leaves out the returned content when there is no original", () => {
    const { root } = parseMime(composeDsn(failure({ original: null })));
    assert.equal(root.children.length, 2);
  });

  it("refuses the null sender", () => {
    assert.throws(() => composeDsn(failure({ to: "" })), /null sender/);
  });

  it("parses in Python's email package", (t) => {
    const dsn = composeDsn(failure());
    const script = `
import sys, json, email
from email import policy
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
parts = list(msg.iter_parts())
status = parts[1].get_payload()
orig = parts[2].get_payload()[0]
print(json.dumps({
  "type": msg.get_content_type(),
  "report_type": msg.get_param("report-type"),
  "defects": [str(d) for d in msg.defects] + [str(d) for p in msg.walk() for d in p.defects],
  "parts": [p.get_content_type() for p in parts],
  "subject": str(msg["subject"]),
  "auto": str(msg["auto-submitted"]),
  "blocks": [{k.lower(): str(v) for k, v in b.items()} for b in status],
  "orig_subject": str(orig["subject"]),
  "orig_body": orig.get_content(),
}))
`;
    const r = spawnSync("python3", ["-c", script], { input: dsn, encoding: "utf8" });
    if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
      t.skip("python3 not installed");
      return;
    }
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      type: string;
      report_type: string;
      defects: string[];
      parts: string[];
      subject: string;
      auto: string;
      blocks: Array<Record<string, string>>;
      orig_subject: string;
      orig_body: string;
    };
    assert.equal(out.type, "multipart/report");
    assert.equal(out.report_type, "delivery-status");
    assert.deepEqual(out.defects, []);
    assert.deepEqual(out.parts, ["text/plain", "message/delivery-status", "message/rfc822"]);
    assert.equal(out.subject, "Undelivered Mail Returned to Sender");
    assert.equal(out.auto, "auto-replied");
    assert.equal(out.blocks.length, 3);
    assert.equal(out.blocks[0]!["reporting-mta"], "dns; mx.example.org");
    assert.equal(out.blocks[0]!["original-envelope-id"], "env-42");
    assert.equal(out.blocks[1]!["final-recipient"], "rfc822; bob@remote.test");
    assert.equal(out.blocks[1]!["original-recipient"], "rfc822;Bob+sales@Remote.TEST");
    assert.equal(out.blocks[1]!.action, "failed");
    assert.equal(out.blocks[1]!.status, "5.1.1");
    assert.equal(out.blocks[1]!["diagnostic-code"], "smtp; 550 5.1.1 <bob@remote.test>: no such user");
    assert.equal(out.blocks[2]!["final-recipient"], "rfc822; carol@other.test");
    assert.equal(out.blocks[2]!.status, "4.4.7");
    assert.equal(out.orig_subject, "Quarterly numbers");
    assert.match(out.orig_body, /the numbers are in/);
  });
});

describe("DSN helpers", () => {
  it("returns the whole original only for failures, without RET=HDRS, up to the limit", () => {
    assert.equal(dsnReturnsFull(["failed"], undefined, 10), true);
    assert.equal(dsnReturnsFull(["failed"], "FULL", 10), true);
    assert.equal(dsnReturnsFull(["failed"], "HDRS", 10), false);
    assert.equal(dsnReturnsFull(["failed"], "FULL", DEFAULT_MAX_RETURN_SIZE + 1), false);
    assert.equal(dsnReturnsFull(["delayed"], "FULL", 10), false);
    assert.equal(dsnReturnsFull(["delivered", "relayed"], "FULL", 10), false);
  });

  it("decodes ORCPT xtext", () => {
    assert.deepEqual(decodeOrcpt("rfc822;a+2Bb+3Dc@x.test"), { type: "rfc822", address: "a+b=c@x.test" });
    assert.deepEqual(decodeOrcpt("utf-8;j+C3+B6rg@x.test"), { type: "utf-8", address: "jörg@x.test" });
    assert.deepEqual(decodeOrcpt("rfc822;a+0D+0Ab@x"), { type: "rfc822", address: "a b@x" });
  });

  it("finds the header section", () => {
    assert.equal(headerSection(Buffer.from("A: 1\r\nB: 2\r\n\r\nbody")).toString(), "A: 1\r\nB: 2\r\n");
    assert.equal(headerSection(Buffer.from("A: 1\nB: 2\n\nbody")).toString(), "A: 1\nB: 2\n");
    assert.equal(headerSection(Buffer.from("A: 1\r\nB: 2\r\n")).toString(), "A: 1\r\nB: 2\r\n");
    assert.equal(headerSection(Buffer.from("A: 1\r\nB: 2"), false).toString(), "A: 1\r\n");
    assert.equal(headerSection(Buffer.from("\r\nbody")).toString(), "");
  });
});
