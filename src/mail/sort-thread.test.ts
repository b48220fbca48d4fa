// SORT criteria, sent dates, THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256), and the
// THREAD rendering with the examples of RFC 5256 §4.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { emptyEnvelope } from "./envelope.js";
import type { Envelope, EnvelopeAddress } from "./mime-types.js";
import {
  parseMsgIds,
  parseSentDate,
  renderThreads,
  type SortMessage,
  sortMessages,
  type ThreadMessage,
  type ThreadNode,
  threadOrderedSubject,
  threadReferences,
} from "./sort-thread.js";

const addr = (mailbox: string, host: string, name: string | null = null): EnvelopeAddress => ({
  name,
  adl: null,
  mailbox,
  host,
});

describe("sent date (RFC 5256 §2.2)", () => {
  const iso = (s: string) => parseSentDate(s)?.toISOString() ?? null;
  it("normalises to UTC", () => {
    assert.equal(iso("31 Dec 2000 16:01:33 -0800"), "2001-01-01T00:01:33.000Z");
    assert.equal(iso("Tue, 14 May 2024 09:12:44 +0200"), "2024-05-14T07:12:44.000Z");
    assert.equal(iso("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"), "1996-07-17T09:23:25.000Z");
  });
  it("obsolete forms", () => {
    assert.equal(iso("1 Jan 70 00:00 GMT"), "1970-01-01T00:00:00.000Z");
    assert.equal(iso("14 May 24 10:00:00 EST"), "2024-05-14T15:00:00.000Z");
    assert.equal(iso("14 May 99 10:00:00 PDT"), "1999-05-14T17:00:00.000Z");
    assert.equal(iso("14-May-2024 10:00:00 +0000"), "2024-05-14T10:00:00.000Z");
    assert.equal(iso("Tuesday, 14 May 2024 10:00 +0100"), "2024-05-14T09:00:00.000Z");
  });
  it("bad zone → UTC, bad time → midnight, no date → null", () => {
    assert.equal(iso("14 May 2024 09:12:44 XYZ"), "2024-05-14T09:12:44.000Z");
    assert.equal(iso("14 May 2024 9 o'clock"), "2024-05-14T00:00:00.000Z");
    assert.equal(iso("garbage"), null);
    assert.equal(iso("31 Apr 2024 10:00 +0000"), null);
    assert.equal(iso("14 Foo 2024"), null);
    assert.equal(iso("14 May 2024 10:00 constructor"), "2024-05-14T10:00:00.000Z");
    assert.equal(parseSentDate(null), null);
  });
});

describe("SORT", () => {
  const env = (over: Partial<Envelope>): Envelope => ({ ...emptyEnvelope(), ...over });
  const msgs: SortMessage[] = [
    {
      seqOrUid: 1,
      internalDate: new Date("2024-01-03T00:00:00Z"),
      sentDate: new Date("2024-01-01T00:00:00Z"),
      size: 300,
      envelope: env({
        subject: "Re: beta",
        from: [addr("zed", "x.example", "=?utf-8?q?=C3=84rger?=")],
        to: [addr("bob", "x.example")],
      }),
    },
    {
      seqOrUid: 2,
      internalDate: new Date("2024-01-01T00:00:00Z"),
      sentDate: null, // falls back to the internal date
      size: 100,
      envelope: env({
        subject: "alpha",
        from: [addr("Amy", "x.example", "Zoe")],
        cc: [addr("carl", "x.example")],
        to: [
          { name: null, adl: null, mailbox: "list", host: null },
          addr("Al", "y.example"),
          { name: null, adl: null, mailbox: null, host: null },
        ],
      }),
    },
    {
      seqOrUid: 3,
      internalDate: new Date("2024-01-02T00:00:00Z"),
      sentDate: new Date("2024-01-02T12:00:00Z"),
      size: 200,
      envelope: env({ subject: "[list] Beta", from: [addr("bert", "x.example")] }),
    },
    {
      seqOrUid: 4,
      internalDate: new Date("2024-01-04T00:00:00Z"),
      sentDate: new Date("2024-01-01T00:00:00Z"),
      size: 100,
      envelope: env({ subject: null, from: [] }),
    },
  ];
  const sort = (...keys: string[]) =>
    sortMessages(
      msgs,
      keys.map((k) => {
        const reverse = k.startsWith("-");
        return { key: (reverse ? k.slice(1) : k) as never, reverse };
      }),
    );

  it("single criteria", () => {
    assert.deepEqual(sort("ARRIVAL"), [2, 3, 1, 4]);
    // 1, 2 (no Date: its INTERNALDATE) and 4 share a sent date: mailbox order decides
    assert.deepEqual(sort("DATE"), [1, 2, 4, 3]);
    assert.deepEqual(sort("SIZE"), [2, 4, 3, 1]);
    // base subjects "beta", "alpha", "Beta", "": empty first, then case-insensitive
    assert.deepEqual(sort("SUBJECT"), [4, 2, 1, 3]);
    // first From mailbox: zed, Amy, bert, "" (no From)
    assert.deepEqual(sort("FROM"), [4, 2, 3, 1]);
    // first To mailbox, groups skipped: bob, Al, "", ""
    assert.deepEqual(sort("TO"), [3, 4, 2, 1]);
    assert.deepEqual(sort("CC"), [1, 3, 4, 2]);
  });

  it("REVERSE reverses one criterion, never the sequence tie-breaker", () => {
    assert.deepEqual(sort("-SIZE"), [1, 3, 2, 4]);
    assert.deepEqual(sort("SUBJECT", "-DATE"), [4, 2, 3, 1]);
    assert.deepEqual(sort("-SUBJECT", "DATE"), [1, 3, 2, 4]);
  });

  it("DISPLAYFROM (RFC 5957): decoded display name, else the address", () => {
    // "Ärger" (A + combining diaeresis after decomposition), "Zoe", "bert@x.example", ""
    assert.deepEqual(sort("DISPLAYFROM"), [4, 1, 3, 2]);
    assert.deepEqual(sort("DISPLAYTO"), [3, 4, 2, 1]);
  });
});

// ---------------------------------------------------------------------------------------------

let clock = 0;
function msg(seq: number, over: Partial<ThreadMessage> = {}): ThreadMessage {
  return {
    seqOrUid: seq,
    messageId: `<m${seq}@x>`,
    inReplyTo: null,
    references: [],
    subject: `subject ${seq}`,
    date: new Date(Date.UTC(2024, 0, 1) + seq * 60_000 + clock++),
    ...over,
  };
}
const refs = (...ids: number[]) => [ids.map((i) => `<m${i}@x>`).join(" ")];

describe("THREAD rendering (RFC 5256 §4)", () => {
  const n = (id: number | null, ...children: ThreadNode[]): ThreadNode => ({ id, children });
  it("the examples", () => {
    assert.equal(
      renderThreads([n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))]),
      "(2)(3 6 (4 23)(44 7 96))",
    );
    assert.equal(renderThreads([n(null, n(3), n(5))]), "((3)(5))");
    assert.equal(renderThreads([]), "");
    assert.equal(renderThreads([n(null, n(7))]), "(7)");
  });
});

describe("THREAD=ORDEREDSUBJECT", () => {
  it("groups by base subject, sorts threads by their first message", () => {
    const t = threadOrderedSubject([
      msg(1, { subject: "foo" }),
      msg(2, { subject: "Re: foo" }),
      msg(3, { subject: "bar" }),
      msg(4, { subject: "RE: FOO" }),
      msg(5, { subject: "[x] bar" }),
      msg(6, { subject: "baz" }),
    ]);
    assert.equal(renderThreads(t), "(1 (2)(4))(3 5)(6)");
  });
  it("uses the sent date, not the sequence", () => {
    const t = threadOrderedSubject([
      msg(1, { subject: "a", date: new Date("2024-02-01") }),
      msg(2, { subject: "a", date: new Date("2024-01-01") }),
      msg(3, { subject: "b", date: new Date("2024-01-15") }),
    ]);
    assert.equal(renderThreads(t), "(2 1)(3)");
  });
});

describe("THREAD=REFERENCES", () => {
  const thread = (ms: ThreadMessage[]) => renderThreads(threadReferences(ms));

  it("the RFC 5256 §4 example tree from References headers", () => {
    assert.equal(
      thread([
        msg(2),
        msg(3),
        msg(4, { references: refs(3, 6) }),
        msg(6, { references: refs(3) }),
        msg(7, { references: refs(3, 6, 44) }),
        msg(23, { references: refs(3, 6, 4) }),
        msg(44, { references: refs(3, 6) }),
        msg(96, { references: refs(3, 6, 44, 7) }),
      ]),
      "(2)(3 6 (4 23)(44 7 96))",
    );
  });

  it("chains and siblings", () => {
    assert.equal(
      thread([msg(1), msg(2, { references: refs(1) }), msg(3, { references: refs(1, 2) })]),
      "(1 2 3)",
    );
    assert.equal(
      thread([msg(1), msg(2, { references: refs(1) }), msg(3, { references: refs(1) })]),
      "(1 (2)(3))",
    );
  });

  it("a missing parent: a dummy with siblings stays, with one child it goes", () => {
    assert.equal(thread([msg(2, { references: refs(9) }), msg(3, { references: refs(9) })]), "((2)(3))");
    assert.equal(thread([msg(2, { references: refs(9) })]), "(2)");
    // a dummy in the middle of a chain is spliced out
    assert.equal(thread([msg(1), msg(3, { references: refs(1, 2) })]), "(1 3)");
  });

  it("In-Reply-To when there are no References: its first msg-id only", () => {
    assert.equal(thread([msg(1), msg(2), msg(3, { inReplyTo: "<m1@x> (sent by) <m2@x>" })]), "(1 3)(2)");
    assert.equal(thread([msg(1), msg(2, { references: ["garbage"], inReplyTo: "<m1@x>" })]), "(1 2)");
  });

  it("an existing parent link from References is kept; the last reference wins", () => {
    // 3 says 1 → 2 → 3; 4 says 5 → 2 → 4: 2 keeps parent 1
    assert.equal(
      thread([msg(1), msg(2), msg(3, { references: refs(1, 2) }), msg(4, { references: refs(5, 2) })]),
      "(1 2 (3)(4))",
    );
  });

  it("loops are not created", () => {
    assert.equal(thread([msg(1, { references: refs(2) }), msg(2, { references: refs(1) })]), "(2 1)");
    assert.equal(thread([msg(1, { references: refs(1) })]), "(1)");
    // 1 names 3 → 2 → 3: the second link would loop; 2 then has no references of its own, so
    // step 1B leaves it without a parent
    assert.equal(thread([msg(1, { references: refs(3, 2, 3) }), msg(2), msg(3)]), "(2)(3 1)");
  });

  it("duplicate and missing Message-IDs get unique ones", () => {
    assert.equal(
      thread([
        msg(1, { messageId: "<dup@x>" }),
        msg(2, { messageId: "<dup@x>" }),
        msg(3, { references: ["<dup@x>"] }),
        msg(4, { messageId: null }),
        msg(5, { messageId: "not an id" }),
      ]),
      "(1 3)(2)(4)(5)",
    );
  });

  it("msg-ids are normalised", () => {
    assert.deepEqual(parseMsgIds(' <"01KF8JCEOCBS0045PS"@xxx.yyy.com> <a (c) @b> <bad> <x@> <y@z'), [
      "01KF8JCEOCBS0045PS@xxx.yyy.com",
      "a@b",
    ]);
    assert.equal(thread([msg(1, { messageId: '<"abc"@x>' }), msg(2, { references: ["<abc@x>"] })]), "(1 2)");
  });

  it("siblings are sorted by sent date; dummies by their first child", () => {
    const d = (s: string) => new Date(s);
    assert.equal(
      thread([
        msg(1),
        msg(2, { references: refs(1), date: d("2024-03-01") }),
        msg(3, { references: refs(1), date: d("2024-02-01") }),
        msg(4, { references: refs(9), date: d("2023-01-02"), subject: "a" }),
        msg(5, { references: refs(9), date: d("2023-01-01"), subject: "b" }),
      ]),
      "((5)(4))(1 (3)(2))",
    );
  });

  it("threads with the same base subject are merged (step 5)", () => {
    // a reply goes under the original
    assert.equal(thread([msg(1, { subject: "Hello" }), msg(2, { subject: "Re: Hello" })]), "(1 2)");
    // the original is preferred in the subject table even when the reply is older
    assert.equal(
      thread([
        msg(1, { subject: "Re: Hello", date: new Date("2024-01-01") }),
        msg(2, { subject: "Hello", date: new Date("2024-01-02") }),
      ]),
      "(2 1)",
    );
    // neither a reply: both go under a new dummy
    assert.equal(thread([msg(1, { subject: "Hello" }), msg(2, { subject: "hello" })]), "((1)(2))");
    // a message joins a dummy thread with its subject
    assert.equal(
      thread([
        msg(2, { references: refs(9), subject: "topic" }),
        msg(3, { references: refs(9), subject: "Re: topic" }),
        msg(4, { subject: "Re: topic" }),
      ]),
      "((2)(3)(4))",
    );
    // two dummies with one subject become one
    assert.equal(
      thread([
        msg(1, { references: refs(8), subject: "x" }),
        msg(2, { references: refs(8), subject: "x" }),
        msg(3, { references: refs(9), subject: "Re: x" }),
        msg(4, { references: refs(9), subject: "x" }),
      ]),
      "((1)(2)(3)(4))",
    );
    // empty subjects never merge
    assert.equal(thread([msg(1, { subject: "" }), msg(2, { subject: "Re:" })]), "(1)(2)");
  });

  it("handles deep trees without recursion", () => {
    const ms: ThreadMessage[] = [msg(1)];
    for (let i = 2; i <= 20_000; i++) ms.push(msg(i, { references: refs(i - 1) }));
    assert.equal(thread(ms), `(${ms.map((m) => m.seqOrUid).join(" ")})`);
    // a comb: every message has a sibling leaf, nesting 5000 levels deep
    const comb: ThreadMessage[] = [msg(1)];
    for (let i = 1; i < 5000; i++) {
      comb.push(msg(2 * i, { references: refs(2 * i - 1 === 1 ? 1 : 2 * i - 1) }));
      comb.push(msg(2 * i + 1, { references: refs(2 * i - 1) }));
    }
    const out = thread(comb);
    assert.ok(out.startsWith("(1 (2)(3 (4)(5 (6)(7"));
  });

  it("one message naming thousands of missing ancestors", () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `<gone${i}@x>`).join(" ");
    assert.equal(thread([msg(1, { references: [ids] }), msg(2)]), "(1)(2)");
  });
});
