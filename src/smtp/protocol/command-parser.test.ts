import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Mailbox } from "./address.js";
import {
  type Command,
  decodeBase64,
  type ParseContext,
  type ParseResult,
  parseCommand,
  parseSaslResponse,
} from "./command-parser.js";
import { commandLineLimit, type Extension, type ExtensionSet } from "./extensions.js";
import { LineReader } from "./line-reader.js";
import { REPLIES } from "./reply.js";
import { sameForEveryChunking } from "./testkit.js";

const ALL: ExtensionSet = new Set<Extension>([
  "PIPELINING",
  "SIZE",
  "8BITMIME",
  "SMTPUTF8",
  "ENHANCEDSTATUSCODES",
  "CHUNKING",
  "BINARYMIME",
  "DSN",
  "STARTTLS",
  "AUTH",
]);
const NONE: ExtensionSet = new Set<Extension>();
const NO_BINARY: ExtensionSet = new Set<Extension>(["8BITMIME", "SIZE"]);

/** Frame `line` + CRLF with the LineReader, split every way, then parse: one result for all. */
function parse(line: string | Buffer, ctx: ParseContext = { extensions: ALL }): ParseResult {
  const bytes = Buffer.concat([typeof line === "string" ? Buffer.from(line) : line, Buffer.from("\r\n")]);
  return sameForEveryChunking(bytes, (chunks) => {
    const r = new LineReader(commandLineLimit(ALL));
    const results: ParseResult[] = [];
    for (const c of chunks) {
      r.push(c);
      for (let l = r.next(); l !== null; l = r.next()) {
        assert.equal(l.kind, "line");
        if (l.kind === "line") results.push(parseCommand(l.line, ctx));
      }
    }
    assert.equal(results.length, 1);
    return results[0]!;
  });
}

function mb(local: string, domain: string, address = `${local}@${domain}`, utf8 = false): Mailbox {
  return { local, domain, address, utf8 };
}

type Expect = Command | [code: number, enhanced: string];
type Case = [line: string | Buffer, expected: Expect, ctx?: ParseContext];

function check([line, expected, ctx]: Case): void {
  const got = parse(line, ctx);
  if (Array.isArray(expected)) {
    assert.equal(got.ok, false, `expected an error, got ${JSON.stringify(got)}`);
    if (!got.ok) assert.deepEqual([got.reply.code, got.reply.enhanced], expected, got.reply.lines.join());
  } else {
    assert.deepEqual(got, { ok: true, command: expected });
  }
}

function table(name: string, cases: Case[]): void {
  describe(name, () => {
    for (const c of cases) {
      const label = typeof c[0] === "string" ? c[0] : c[0].toString("latin1");
      it(`${JSON.stringify(label.length > 90 ? `${label.slice(0, 90)}…` : label)}${c[2] ? " (ctx)" : ""}`, () =>
        check(c));
    }
  });
}

const SYNTAX: [number, string] = [500, "5.5.2"];
const ARGS: [number, string] = [501, "5.5.4"];
const SENDER: [number, string] = [501, "5.1.7"];
const RCPT: [number, string] = [501, "5.1.3"];
const UNKNOWN_PARAM: [number, string] = [555, "5.5.4"];
const NOT_OFFERED: [number, string] = [504, "5.5.4"];
const NO_UTF8_SENDER: [number, string] = [550, "5.6.7"];
const NO_UTF8_RCPT: [number, string] = [553, "5.6.7"];
const P0 = { smtputf8: false };
const D60 = "d".repeat(60);
const LONG_DOMAIN = `${D60}.${D60}.${D60}.${D60}.example`; // 251 octets

table("EHLO / HELO", [
  ["EHLO mail.example.com", { verb: "EHLO", domain: "mail.example.com" }],
  ["ehlo Mail.Example.COM", { verb: "EHLO", domain: "Mail.Example.COM" }],
  ["HELO localhost", { verb: "HELO", domain: "localhost" }],
  ["EHLO  spaced.example  ", { verb: "EHLO", domain: "spaced.example" }],
  ["EHLO [192.0.2.1]", { verb: "EHLO", domain: "[192.0.2.1]" }],
  ["EHLO [IPv6:2001:db8::1]", { verb: "EHLO", domain: "[IPv6:2001:db8::1]" }],
  ["EHLO [IPv6:::ffff:192.0.2.1]", { verb: "EHLO", domain: "[IPv6:::ffff:192.0.2.1]" }],
  ["EHLO [IPv6:2001:db8:0:0:0:0:0:1]", { verb: "EHLO", domain: "[IPv6:2001:db8:0:0:0:0:0:1]" }],
  ["EHLO [x-tag:stuff]", { verb: "EHLO", domain: "[x-tag:stuff]" }],
  ["EHLO WIN_PC", { verb: "EHLO", domain: "WIN_PC" }], // "_" tolerated in EHLO only
  ["EHLO", ARGS],
  ["HELO ", ARGS],
  ["EHLO a.example b.example", ARGS],
  ["EHLO -bad.example", ARGS],
  ["EHLO bad-.example", ARGS],
  ["EHLO a..example", ARGS],
  ["EHLO example.com.", ARGS],
  ["EHLO bücher.example", ARGS], // A-labels only (RFC 6531 §3.7.1)
  ["EHLO [192.0.2.256]", ARGS],
  ["EHLO [192.0.2]", ARGS],
  ["EHLO [IPv6:1::2::3]", ARGS],
  ["EHLO [IPv6:1:2:3:4:5:6:7]", ARGS],
  ["EHLO [IPv6:1:2:3:4:5:6:7::]", ARGS], // "::" must stand for at least 2 groups (§4.1.3)
  ["EHLO [192.0.2.1", ARGS],
  [`EHLO ${"a".repeat(64)}.example`, ARGS],
]);

table("MAIL FROM", [
  ["MAIL FROM:<alice@example.com>", { verb: "MAIL", from: mb("alice", "example.com"), params: P0 }],
  ["mail from:<alice@example.com>", { verb: "MAIL", from: mb("alice", "example.com"), params: P0 }],
  ["MAIL FROM: <alice@example.com>", { verb: "MAIL", from: mb("alice", "example.com"), params: P0 }],
  ["MAIL  FROM:<alice@example.com>", { verb: "MAIL", from: mb("alice", "example.com"), params: P0 }],
  ["MAIL FROM:<>", { verb: "MAIL", from: null, params: P0 }],
  ["MAIL FROM:<> ", { verb: "MAIL", from: null, params: P0 }],
  [
    "MAIL FROM:<@a.example,@b.example:joe@c.example>",
    { verb: "MAIL", from: mb("joe", "c.example"), params: P0 },
  ],
  ['MAIL FROM:<"joe"@example.com>', { verb: "MAIL", from: mb("joe", "example.com"), params: P0 }],
  [
    'MAIL FROM:<"john doe"@example.com>',
    { verb: "MAIL", from: mb("john doe", "example.com", '"john doe"@example.com'), params: P0 },
  ],
  [
    'MAIL FROM:<"a\\"b\\\\c"@example.com>',
    { verb: "MAIL", from: mb('a"b\\c', "example.com", '"a\\"b\\\\c"@example.com'), params: P0 },
  ],
  [
    'MAIL FROM:<"a>b"@example.com>',
    { verb: "MAIL", from: mb("a>b", "example.com", '"a>b"@example.com'), params: P0 },
  ],
  ['MAIL FROM:<""@example.com>', { verb: "MAIL", from: mb("", "example.com", '""@example.com'), params: P0 }],
  [
    "MAIL FROM:<a.b+tag!#$%&'*/=?^_`{|}~-@example.com>",
    {
      verb: "MAIL",
      from: mb("a.b+tag!#$%&'*/=?^_`{|}~-", "example.com"),
      params: P0,
    },
  ],
  ["MAIL FROM:<joe@[192.0.2.1]>", { verb: "MAIL", from: mb("joe", "[192.0.2.1]"), params: P0 }],
  ["MAIL FROM:<joe@[IPv6:2001:db8::1]>", { verb: "MAIL", from: mb("joe", "[IPv6:2001:db8::1]"), params: P0 }],
  [
    `MAIL FROM:<${"l".repeat(64)}@example.com>`,
    { verb: "MAIL", from: mb("l".repeat(64), "example.com"), params: P0 },
  ],
  [
    "MAIL FROM:<alice@example.com> SIZE=1000 BODY=8BITMIME",
    {
      verb: "MAIL",
      from: mb("alice", "example.com"),
      params: { smtputf8: false, size: 1000, body: "8BITMIME" },
    },
  ],
  [
    "MAIL FROM:<alice@example.com>   size=0  body=binarymime ",
    {
      verb: "MAIL",
      from: mb("alice", "example.com"),
      params: { smtputf8: false, size: 0, body: "BINARYMIME" },
    },
  ],
  [
    "MAIL FROM:<alice@example.com> RET=HDRS ENVID=QQ314159+2B1",
    {
      verb: "MAIL",
      from: mb("alice", "example.com"),
      params: { smtputf8: false, ret: "HDRS", envid: "QQ314159+1" },
    },
  ],
  [
    "MAIL FROM:<e=mc2@example.com> AUTH=e+3Dmc2@example.com", // RFC 4954 §5.1
    {
      verb: "MAIL",
      from: mb("e=mc2", "example.com"),
      params: { smtputf8: false, auth: mb("e=mc2", "example.com") },
    },
  ],
  [
    "MAIL FROM:<john+@example.org> AUTH=<>",
    {
      verb: "MAIL",
      from: mb("john+", "example.org"),
      params: { smtputf8: false, auth: null },
    },
  ],
  [
    "MAIL FROM:<δοκιμή@παράδειγμα.δοκιμή> SMTPUTF8",
    {
      verb: "MAIL",
      from: mb("δοκιμή", "παράδειγμα.δοκιμή", "δοκιμή@παράδειγμα.δοκιμή", true),
      params: { smtputf8: true },
    },
  ],
  [
    'MAIL FROM:<"δο κι"@example.com> SMTPUTF8 BODY=8BITMIME',
    {
      verb: "MAIL",
      from: mb("δο κι", "example.com", '"δο κι"@example.com', true),
      params: { smtputf8: true, body: "8BITMIME" },
    },
  ],
  ["MAIL FROM:<>", { verb: "MAIL", from: null, params: P0 }, { extensions: NONE }],
  ["MAIL", ARGS],
  ["MAIL FROM", ARGS],
  ["MAIL TO:<alice@example.com>", ARGS],
  ["MAIL FROM :<alice@example.com>", ARGS],
  ["MAIL FROM:alice@example.com", SENDER],
  ["MAIL FROM:", SENDER],
  ["MAIL FROM:<alice@example.com", SENDER],
  ["MAIL FROM:<alice@example.com>x", SENDER],
  ["MAIL FROM:<<alice@example.com>>", SENDER],
  ["MAIL FROM:<alice>", SENDER],
  ["MAIL FROM:<postmaster>", SENDER],
  ["MAIL FROM:<alice@>", SENDER],
  ["MAIL FROM:<@example.com>", SENDER],
  ["MAIL FROM:<a b@example.com>", SENDER],
  ["MAIL FROM:<a..b@example.com>", SENDER],
  ["MAIL FROM:<.a@example.com>", SENDER],
  ["MAIL FROM:<a.@example.com>", SENDER],
  ["MAIL FROM:<a@b@example.com>", SENDER],
  ["MAIL FROM:<a@ex_ample.com>", SENDER],
  ["MAIL FROM:<a@-example.com>", SENDER],
  ["MAIL FROM:<a@[300.0.0.1]>", SENDER],
  ["MAIL FROM:<a@[192.0.2.1>", SENDER],
  ['MAIL FROM:<"unterminated@example.com>', SENDER],
  ['MAIL FROM:<"a\tb"@example.com>', SENDER],
  ["MAIL FROM:<a\x01b@example.com>", SENDER],
  ["MAIL FROM:<@a.example:>", SENDER],
  ["MAIL FROM:<@a_b.example:joe@c.example>", SENDER],
  [`MAIL FROM:<${"l".repeat(65)}@example.com>`, SENDER], // local part ≤ 64 (§4.5.3.1.1)
  [
    `MAIL FROM:<a@${D60}.${D60}.${D60}.${D60}.example>`,
    { verb: "MAIL", from: mb("a", LONG_DOMAIN), params: P0 },
  ],
  [`MAIL FROM:<a@${D60}.${D60}.${D60}.${D60}.${D60}.example>`, SENDER], // domain ≤ 255
  [`MAIL FROM:<@${LONG_DOMAIN}:joe@c.example>`, SENDER], // path ≤ 256 (§4.5.3.1.3)
  ["MAIL FROM:<δοκιμή@example.com>", NO_UTF8_SENDER],
  ["MAIL FROM:<joe@bücher.example>", NO_UTF8_SENDER],
  [Buffer.from("MAIL FROM:<caf\xe9@example.com>", "latin1"), NO_UTF8_SENDER],
  [Buffer.from("MAIL FROM:<caf\xe9@example.com> SMTPUTF8", "latin1"), SENDER], // invalid UTF-8
  ["MAIL FROM:<δοκιμή@example.com> SMTPUTF8", UNKNOWN_PARAM, { extensions: NONE }],
  ["MAIL FROM:<alice@example.com> SIZE=100", UNKNOWN_PARAM, { extensions: NONE }],
  ["MAIL FROM:<alice@example.com> FOO=bar", UNKNOWN_PARAM],
  ["MAIL FROM:<alice@example.com> NOTIFY=NEVER", UNKNOWN_PARAM],
  ["MAIL FROM:<alice@example.com> RET=FULL", UNKNOWN_PARAM, { extensions: NO_BINARY }],
  ["MAIL FROM:<alice@example.com> AUTH=<>", UNKNOWN_PARAM, { extensions: NO_BINARY }],
  ["MAIL FROM:<alice@example.com> BODY=BINARYMIME", NOT_OFFERED, { extensions: NO_BINARY }],
  ["MAIL FROM:<alice@example.com> SIZE=1 SIZE=2", ARGS],
  ["MAIL FROM:<alice@example.com> SIZE=1 size=1", ARGS],
  ["MAIL FROM:<alice@example.com> SIZE=abc", ARGS],
  ["MAIL FROM:<alice@example.com> SIZE=", ARGS],
  ["MAIL FROM:<alice@example.com> SIZE", ARGS],
  ["MAIL FROM:<alice@example.com> SIZE=-1", ARGS],
  [`MAIL FROM:<alice@example.com> SIZE=${"9".repeat(21)}`, ARGS],
  ["MAIL FROM:<alice@example.com> SIZE=1=2", ARGS],
  ["MAIL FROM:<alice@example.com> =1", ARGS],
  ["MAIL FROM:<alice@example.com> -X=1", ARGS],
  ["MAIL FROM:<alice@example.com> BODY=9BIT", ARGS],
  ["MAIL FROM:<alice@example.com> SMTPUTF8=yes", ARGS],
  ["MAIL FROM:<alice@example.com> RET=ALL", ARGS],
  ["MAIL FROM:<alice@example.com> RET=FULL RET=HDRS", ARGS],
  ["MAIL FROM:<alice@example.com> ENVID=a+2", ARGS],
  ["MAIL FROM:<alice@example.com> ENVID=a+0A", ARGS], // decoded value must be printable
  [`MAIL FROM:<alice@example.com> ENVID=${"e".repeat(101)}`, ARGS],
  ["MAIL FROM:<alice@example.com> AUTH=bogus", ARGS],
  ["MAIL FROM:<alice@example.com> AUTH=", ARGS],
  ["MAIL FROM:<alice@example.com> SIZE=1\tBODY=7BIT", ARGS],
]);

table("RCPT TO", [
  ["RCPT TO:<bob@example.com>", { verb: "RCPT", to: mb("bob", "example.com"), params: {} }],
  ["rcpt to: <bob@example.com>", { verb: "RCPT", to: mb("bob", "example.com"), params: {} }],
  ["RCPT TO:<postmaster>", { verb: "RCPT", to: mb("postmaster", "", "postmaster"), params: {} }],
  ["RCPT TO:<PostMaster>", { verb: "RCPT", to: mb("PostMaster", "", "PostMaster"), params: {} }],
  ["RCPT TO:<Postmaster@example.com>", { verb: "RCPT", to: mb("Postmaster", "example.com"), params: {} }],
  ["RCPT TO:<@hop.example:bob@example.com>", { verb: "RCPT", to: mb("bob", "example.com"), params: {} }],
  [
    "RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Bx@example.com",
    {
      verb: "RCPT",
      to: mb("bob", "example.com"),
      params: {
        notify: { never: false, success: true, failure: true, delay: false },
        orcpt: { type: "rfc822", address: "bob+x@example.com" },
      },
    },
  ],
  [
    "RCPT TO:<bob@example.com> notify=never",
    {
      verb: "RCPT",
      to: mb("bob", "example.com"),
      params: { notify: { never: true, success: false, failure: false, delay: false } },
    },
  ],
  [
    "RCPT TO:<bob@example.com> NOTIFY=delay,Failure",
    {
      verb: "RCPT",
      to: mb("bob", "example.com"),
      params: { notify: { never: false, success: false, failure: true, delay: true } },
    },
  ],
  [
    "RCPT TO:<δ@example.com> ORCPT=utf-8;\\x{3B4}@example.com",
    {
      verb: "RCPT",
      to: mb("δ", "example.com", "δ@example.com", true),
      params: { orcpt: { type: "utf-8", address: "δ@example.com" } },
    },
    { extensions: ALL, utf8: true },
  ],
  [
    "RCPT TO:<δ@example.com> ORCPT=utf-8;δ@example.com",
    {
      verb: "RCPT",
      to: mb("δ", "example.com", "δ@example.com", true),
      params: { orcpt: { type: "utf-8", address: "δ@example.com" } },
    },
    { extensions: ALL, utf8: true },
  ],
  [
    "RCPT TO:<bob@example.com>",
    { verb: "RCPT", to: mb("bob", "example.com"), params: {} },
    { extensions: NONE },
  ],
  ["RCPT", ARGS],
  ["RCPT FROM:<bob@example.com>", ARGS],
  ["RCPT TO:bob@example.com", RCPT],
  ["RCPT TO:<>", RCPT],
  ["RCPT TO:<bob>", RCPT],
  ['RCPT TO:<"postmaster">', RCPT],
  ["RCPT TO:<bob@example.com>junk", RCPT],
  ["RCPT TO:<bob@example.com.>", RCPT],
  ["RCPT TO:<δ@example.com>", NO_UTF8_RCPT],
  ["RCPT TO:<bob@example.com> NOTIFY=NEVER", UNKNOWN_PARAM, { extensions: NO_BINARY }],
  ["RCPT TO:<bob@example.com> SIZE=10", UNKNOWN_PARAM],
  ["RCPT TO:<bob@example.com> NOTIFY=NEVER,SUCCESS", ARGS], // NEVER alone (RFC 3461 §4.1)
  ["RCPT TO:<bob@example.com> NOTIFY=SOMETIMES", ARGS],
  ["RCPT TO:<bob@example.com> NOTIFY=", ARGS],
  ["RCPT TO:<bob@example.com> NOTIFY=SUCCESS,", ARGS],
  ["RCPT TO:<bob@example.com> NOTIFY", ARGS],
  ["RCPT TO:<bob@example.com> NOTIFY=SUCCESS NOTIFY=FAILURE", ARGS],
  ["RCPT TO:<bob@example.com> ORCPT=rfc822", ARGS],
  ["RCPT TO:<bob@example.com> ORCPT=;bob@example.com", ARGS],
  ["RCPT TO:<bob@example.com> ORCPT=rfc822;", ARGS],
  ["RCPT TO:<bob@example.com> ORCPT=rfc822;a+ZZb", ARGS],
  ["RCPT TO:<bob@example.com> ORCPT=rfc822;a+C3+A9", ARGS], // decoded must be printable ASCII
  ["RCPT TO:<bob@example.com> ORCPT=rfc 822;a", ARGS],
  [`RCPT TO:<bob@example.com> ORCPT=rfc822;${"o".repeat(500)}`, ARGS],
  ["RCPT TO:<bob@example.com> ORCPT=utf-8;\\x{D800}@example.com", ARGS],
  ["RCPT TO:<bob@example.com> ORCPT=utf-8;δ@example.com", ARGS], // raw UTF-8 only under SMTPUTF8
]);

table("commands without arguments", [
  ["DATA", { verb: "DATA" }],
  ["data", { verb: "DATA" }],
  ["DATA ", { verb: "DATA" }],
  ["RSET", { verb: "RSET" }],
  ["QUIT", { verb: "QUIT" }],
  ["StartTLS", { verb: "STARTTLS" }],
  ["DATA now", ARGS],
  ["RSET x", ARGS],
  ["QUIT now", ARGS],
  ["STARTTLS x", ARGS],
]);

table("NOOP, HELP, VRFY, EXPN", [
  ["NOOP", { verb: "NOOP" }],
  ["noop hello world", { verb: "NOOP", arg: "hello world" }],
  ["HELP", { verb: "HELP" }],
  ["HELP MAIL", { verb: "HELP", arg: "MAIL" }],
  ["VRFY bob", { verb: "VRFY", arg: "bob", smtputf8: false }],
  ["VRFY <bob@example.com>", { verb: "VRFY", arg: "<bob@example.com>", smtputf8: false }],
  ["EXPN staff list", { verb: "EXPN", arg: "staff list", smtputf8: false }],
  ["VRFY δοκιμή SMTPUTF8", { verb: "VRFY", arg: "δοκιμή", smtputf8: true }],
  ["VRFY bob SMTPUTF8", { verb: "VRFY", arg: "bob SMTPUTF8", smtputf8: false }, { extensions: NONE }],
  ["VRFY", ARGS],
  ["EXPN", ARGS],
]);

table("BDAT", [
  ["BDAT 100", { verb: "BDAT", size: 100, last: false }],
  ["BDAT 0 LAST", { verb: "BDAT", size: 0, last: true }],
  ["bdat 5 last", { verb: "BDAT", size: 5, last: true }],
  ["BDAT 007", { verb: "BDAT", size: 7, last: false }],
  [`BDAT ${"9".repeat(15)}`, { verb: "BDAT", size: 999999999999999, last: false }],
  ["BDAT", ARGS],
  ["BDAT x", ARGS],
  ["BDAT -1", ARGS],
  ["BDAT 1.5", ARGS],
  ["BDAT 1 FIRST", ARGS],
  ["BDAT 1 LAST x", ARGS],
  [`BDAT ${"9".repeat(16)}`, ARGS],
]);

table("AUTH", [
  ["AUTH PLAIN", { verb: "AUTH", mechanism: "PLAIN" }],
  ["auth scram-sha-256", { verb: "AUTH", mechanism: "SCRAM-SHA-256" }],
  [
    "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
    { verb: "AUTH", mechanism: "PLAIN", initialResponse: Buffer.from("\0alice\0secret") },
  ],
  ["AUTH EXTERNAL =", { verb: "AUTH", mechanism: "EXTERNAL", initialResponse: Buffer.alloc(0) }],
  ["AUTH", ARGS],
  ["AUTH PLAIN a b", ARGS],
  ["AUTH PL@IN", ARGS],
  [`AUTH ${"M".repeat(21)}`, ARGS],
  ["AUTH PLAIN !!!!", [501, "5.5.2"]], // RFC 4954 §4: not base64 → 501 5.5.2
  ["AUTH PLAIN =AAA", [501, "5.5.2"]],
  ["AUTH PLAIN AAA=BBBB", [501, "5.5.2"]],
  ["AUTH PLAIN AAA", [501, "5.5.2"]],
]);

table("unknown and malformed commands", [
  ["", SYNTAX],
  ["   ", SYNTAX],
  ["FOO", SYNTAX],
  ["MAILFROM:<a@b.example>", SYNTAX],
  [" MAIL FROM:<a@b.example>", SYNTAX],
  ["GET / HTTP/1.1", SYNTAX],
  ["\0", SYNTAX],
  ["TURN", [502, "5.5.1"]],
  ["ETRN example.com", [502, "5.5.1"]],
]);

describe("parse errors", () => {
  it("carry the upper-cased verb and the table reply", () => {
    const r = parseCommand("foo bar", { extensions: ALL });
    assert.deepEqual(r, { ok: false, verb: "FOO", reply: REPLIES.syntaxError });
    const m = parseCommand("mail from:<nope>", { extensions: ALL });
    assert.equal(!m.ok && m.verb, "MAIL");
  });
});

describe("SASL response lines", () => {
  it("decodes base64, allows an empty line, recognises * as cancel", () => {
    assert.deepEqual(parseSaslResponse("YWxpY2U="), { kind: "data", data: Buffer.from("alice") });
    assert.deepEqual(parseSaslResponse(Buffer.alloc(0)), { kind: "data", data: Buffer.alloc(0) });
    assert.deepEqual(parseSaslResponse("*"), { kind: "cancel" });
    assert.deepEqual(parseSaslResponse("YW=xp"), { kind: "error", reply: REPLIES.badBase64 });
    assert.deepEqual(parseSaslResponse("YWxp Y2U="), { kind: "error", reply: REPLIES.badBase64 });
  });

  it("strict base64 per RFC 4954 §4", () => {
    for (const good of ["", "AAAA", "AA==", "AAA=", "+/+/"]) assert.ok(decodeBase64(good), good);
    for (const bad of ["A", "AA=", "=AAA", "AAA=BBBB", "A===", "AA-_", "AAAA\n"])
      assert.equal(decodeBase64(bad), null, bad);
  });
});
