import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { TraceInfo } from "../delivery/types.js";
import {
  addressLiteral,
  deliveredToHeader,
  receivedHeader,
  returnPathHeader,
  rfc5322Date,
} from "./received.js";

const DATE = new Date(Date.UTC(2024, 0, 2, 3, 4, 5)); // a Tuesday
const DATE_TEXT = "Tue, 2 Jan 2024 03:04:05 +0000";

function trace(over: Partial<TraceInfo> = {}): TraceInfo {
  return {
    receivedBy: "mx.example.org",
    heloName: "client.example.com",
    remoteAddress: "192.0.2.1",
    remoteHost: null,
    protocol: "ESMTP",
    tls: null,
    authenticatedAs: null,
    id: "4ZxY12",
    date: DATE,
    ...over,
  };
}

/** The comments of a header field, read as RFC 5322 §3.2.2 does (quoted-pairs, nesting). */
function comments(field: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < field.length; i++) {
    const c = field[i];
    if (c === "\\") i++;
    else if (c === "(") {
      if (depth++ === 0) start = i;
    } else if (c === ")") {
      assert.ok(depth > 0, `unbalanced ")" at ${i} in ${JSON.stringify(field)}`);
      if (--depth === 0) out.push(field.slice(start, i + 1));
    }
  }
  assert.equal(depth, 0, `unclosed comment in ${JSON.stringify(field)}`);
  return out;
}

/** CRLF only as the end of the field or before a folding HTAB; returns the lines. */
function lines(field: string): string[] {
  assert.ok(field.endsWith("\r\n"));
  const ls = field.slice(0, -2).split("\r\n");
  for (const l of ls.slice(1)) assert.ok(l.startsWith("\t"), `continuation line ${JSON.stringify(l)}`);
  for (const l of ls) assert.ok(!/[\r\n]/.test(l));
  return ls;
}

describe("receivedHeader", () => {
  const cases: Array<{ name: string; trace: TraceInfo; for: string | null; expected: string }> = [
    {
      name: "IPv4, no reverse DNS, plain ESMTP",
      trace: trace(),
      for: "bob@example.org",
      expected:
        "Received: from client.example.com (unknown [192.0.2.1])\r\n" +
        "\tby mx.example.org (Postamt) with ESMTP id 4ZxY12\r\n" +
        `\tfor <bob@example.org>; ${DATE_TEXT}\r\n`,
    },
    {
      name: "IPv6 with a verified name, TLS and authentication (no login name disclosed)",
      trace: trace({
        heloName: "laptop",
        remoteAddress: "2001:DB8::1",
        remoteHost: "host.example.net",
        protocol: "ESMTPSA",
        tls: { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", bits: 256 },
        authenticatedAs: "alice@example.org",
        id: "S1",
      }),
      for: "bob@example.org",
      expected:
        "Received: from laptop (host.example.net [IPv6:2001:db8::1])\r\n" +
        "\tby mx.example.org (Postamt) with ESMTPSA id S1\r\n" +
        "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n" +
        `\tfor <bob@example.org>; ${DATE_TEXT}\r\n`,
    },
    {
      name: "STARTTLS without authentication",
      trace: trace({
        protocol: "ESMTPS",
        tls: { protocol: "TLSv1.2", cipher: "ECDHE-RSA-AES256-GCM-SHA384", bits: 256 },
      }),
      for: "bob@example.org",
      expected:
        "Received: from client.example.com (unknown [192.0.2.1])\r\n" +
        "\tby mx.example.org (Postamt) with ESMTPS id 4ZxY12\r\n" +
        "\t(using TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384)\r\n" +
        `\tfor <bob@example.org>; ${DATE_TEXT}\r\n`,
    },
    {
      name: "no for clause: the date goes on its own line after ';'",
      trace: trace(),
      for: null,
      expected:
        "Received: from client.example.com (unknown [192.0.2.1])\r\n" +
        "\tby mx.example.org (Postamt) with ESMTP id 4ZxY12;\r\n" +
        `\t${DATE_TEXT}\r\n`,
    },
    {
      name: "no for clause after the TLS comment",
      trace: trace({
        protocol: "ESMTPS",
        tls: { protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", bits: 128 },
      }),
      for: null,
      expected:
        "Received: from client.example.com (unknown [192.0.2.1])\r\n" +
        "\tby mx.example.org (Postamt) with ESMTPS id 4ZxY12\r\n" +
        "\t(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256);\r\n" +
        `\t${DATE_TEXT}\r\n`,
    },
    {
      name: "IPv4-mapped IPv6 is shown as IPv4; no HELO: the address literal stands in",
      trace: trace({ heloName: null, remoteAddress: "::ffff:198.51.100.7" }),
      for: "bob@example.org",
      expected:
        "Received: from [198.51.100.7] (unknown [198.51.100.7])\r\n" +
        "\tby mx.example.org (Postamt) with ESMTP id 4ZxY12\r\n" +
        `\tfor <bob@example.org>; ${DATE_TEXT}\r\n`,
    },
    {
      name: "long names fold at the spaces between words",
      trace: trace({
        heloName: `${"a".repeat(40)}.example.com`,
        remoteHost: `${"b".repeat(30)}.example.net`,
      }),
      for: "bob@example.org",
      expected:
        `Received: from ${"a".repeat(40)}.example.com\r\n` +
        `\t(${"b".repeat(30)}.example.net [192.0.2.1])\r\n` +
        "\tby mx.example.org (Postamt) with ESMTP id 4ZxY12\r\n" +
        `\tfor <bob@example.org>; ${DATE_TEXT}\r\n`,
    },
    {
      name: "a long recipient pushes the date to the next line",
      trace: trace(),
      for: `${"r".repeat(50)}@example.org`,
      expected:
        "Received: from client.example.com (unknown [192.0.2.1])\r\n" +
        "\tby mx.example.org (Postamt) with ESMTP id 4ZxY12\r\n" +
        `\tfor <${"r".repeat(50)}@example.org>;\r\n` +
        `\t${DATE_TEXT}\r\n`,
    },
    {
      name: "UTF8SMTP keeps a U-label HELO",
      trace: trace({ heloName: "müller.example", protocol: "UTF8SMTPS" }),
      for: "jörg@example.org",
      expected:
        "Received: from müller.example (unknown [192.0.2.1])\r\n" +
        "\tby mx.example.org (Postamt) with UTF8SMTPS id 4ZxY12\r\n" +
        `\tfor <jörg@example.org>; ${DATE_TEXT}\r\n`,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const h = receivedHeader(c.trace, c.for);
      assert.equal(h, c.expected);
      lines(h);
      comments(h);
    });
  }

  it("keeps lines within 78 characters for ordinary input", () => {
    const h = receivedHeader(
      trace({
        heloName: "mail-yw1-f170.google.com",
        remoteHost: "mail-yw1-f170.google.com",
        remoteAddress: "2a00:1450:4864:20::52e",
        protocol: "ESMTPS",
        tls: { protocol: "TLSv1.2", cipher: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", bits: 256 },
        id: "01HQ7ZJ3K4M5N6P7Q8R9S0T1V2",
      }),
      "someone.with.a.long.name@example.org",
    );
    for (const l of lines(h)) assert.ok(l.length <= 78, `${l.length}: ${l}`);
  });

  it("omits the login name", () => {
    const h = receivedHeader(
      trace({ protocol: "ESMTPA", authenticatedAs: "secret-login@example.org" }),
      null,
    );
    assert.ok(!h.includes("secret-login"));
    assert.match(h, / with ESMTPA id /);
  });

  it("uses the current time without a date", () => {
    const h = receivedHeader(trace({ date: undefined }), null);
    const m = /;\r\n\t(.+)\r\n$/.exec(h);
    assert.ok(m);
    assert.ok(Math.abs(Date.parse(m[1]!) - Date.now()) < 5000);
  });
});

describe("receivedHeader sanitises what the client said", () => {
  it("CR/LF in HELO cannot start a new header field", () => {
    const h = receivedHeader(trace({ heloName: "evil\r\nX-Injected: yes" }), "bob@example.org");
    assert.equal(lines(h).length, 3);
    assert.ok(h.startsWith("Received: from evil??X-Injected:?yes (unknown [192.0.2.1])\r\n"));
    assert.ok(!/\r\n[^\t]/.test(h.slice(0, -2)));
  });

  it("a bare LF, NUL or tab in HELO is replaced too", () => {
    const h = receivedHeader(trace({ heloName: "a\nb\0c\td" }), null);
    assert.ok(h.startsWith("Received: from a?b?c?d (unknown [192.0.2.1])\r\n"));
  });

  it("parentheses cannot forge the address comment", () => {
    const h = receivedHeader(trace({ heloName: "x (trusted.example [10.0.0.1])" }), "bob@example.org");
    assert.ok(h.startsWith("Received: from x?\\(trusted.example?[10.0.0.1]\\) (unknown [192.0.2.1])\r\n"));
    assert.deepEqual(comments(h), ["(unknown [192.0.2.1])", "(Postamt)"]);
  });

  it("a backslash cannot unquote an escaped parenthesis", () => {
    const h = receivedHeader(trace({ heloName: "a\\)b(" }), null);
    assert.ok(h.startsWith("Received: from a\\\\\\)b\\( (unknown [192.0.2.1])\r\n"));
    assert.deepEqual(comments(h), ["(unknown [192.0.2.1])", "(Postamt)"]);
  });

  it("reverse DNS names are escaped inside their comment", () => {
    const h = receivedHeader(trace({ remoteHost: "x) by forged.example (y" }), null);
    assert.deepEqual(comments(h), ["(x\\)?by?forged.example?\\(y [192.0.2.1])", "(Postamt)"]);
  });

  it("non-ASCII HELO without SMTPUTF8 becomes '?'", () => {
    const h = receivedHeader(trace({ heloName: "müller.example\u202e" }), null);
    assert.ok(h.startsWith("Received: from m?ller.example? (unknown"));
  });

  it("bounds the HELO length", () => {
    const h = receivedHeader(trace({ heloName: "h".repeat(1000) }), null);
    assert.ok(h.startsWith(`Received: from ${"h".repeat(255)}\r\n\t(unknown [192.0.2.1])\r\n`));
  });

  it("the id and the TLS names stay single tokens", () => {
    const h = receivedHeader(
      trace({ id: "a b;c", tls: { protocol: "TLS 1.3)", cipher: "X\r\nY", bits: null } }),
      null,
    );
    assert.match(h, / id a\?b\?c\r\n/);
    assert.match(h, /\(using TLS\?1\.3\? with cipher X\?\?Y\);/);
    comments(h);
  });

  it("the recipient cannot break the field", () => {
    const h = receivedHeader(trace(), "bob@example.org>\r\nBcc: x");
    lines(h);
    assert.match(h, /for <bob@example\.org>\?\?Bcc: x>;/);
  });
});

describe("address literals", () => {
  const cases: Array<[string, string]> = [
    ["192.0.2.1", "[192.0.2.1]"],
    ["::ffff:192.0.2.1", "[192.0.2.1]"],
    ["::1", "[IPv6:::1]"],
    ["fe80::1%eth0", "[IPv6:fe80::1]"],
    ["2001:DB8::A", "[IPv6:2001:db8::a]"],
    ["[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"],
    ["", "[unknown]"],
  ];
  for (const [ip, literal] of cases)
    it(`${JSON.stringify(ip)} → ${literal}`, () => assert.equal(addressLiteral(ip), literal));
});

describe("Return-Path and Delivered-To", () => {
  it("Return-Path", () => {
    assert.equal(returnPathHeader("alice@example.com"), "Return-Path: <alice@example.com>\r\n");
    assert.equal(returnPathHeader(""), "Return-Path: <>\r\n");
    assert.equal(returnPathHeader("<a@b.example>"), "Return-Path: <a@b.example>\r\n");
    assert.equal(returnPathHeader("a@b.example\r\nX: y"), "Return-Path: <a@b.example??X: y>\r\n");
    assert.equal(returnPathHeader("jörg@bücher.example"), "Return-Path: <jörg@bücher.example>\r\n");
  });

  it("Delivered-To", () => {
    assert.equal(deliveredToHeader("bob+news@example.org"), "Delivered-To: bob+news@example.org\r\n");
    assert.equal(deliveredToHeader("bob@example.org\n"), "Delivered-To: bob@example.org\r\n");
    assert.equal(deliveredToHeader("bob@exa\nmple.org"), "Delivered-To: bob@exa?mple.org\r\n");
  });

  it("RFC 5322 dates", () => {
    assert.equal(rfc5322Date(DATE), DATE_TEXT);
    assert.equal(
      rfc5322Date(new Date(Date.UTC(1999, 11, 31, 23, 59, 59))),
      "Fri, 31 Dec 1999 23:59:59 +0000",
    );
  });
});
