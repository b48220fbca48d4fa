// ENVELOPE strings: the RFC 9051 §8 example end to end (header → tree → ENVELOPE), NIL versus
// empty, groups, quoting and 8-bit text.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FetchResponseWriter, dateTime, flagList } from "../imap/protocol/compose.js";
import { body } from "./bodystructure.js";
import { buildEnvelope, emptyEnvelope } from "./envelope.js";
import { splitHeaderFields } from "./header.js";
import { addressList, imapEnvelope } from "./imap-envelope.js";
import { parseMime } from "./mime-parser.js";

const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, "\r\n"));

// RFC 9051 §8 (a004): the header of message 12, 342 octets with CRLF line ends
const RFC_HEADER = crlf(`Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)
From: Terry Gray <gray@cac.washington.edu>
Subject: IMAP4rev2 WG mtg summary and minutes
To: imap@cac.washington.edu
cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>
Message-Id: <B27397-0100000@cac.washington.edu>
MIME-Version: 1.0
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII

`);

// the example's envelope (the RFC prints the Message-ID cut short: "…washington.ed>")
const RFC_ENVELOPE =
  '("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev2 WG mtg summary and minutes"' +
  ' (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu"))' +
  ' (("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu"))' +
  ' ((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL' +
  ' "<B27397-0100000@cac.washington.edu>")';

describe("RFC 9051 §8 example", () => {
  it("the header is the 342 octets of BODY[HEADER]", () => {
    assert.equal(RFC_HEADER.length, 342);
  });

  it("ENVELOPE from the parsed header", () => {
    const { envelope } = parseMime(RFC_HEADER);
    assert.equal(imapEnvelope(envelope), RFC_ENVELOPE);
  });

  it("the whole FETCH FULL response", async () => {
    // a 3028-octet, 92-line body as in the example
    const text = Buffer.from("x".repeat(3028 - 92 * 2).concat("\r\n".repeat(92)));
    const { root, envelope } = parseMime(Buffer.concat([RFC_HEADER, text]));
    const chunks: Buffer[] = [];
    const w = new FetchResponseWriter({ write: (b) => void chunks.push(Buffer.from(b)) }, 12);
    w.item("FLAGS", flagList(["\\Seen"]))
      .item("INTERNALDATE", dateTime(new Date("1996-07-17T09:44:25Z"), -420))
      .item("RFC822.SIZE", "4286")
      .item("ENVELOPE", imapEnvelope(envelope))
      .item("BODY", body(root));
    await w.end();
    // the RFC prints the type, parameters and encoding as the header has them; we lower-case
    assert.equal(
      Buffer.concat(chunks).toString(),
      '* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 4286 ' +
        `ENVELOPE ${RFC_ENVELOPE} BODY ("text" "plain" ("charset" "US-ASCII") NIL NIL "7bit" 3028 92))\r\n`,
    );
  });
});

describe("ENVELOPE rules", () => {
  const env = (header: string) => buildEnvelope(splitHeaderFields(crlf(header)).fields);

  it("absent fields are NIL; present but empty strings are empty", () => {
    assert.equal(imapEnvelope(emptyEnvelope()), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    assert.equal(imapEnvelope(null), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    assert.equal(
      imapEnvelope(env("Subject:\nDate: \nTo:\nMessage-ID:\n\n")),
      '("" "" NIL NIL NIL NIL NIL NIL NIL "")',
    );
  });

  it("Sender and Reply-To default to From", () => {
    assert.equal(
      imapEnvelope(env("From: a@b.example\nReply-To: r@b.example\n\n")),
      '(NIL NIL ((NIL NIL "a" "b.example")) ((NIL NIL "a" "b.example")) ((NIL NIL "r" "b.example")) NIL NIL NIL NIL NIL)',
    );
  });

  it("groups are start and end markers", () => {
    assert.equal(
      addressList(env('To: A Group: x@y.example, "Q, R" <q@y.example>;, solo@z.example\n\n').to),
      '((NIL NIL "A Group" NIL)(NIL NIL "x" "y.example")("Q, R" NIL "q" "y.example")(NIL NIL NIL NIL)(NIL NIL "solo" "z.example"))',
    );
    assert.equal(
      addressList(env("Cc: undisclosed-recipients:;\n\n").cc),
      '((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))',
    );
  });

  it("source routes and quoted local parts", () => {
    assert.equal(
      addressList(env('From: Joe <@relay.example:"joe smith"@x.example>\n\n').from),
      '(("Joe" "@relay.example" "\\"joe smith\\"" "x.example"))',
    );
  });

  it("quotes and backslashes are escaped; 8-bit text is a literal unless UTF-8 is on", () => {
    const header = Buffer.concat([
      Buffer.from('Subject: say "hi" \\ '),
      Buffer.from("Grüße", "utf8"),
      Buffer.from("\r\nFrom: "),
      Buffer.from("Jörg", "utf8"),
      Buffer.from(" <j@x.example>\r\n\r\n"),
    ]);
    const e = parseMime(header).envelope;
    assert.equal(
      imapEnvelope(e),
      '(NIL {18}\r\nsay "hi" \\ Grüße (({5}\r\nJörg NIL "j" "x.example")) (({5}\r\nJörg NIL "j" "x.example"))' +
        ' (({5}\r\nJörg NIL "j" "x.example")) NIL NIL NIL NIL NIL)',
    );
    assert.equal(
      imapEnvelope(e, { utf8: true }),
      '(NIL "say \\"hi\\" \\\\ Grüße" (("Jörg" NIL "j" "x.example")) (("Jörg" NIL "j" "x.example"))' +
        ' (("Jörg" NIL "j" "x.example")) NIL NIL NIL NIL NIL)',
    );
  });

  it("Latin-1 header bytes are sent as their UTF-8 text", () => {
    const header = Buffer.concat([
      Buffer.from("Subject: "),
      Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]),
      Buffer.from("\r\n\r\n"),
    ]);
    assert.equal(
      imapEnvelope(parseMime(header).envelope),
      "(NIL {7}\r\nGrüße NIL NIL NIL NIL NIL NIL NIL NIL)",
    );
  });
});
