import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sameForEveryChunking } from "../../smtp/protocol/testkit.js";
import { parseIdleDone } from "./parse-command.js";
import { ImapReceiver, literalAnnouncement, type ReceiverLimits } from "./receiver.js";
import type { Literal } from "./types.js";

/** An event as the tests compare it: Buffers as latin1 strings, literal chunks merged. */
type Ev = Record<string, unknown>;

const lit = (l: Literal): unknown =>
  l.kind === "inline"
    ? { inline: l.data.toString("latin1"), binary: l.binary }
    : { streamed: l.size, binary: l.binary };

interface DriveOptions {
  limits?: Partial<ReceiverLimits>;
  /** reject() instead of continuing after this event (by index among continuation/literal-start events) */
  rejectAt?: (ev: Ev) => boolean;
}

/** Feed chunks like a session: after each push, next() until need-more; answer "+" by continuing. */
function drive(chunks: readonly Buffer[], opts: DriveOptions = {}): Ev[] {
  const r = new ImapReceiver(opts.limits);
  const out: Ev[] = [];
  for (const chunk of chunks) {
    r.push(chunk);
    for (let e = r.next(); e.kind !== "need-more"; e = r.next()) {
      let ev: Ev;
      switch (e.kind) {
        case "request":
          ev = {
            kind: "request",
            tag: e.tag,
            name: e.name,
            lines: e.lines.map((l) => l.toString("latin1")),
            literals: e.literals.map(lit),
          };
          break;
        case "literal-start":
          ev = {
            kind: e.kind,
            tag: e.tag,
            size: e.size,
            sync: e.sync,
            binary: e.binary,
            head: {
              lines: e.head.lines.map((l) => l.toString("latin1")),
              literals: e.head.literals.map(lit),
            },
            data: "",
          };
          break;
        case "literal-chunk": {
          const last = out[out.length - 1]!;
          assert.equal(last["kind"], "literal-start", "chunks follow their literal-start");
          last["data"] = (last["data"] as string) + e.data.toString("latin1");
          continue;
        }
        default:
          ev = { ...e };
      }
      out.push(ev);
      if (
        (e.kind === "continuation-needed" || (e.kind === "literal-start" && e.sync)) &&
        opts.rejectAt?.(ev)
      ) {
        r.reject();
      }
    }
  }
  return out;
}

const req = (tag: string | null, name: string, lines: string[], literals: unknown[] = []): Ev => ({
  kind: "request",
  tag,
  name,
  lines,
  literals,
});
const cont = (tag: string, name: string, size: number): Ev => ({
  kind: "continuation-needed",
  tag,
  name,
  size,
});
const inline = (s: string, binary = false) => ({ inline: s, binary });
const err = (tag: string | null, text: string, extra: Ev = {}): Ev => ({
  kind: "error",
  tag,
  status: "BAD",
  text,
  fatal: false,
  ...extra,
});

describe("ImapReceiver framing", () => {
  const cases: [string, string, Ev[]][] = [
    ["one command", "A1 NOOP\r\n", [req("A1", "NOOP", ["A1 NOOP"])]],
    [
      "pipelined commands",
      "a CAPABILITY\r\nb noop\r\nc LOGOUT\r\n",
      [
        req("a", "CAPABILITY", ["a CAPABILITY"]),
        req("b", "NOOP", ["b noop"]),
        req("c", "LOGOUT", ["c LOGOUT"]),
      ],
    ],
    ["unfinished line waits", "A1 NOOP\r\nA2 NO", [req("A1", "NOOP", ["A1 NOOP"])]],
    [
      "bare LF ends a line (Dovecot-compatible)",
      "A1 NOOP\nA2 NOOP\r\n",
      [req("A1", "NOOP", ["A1 NOOP"]), req("A2", "NOOP", ["A2 NOOP"])],
    ],
    ["a bare CR stays in the line", "A1 NO\rOP\r\n", [req("A1", "NO", ["A1 NO\rOP"])]],
    ["empty lines between commands are ignored", "\r\n\nA1 NOOP\r\n\r\n", [req("A1", "NOOP", ["A1 NOOP"])]],
    ["no valid tag", "+ NOOP\r\n", [req(null, "", ["+ NOOP"])]],
    ["a tag with a bad character", "A+1 NOOP\r\n", [req(null, "", ["A+1 NOOP"])]],
    ["tag only", "A1\r\n", [req("A1", "", ["A1"])]],
    [
      "synchronizing literals",
      "A1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n",
      [
        cont("A1", "LOGIN", 5),
        cont("A1", "LOGIN", 6),
        req("A1", "LOGIN", ["A1 LOGIN ", " ", ""], [inline("alice"), inline("secret")]),
      ],
    ],
    [
      "non-synchronizing literal (LITERAL+): no continuation",
      "A1 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\nA2 NOOP\r\n",
      [
        req("A1", "LOGIN", ["A1 LOGIN ", " ", ""], [inline("alice"), inline("secret")]),
        req("A2", "NOOP", ["A2 NOOP"]),
      ],
    ],
    [
      "literal bytes are not scanned for line ends",
      "A1 LOGIN {6+}\r\na\r\nb\nc {0}\r\n\r\n",
      [cont("A1", "LOGIN", 0), req("A1", "LOGIN", ["A1 LOGIN ", " ", ""], [inline("a\r\nb\nc"), inline("")])],
    ],
    [
      "literal8 announcement",
      "A1 SEARCH TEXT ~{3+}\r\nabc\r\n",
      [req("A1", "SEARCH", ["A1 SEARCH TEXT ", ""], [inline("abc", true)])],
    ],
    ["{n-} is not a literal (RFC 7888 has no such form)", "A1 X {3-}\r\n", [req("A1", "X", ["A1 X {3-}"])]],
    [
      "literal announcement followed by bare LF",
      "A1 LOGIN {1+}\nx y\n",
      [req("A1", "LOGIN", ["A1 LOGIN ", " y"], [inline("x")])],
    ],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      assert.deepEqual(
        sameForEveryChunking(input, (c) => drive(c)),
        expected,
      );
    });
  }
});

describe("ImapReceiver streamed literals (APPEND)", () => {
  it("streams the message and gives a parseable head", () => {
    const input = 'A3 APPEND Sent (\\Seen) "05-Jan-2024 10:00:00 +0100" {11}\r\nhello world\r\nA4 NOOP\r\n';
    const got = sameForEveryChunking(input, (c) => drive(c));
    assert.deepEqual(got, [
      {
        kind: "literal-start",
        tag: "A3",
        size: 11,
        sync: true,
        binary: false,
        head: {
          lines: ['A3 APPEND Sent (\\Seen) "05-Jan-2024 10:00:00 +0100" ', ""],
          literals: [{ streamed: 11, binary: false }],
        },
        data: "hello world",
      },
      { kind: "literal-end", nul: false },
      req(
        "A3",
        "APPEND",
        ['A3 APPEND Sent (\\Seen) "05-Jan-2024 10:00:00 +0100" ', ""],
        [{ streamed: 11, binary: false }],
      ),
      req("A4", "NOOP", ["A4 NOOP"]),
    ]);
  });

  it("MULTIAPPEND: each message streams; a literal mailbox name does not", () => {
    const input = "A5 APPEND {4+}\r\nSent {2+}\r\nm1 (\\Seen) ~{3+}\r\nm\x002\r\n";
    const got = sameForEveryChunking(input, (c) => drive(c));
    assert.deepEqual(got, [
      {
        kind: "literal-start",
        tag: "A5",
        size: 2,
        sync: false,
        binary: false,
        head: {
          lines: ["A5 APPEND ", " ", ""],
          literals: [inline("Sent"), { streamed: 2, binary: false }],
        },
        data: "m1",
      },
      { kind: "literal-end", nul: false },
      {
        kind: "literal-start",
        tag: "A5",
        size: 3,
        sync: false,
        binary: true,
        head: {
          lines: ["A5 APPEND ", " ", " (\\Seen) ", ""],
          literals: [inline("Sent"), { streamed: 2, binary: false }, { streamed: 3, binary: true }],
        },
        data: "m\x002",
      },
      { kind: "literal-end", nul: true },
      req(
        "A5",
        "APPEND",
        ["A5 APPEND ", " ", " (\\Seen) ", ""],
        [inline("Sent"), { streamed: 2, binary: false }, { streamed: 3, binary: true }],
      ),
    ]);
  });

  it("a 50 MB APPEND is never held: chunks are views of the pushed input", () => {
    const r = new ImapReceiver();
    const size = 50 * 1024 * 1024;
    r.push(Buffer.from(`A1 APPEND INBOX {${size}}\r\n`));
    const start = r.next();
    assert.equal(start.kind, "literal-start");
    assert.equal(r.next().kind, "need-more");
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let got = 0;
    let ended = false;
    while (!ended) {
      r.push(piece);
      for (let e = r.next(); e.kind !== "need-more" && !ended; e = r.next()) {
        if (e.kind === "literal-end") ended = true;
        else {
          assert.equal(e.kind, "literal-chunk");
          if (e.kind === "literal-chunk") {
            assert.equal(e.data.buffer, piece.buffer, "a view, not a copy");
            got += e.data.length;
          }
        }
        assert.ok(r.holding < 1024);
      }
    }
    assert.equal(got, size);
    r.push(Buffer.from("\r\n"));
    assert.equal(r.next().kind, "request");
  });

  it("the APPENDLIMIT refuses a synchronizing literal with NO [TOOBIG] and no continuation", () => {
    const input = "A1 APPEND INBOX {101}\r\nA2 NOOP\r\n";
    const got = sameForEveryChunking(input, (c) => drive(c, { limits: { maxStreamedLiteral: 100 } }));
    assert.deepEqual(got, [
      err("A1", "message larger than 100 octets", { status: "NO", code: "TOOBIG" }),
      req("A2", "NOOP", ["A2 NOOP"]),
    ]);
  });

  it("an oversized non-synchronizing APPEND literal is skipped, BAD [TOOBIG]", () => {
    const input = `A1 APPEND INBOX {150+}\r\n${"x".repeat(150)} (\\Seen) {3+}\r\nabc\r\nA2 NOOP\r\n`;
    const got = sameForEveryChunking(input, (c) => drive(c, { limits: { maxStreamedLiteral: 100 } }));
    assert.deepEqual(got, [
      err("A1", "message larger than 100 octets", { code: "TOOBIG" }),
      req("A2", "NOOP", ["A2 NOOP"]),
    ]);
  });

  it("session rejects before '+': the client sends nothing more", () => {
    const input = "A1 APPEND Nope {5}\r\nA2 NOOP\r\n";
    const got = sameForEveryChunking(input, (c) => drive(c, { rejectAt: () => true }));
    assert.equal(got[0]!["kind"], "literal-start");
    assert.deepEqual(got.slice(1), [req("A2", "NOOP", ["A2 NOOP"])]);
  });

  it("reject() mid-stream drops the rest of the literal and command", () => {
    const r = new ImapReceiver();
    r.push(Buffer.from("A1 APPEND INBOX {10+}\r\n01234"));
    assert.equal(r.next().kind, "literal-start");
    assert.equal(r.next().kind, "literal-chunk");
    r.reject();
    r.push(Buffer.from("56789 {3+}\r\nabc\r\nA2 NOOP\r\n"));
    const e = r.next();
    assert.equal(e.kind, "request");
    assert.equal(e.kind === "request" && e.tag, "A2");
  });
});

describe("ImapReceiver limits", () => {
  it("a line over maxLine is refused with the tag and resynchronises", () => {
    const input = `A1 NOOP ${"x".repeat(100)}\r\nA2 NOOP\r\n`;
    const got = sameForEveryChunking(input, (c) => drive(c, { limits: { maxLine: 50 } }));
    assert.deepEqual(got, [err("A1", "command line too long"), req("A2", "NOOP", ["A2 NOOP"])]);
  });

  it("exactly maxLine octets of text (plus CRLF) are fine", () => {
    const line = `A1 NOOP ${"x".repeat(42)}`;
    assert.equal(line.length, 50);
    const got = sameForEveryChunking(`${line}\r\n`, (c) => drive(c, { limits: { maxLine: 50 } }));
    assert.deepEqual(got, [req("A1", "NOOP", [line])]);
  });

  it("an over-long line announcing a non-synchronizing literal skips the literal too", () => {
    const input = `A1 LOGIN ${"x".repeat(100)} {5+}\r\n\r\nA2 {3+}\r\nA3 NOOP\r\nA4 NOOP\r\n`;
    const got = sameForEveryChunking(input, (c) => drive(c, { limits: { maxLine: 50 } }));
    // the 5 literal octets are "\r\nA2 "; then "{3+}" ends that (dropped) command, and "A3 " is its literal
    assert.deepEqual(got, [err("A1", "command line too long"), req("A4", "NOOP", ["A4 NOOP"])]);
  });

  it("an over-long line ending in a synchronizing literal: no '+', the client gives up", () => {
    const input = `A1 LOGIN ${"x".repeat(100)} {5}\r\nA2 NOOP\r\n`;
    const got = sameForEveryChunking(input, (c) => drive(c, { limits: { maxLine: 50 } }));
    assert.deepEqual(got, [err("A1", "command line too long"), req("A2", "NOOP", ["A2 NOOP"])]);
  });

  it("an inline literal over maxLiteral is refused (sync: no '+'; non-sync: skipped)", () => {
    const input = `A1 LOGIN {200}\r\nA2 LOGIN {200+}\r\n${"p".repeat(200)}\r\nA3 NOOP\r\n`;
    const got = sameForEveryChunking(input, (c) => drive(c, { limits: { maxLiteral: 100 } }));
    assert.deepEqual(got, [
      err("A1", "literal too big", { code: "TOOBIG" }),
      err("A2", "literal too big", { code: "TOOBIG" }),
      req("A3", "NOOP", ["A3 NOOP"]),
    ]);
  });

  it("maxCommand bounds the sum of inline literals", () => {
    const input = "A1 X {60+}\r\n" + "a".repeat(60) + " {60+}\r\n" + "b".repeat(60) + "\r\nA2 NOOP\r\n";
    const got = sameForEveryChunking(input, (c) => drive(c, { limits: { maxCommand: 100 } }));
    assert.deepEqual(got, [err("A1", "literal too big", { code: "TOOBIG" }), req("A2", "NOOP", ["A2 NOOP"])]);
  });

  it("LITERAL-: a non-synchronizing literal over 4096 octets is refused with TOOBIG", () => {
    const input = `A1 APPEND INBOX {4097+}\r\n${"m".repeat(4097)}\r\nA2 APPEND INBOX {4096+}\r\n`;
    const got = sameForEveryChunking(input, (c) => drive(c, { limits: { literalMinus: true } }));
    assert.deepEqual(
      got[0],
      err("A1", "non-synchronizing literal over 4096 octets (LITERAL-)", { code: "TOOBIG" }),
    );
    assert.equal(got[1]!["kind"], "literal-start");
  });

  it("a non-synchronizing literal too big to skip is fatal", () => {
    const got = sameForEveryChunking("A1 APPEND INBOX {99999999999+}\r\nxyz\r\nA2 NOOP\r\n", (c) => drive(c));
    assert.deepEqual(got, [err("A1", "literal too big", { code: "TOOBIG", fatal: true })]);
  });

  it("a huge number in a synchronizing literal is just refused", () => {
    const got = sameForEveryChunking("A1 LOGIN {999999999999999999999999}\r\nA2 NOOP\r\n", (c) => drive(c));
    assert.deepEqual(got, [err("A1", "literal too big", { code: "TOOBIG" }), req("A2", "NOOP", ["A2 NOOP"])]);
  });

  it("an endless line is dropped without buffering, then fatal past maxDiscard", () => {
    const r = new ImapReceiver({ maxLine: 1000, maxDiscard: 1024 * 1024 });
    const piece = Buffer.alloc(64 * 1024, 0x41);
    r.push(piece);
    const first = r.next();
    assert.equal(first.kind, "error");
    assert.equal(first.kind === "error" && first.fatal, false);
    let fatal = false;
    for (let i = 0; i < 40 && !fatal; i++) {
      r.push(piece);
      for (let e = r.next(); e.kind !== "need-more"; e = r.next()) {
        assert.equal(e.kind, "error");
        fatal = e.kind === "error" && e.fatal;
      }
      assert.ok(r.holding === 0);
    }
    assert.ok(fatal);
    r.push(Buffer.from("\r\nA1 NOOP\r\n"));
    assert.equal(r.next().kind, "need-more", "dead after a fatal error");
  });

  it("never holds more than the limits of an unterminated line", () => {
    const r = new ImapReceiver({ maxLine: 1000 });
    r.push(Buffer.from("A1 "));
    for (let i = 0; i < 3000; i++) {
      r.push(Buffer.from("y"));
      r.next();
      assert.ok(r.holding <= 1001, `holding ${r.holding}`);
    }
  });

  it("too many literals", () => {
    const got = drive([Buffer.from("A1 X {1+}\r\na {1+}\r\nb {1+}\r\nc\r\nA2 NOOP\r\n")], {
      limits: { maxLiterals: 2 },
    });
    assert.deepEqual(got, [err("A1", "too many literals in one command"), req("A2", "NOOP", ["A2 NOOP"])]);
  });

  it("a literal without a valid tag gets no continuation", () => {
    const got = sameForEveryChunking("* LOGIN {5}\r\nA2 NOOP\r\n", (c) => drive(c));
    assert.deepEqual(got, [err(null, "invalid tag"), req("A2", "NOOP", ["A2 NOOP"])]);
  });

  it("configure() changes limits for later literals", () => {
    const r = new ImapReceiver();
    r.configure({ maxStreamedLiteral: 10 });
    r.push(Buffer.from("A1 APPEND INBOX {11}\r\n"));
    const e = r.next();
    assert.equal(e.kind === "error" && e.code, "TOOBIG");
  });
});

describe("ImapReceiver lines outside commands", () => {
  it("nextLine() reads IDLE's DONE and SASL responses, then commands continue", () => {
    const input = "A1 IDLE\r\ndone\r\nA2 AUTHENTICATE PLAIN\r\nAGEAYg==\r\n*\nA3 NOOP\r\n";
    // after IDLE expect one line, after AUTHENTICATE two; everything else is a command
    const got = sameForEveryChunking(input, (chunks) => {
      const r = new ImapReceiver();
      const out: string[] = [];
      let lines = 0;
      for (const chunk of chunks) {
        r.push(chunk);
        for (;;) {
          if (lines > 0) {
            const l = r.nextLine();
            if (l.kind === "need-more") break;
            assert.equal(l.kind, "line");
            if (l.kind === "line") out.push(`line ${l.line.toString()} ${parseIdleDone(l.line)}`);
            lines--;
            continue;
          }
          const e = r.next();
          if (e.kind === "need-more") break;
          assert.equal(e.kind, "request");
          if (e.kind !== "request") continue;
          out.push(`request ${e.tag} ${e.name}`);
          lines = e.name === "IDLE" ? 1 : e.name === "AUTHENTICATE" ? 2 : 0;
        }
      }
      return out;
    });
    assert.deepEqual(got, [
      "request A1 IDLE",
      "line done true",
      "request A2 AUTHENTICATE",
      "line AGEAYg== false",
      "line * false",
      "request A3 NOOP",
    ]);
  });

  it("nextLine() refuses an over-long line and resynchronises", () => {
    const r = new ImapReceiver({ maxLine: 10 });
    r.push(Buffer.from("AAAAAAAAAAAAAAAAAAAAAAAAA\r\nDONE\r\n"));
    assert.equal(r.nextLine().kind, "error");
    const l = r.nextLine();
    assert.equal(l.kind === "line" && l.line.toString(), "DONE");
  });

  it("parseIdleDone", () => {
    assert.equal(parseIdleDone(Buffer.from("DONE")), true);
    assert.equal(parseIdleDone(Buffer.from("Done")), true);
    assert.equal(parseIdleDone(Buffer.from("DONE ")), false);
    assert.equal(parseIdleDone(Buffer.from("A1 NOOP")), false);
  });

  it("discardBuffered() drops pipelined plaintext after STARTTLS", () => {
    const r = new ImapReceiver();
    r.push(Buffer.from("A1 STARTTLS\r\nA2 LOGIN injected x\r\n"));
    assert.equal(r.next().kind, "request");
    assert.equal(r.discardBuffered(), 21);
    assert.equal(r.next().kind, "need-more");
    assert.ok(r.idle);
  });
});

describe("literalAnnouncement", () => {
  it("recognises the four forms only at the end", () => {
    const a = (s: string, t = false) => literalAnnouncement(Buffer.from(s), t);
    assert.deepEqual(a("x {12}"), { start: 2, size: 12, sync: true, binary: false });
    assert.deepEqual(a("x {12+}"), { start: 2, size: 12, sync: false, binary: false });
    assert.deepEqual(a("x ~{0}"), { start: 2, size: 0, sync: true, binary: true });
    assert.deepEqual(a("~{007+}"), { start: 0, size: 7, sync: false, binary: true });
    assert.equal(a("{}"), null);
    assert.equal(a("{+}"), null);
    assert.equal(a("{1} "), null);
    assert.equal(a("x{a}"), null);
    assert.equal(a("12}", true), "ambiguous");
    assert.equal(a("12}"), null);
    assert.equal((a("{99999999999999999999}") as { size: number }).size, Number.POSITIVE_INFINITY);
  });
});
