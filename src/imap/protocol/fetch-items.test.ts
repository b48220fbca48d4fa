import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sameForEveryChunking } from "../../smtp/protocol/testkit.js";
import { formatSection } from "./fetch-items.js";
import { parseCommand } from "./parse-command.js";
import { ImapReceiver } from "./receiver.js";
import type { FetchItem } from "./types.js";

/** `a FETCH 1 <items>` through the receiver for every chunking: the items, or the error text. */
function items(text: string): readonly FetchItem[] | string {
  return sameForEveryChunking(Buffer.from(`a FETCH 1 ${text}\r\n`), (chunks) => {
    const r = new ImapReceiver();
    let out: readonly FetchItem[] | string = "none";
    for (const c of chunks) {
      r.push(c);
      for (let e = r.next(); e.kind !== "need-more"; e = r.next()) {
        if (e.kind !== "request") continue;
        const p = parseCommand(e);
        out = p.ok ? (p.command as { items: readonly FetchItem[] }).items : p.text;
      }
    }
    return out;
  });
}

const s = (type: string): FetchItem => ({ type }) as FetchItem;

describe("fetch items (RFC 9051 §6.4.5)", () => {
  const cases: [string, readonly FetchItem[] | string][] = [
    ["FAST", [s("FLAGS"), s("INTERNALDATE"), s("RFC822.SIZE")]],
    ["all", [s("FLAGS"), s("INTERNALDATE"), s("RFC822.SIZE"), s("ENVELOPE")]],
    ["FULL", [s("FLAGS"), s("INTERNALDATE"), s("RFC822.SIZE"), s("ENVELOPE"), s("BODY")]],
    [
      "(ENVELOPE FLAGS INTERNALDATE RFC822.SIZE UID MODSEQ BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT)",
      [
        "ENVELOPE",
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "UID",
        "MODSEQ",
        "BODYSTRUCTURE",
        "BODY",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
      ].map(s),
    ],
    ["BODY[]", [{ type: "BODY[]", peek: false, section: { part: [] } }]],
    ["body.peek[]", [{ type: "BODY[]", peek: true, section: { part: [] } }]],
    ["BODY[HEADER]", [{ type: "BODY[]", peek: false, section: { part: [], text: "HEADER" } }]],
    [
      "BODY[TEXT]<10.20>",
      [
        {
          type: "BODY[]",
          peek: false,
          section: { part: [], text: "TEXT" },
          partial: { offset: 10, length: 20 },
        },
      ],
    ],
    ["BODY[1]", [{ type: "BODY[]", peek: false, section: { part: [1] } }]],
    ["BODY.PEEK[1.2.3]", [{ type: "BODY[]", peek: true, section: { part: [1, 2, 3] } }]],
    ["BODY[1.MIME]", [{ type: "BODY[]", peek: false, section: { part: [1], text: "MIME" } }]],
    ["BODY[4.2.HEADER]", [{ type: "BODY[]", peek: false, section: { part: [4, 2], text: "HEADER" } }]],
    ["BODY[2.text]", [{ type: "BODY[]", peek: false, section: { part: [2], text: "TEXT" } }]],
    [
      "BODY.PEEK[HEADER.FIELDS (From To {7}\r\nSubject)]",
      [
        {
          type: "BODY[]",
          peek: true,
          section: { part: [], text: "HEADER.FIELDS", fields: ["From", "To", "Subject"] },
        },
      ],
    ],
    [
      'BODY[1.HEADER.FIELDS.NOT ("Received" X-Spam)]<0.1024>',
      [
        {
          type: "BODY[]",
          peek: false,
          section: { part: [1], text: "HEADER.FIELDS.NOT", fields: ["Received", "X-Spam"] },
          partial: { offset: 0, length: 1024 },
        },
      ],
    ],
    ["BINARY[]", [{ type: "BINARY[]", peek: false, part: [] }]],
    [
      "BINARY.PEEK[1.2]<0.100>",
      [{ type: "BINARY[]", peek: true, part: [1, 2], partial: { offset: 0, length: 100 } }],
    ],
    ["BINARY.SIZE[3]", [{ type: "BINARY.SIZE[]", part: [3] }]],
    [
      "(UID BODY.PEEK[] BINARY.SIZE[1])",
      [s("UID"), { type: "BODY[]", peek: true, section: { part: [] } }, { type: "BINARY.SIZE[]", part: [1] }],
    ],
    // errors
    ["BODY[MIME]", "FETCH: MIME needs a part number"],
    ["BODY[0]", "FETCH: a part number must not be 0"],
    ["BODY[1.]", "FETCH: invalid section ]"],
    ["BODY[HEADER.FIELDS]", "FETCH: expected a space after HEADER.FIELDS"],
    ["BODY[HEADER.FIELDS ()]", "FETCH: empty the header field list"],
    ["BODY[HEADER.FIELDS (a:b)]", "FETCH: invalid header field name in HEADER.FIELDS"],
    ["BODY[FOO]", "FETCH: invalid section FOO"],
    ["BODY[", "FETCH: unterminated section"],
    ["BODY.PEEK", "FETCH: BODY.PEEK needs a section"],
    ["BINARY[1.HEADER]", "FETCH: a BINARY section is part numbers only"],
    ["BINARY[TEXT]", "FETCH: a BINARY section is part numbers only"],
    ["BINARY", "FETCH: BINARY needs a section"],
    ["BINARY.SIZE[1]<0.5>", "FETCH: expected a space before the fetch modifiers"],
    ["FLAGS[]", "FETCH: FLAGS takes no section"],
    ["BODY[]<1.2", 'FETCH: expected ">" to end the partial range'],
    ["(FLAGS)(UID)", "FETCH: expected a space before the fetch modifiers"],
    ["(FLAGS  UID)", 'FETCH: expected a fetch item at " UID)"'],
  ];
  for (const [text, expected] of cases) {
    it(text.replace(/\r\n/g, "⏎"), () => assert.deepEqual(items(text), expected));
  }

  it("formatSection writes what a response echoes", () => {
    assert.equal(formatSection({ part: [] }), "");
    assert.equal(formatSection({ part: [1, 2] }), "1.2");
    assert.equal(formatSection({ part: [1], text: "MIME" }), "1.MIME");
    assert.equal(
      formatSection({ part: [], text: "HEADER.FIELDS", fields: ["From", "To"] }),
      "HEADER.FIELDS (From To)",
    );
    assert.equal(
      formatSection({ part: [2], text: "HEADER.FIELDS.NOT", fields: ['a"b'] }),
      '2.HEADER.FIELDS.NOT ("a\\"b")',
    );
  });
});
