// The client against scripted servers: each test plays one edge of the protocol.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, describe, it } from "node:test";
import { connect, isLoopback, xtext } from "../../src/smtp/client/connection.js";
import { ClientError, type OutboundEnvelope, type SmtpClientOptions } from "../../src/smtp/client/types.js";
import { freePort } from "../helpers/ports.js";
import { type Peer, type Scripted, scriptedServer } from "./scripted.js";

const servers: Scripted[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function serve(script: (p: Peer) => Promise<void>): Promise<Scripted> {
  const s = await scriptedServer(script);
  servers.push(s);
  return s;
}

function opts(port: number, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions {
  return { host: "127.0.0.1", port, localHostname: "client.test", tls: "none", ...extra };
}

function envelope(recipients: string[], extra: Partial<OutboundEnvelope> = {}): OutboundEnvelope {
  return {
    from: "sender@client.test",
    recipients: recipients.map((address) => ({ address })),
    size: 100,
    eightBit: false,
    smtputf8: false,
    ...extra,
  };
}

const MSG = "Subject: test\r\n\r\nHello.\r\n";

/** A source that records whether it was ever opened. */
function source(text = MSG): { open: () => Readable; opened: () => boolean } {
  let opened = false;
  return {
    open: () => {
      opened = true;
      return Readable.from([Buffer.from(text, "utf8")]);
    },
    opened: () => opened,
  };
}

async function rejects(
  p: Promise<unknown>,
  kind: ClientError["kind"],
  message?: RegExp,
): Promise<ClientError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ClientError, `expected ClientError, got ${e}`);
    assert.equal(e.kind, kind, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ClientError ${kind}`);
}

describe("SMTP client: replies and framing", { timeout: 30_000 }, () => {
  it("reads multi-line replies split across packets at awkward places", async () => {
    const srv = await serve(async (p) => {
      const greeting = "220-scripted.test ESMTP\r\n220-second line\r\n220 third\r\n";
      const ehlo = "250-scripted.test hi\r\n250-PIPELINING\r\n250-SIZE 12345\r\n250-8BITMIME\r\n250 DSN\r\n";
      p.socket.setNoDelay(true);
      // one octet at a time, each in its own packet
      for (const ch of greeting) {
        p.write(ch);
        await new Promise((r) => setTimeout(r, 1));
      }
      assert.match(await p.line(), /^EHLO client\.test$/);
      for (const piece of [ehlo.slice(0, 3), ehlo.slice(3, 25), ehlo.slice(25, 41), ehlo.slice(41)]) {
        p.write(piece);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await p.line(), "QUIT");
      p.reply(221, "2.0.0 bye");
    });
    const c = await connect(opts(srv.port));
    assert.equal(c.banner, "scripted.test ESMTP");
    assert.deepEqual(
      [...c.extensions],
      [
        ["PIPELINING", ""],
        ["SIZE", "12345"],
        ["8BITMIME", ""],
        ["DSN", ""],
      ],
    );
    await c.quit();
    await srv.check();
  });

  it("fails with a protocol error when the server sends garbage", async () => {
    const srv = await serve(async (p) => {
      p.write("220 ok\r\n");
      await p.line();
      p.write("SSH-2.0-OpenSSH_9.6\r\n");
      await p.waitClosed();
    });
    await rejects(connect(opts(srv.port)), "protocol", /invalid reply/);
    await srv.check();
  });

  it("fails with a protocol error when the server hangs up mid-reply", async () => {
    const srv = await serve(async (p) => {
      p.write("220-ok\r\n");
      p.close();
    });
    await rejects(connect(opts(srv.port)), "protocol", /closed the connection/);
    await srv.check();
  });
});

describe("SMTP client: greeting, EHLO, HELO", { timeout: 30_000 }, () => {
  it("a 421 greeting is a rejection with the reply attached", async () => {
    const srv = await serve(async (p) => {
      p.write("421 4.3.2 scripted.test busy, try later\r\n");
      p.socket.end();
    });
    const e = await rejects(connect(opts(srv.port)), "rejected", /busy/);
    assert.equal(e.reply?.code, 421);
    assert.equal(e.reply?.enhanced, "4.3.2");
    await srv.check();
  });

  it("a 554 greeting is a rejection; the client says QUIT (RFC 5321 §3.1)", async () => {
    const srv = await serve(async (p) => {
      p.write("554 5.7.1 no mail from you\r\n");
      assert.equal(await p.line(), "QUIT");
    });
    const e = await rejects(connect(opts(srv.port)), "rejected");
    assert.equal(e.reply?.code, 554);
    await srv.check();
  });

  it("falls back to HELO after a 5xx to EHLO, with no extensions and plain MAIL FROM", async () => {
    const srv = await serve(async (p) => {
      p.write("220 old.test SMTP\r\n");
      assert.equal(await p.line(), "EHLO client.test");
      p.reply(502, "5.5.2 what?");
      assert.equal(await p.line(), "HELO client.test");
      p.reply(250, "old.test");
      assert.equal(await p.line(), "MAIL FROM:<sender@client.test>", "no SIZE/BODY after HELO");
      p.reply(250, "ok");
      assert.equal(await p.line(), "RCPT TO:<a@old.test>");
      p.reply(250, "ok");
      assert.equal(await p.line(), "DATA");
      p.reply(354, "go");
      assert.equal((await p.data()).toString(), "Subject: test\r\n\r\nHello.\r\n");
      assert.equal(await p.line(), "QUIT");
      p.reply(221, "bye");
    });
    const c = await connect(opts(srv.port));
    assert.equal(c.extensions.size, 0);
    const r = await c.send(envelope(["a@old.test"], { eightBit: true, size: 10 ** 9 }), source().open);
    assert.equal(r.data?.code, 250);
    await c.quit();
    await srv.check();
  });

  it("a 4xx to EHLO is a rejection (no HELO)", async () => {
    const srv = await serve(async (p) => {
      p.write("220 x\r\n");
      await p.line();
      p.reply(450, "4.7.1 slow down");
      await p.waitClosed();
      assert.deepEqual(p.lines, ["EHLO client.test"]);
    });
    const e = await rejects(connect(opts(srv.port)), "rejected");
    assert.equal(e.reply?.code, 450);
    await srv.check();
  });

  it("HELO refused too is a rejection", async () => {
    const srv = await serve(async (p) => {
      p.write("220 x\r\n");
      await p.line();
      p.reply(500, "no");
      await p.line();
      p.reply(550, "5.7.1 go away");
      await p.waitClosed();
    });
    const e = await rejects(connect(opts(srv.port)), "rejected", /HELO/);
    assert.equal(e.reply?.code, 550);
    await srv.check();
  });

  it("a closed port is a connect error", async () => {
    const port = await freePort();
    await rejects(connect(opts(port)), "connect", /ECONNREFUSED/);
  });

  it("refuses a localHostname that would break the command line", async () => {
    await assert.rejects(connect(opts(1, { localHostname: "a\r\nRSET" })), RangeError);
  });
});

describe("SMTP client: pipelining", { timeout: 30_000 }, () => {
  it("without PIPELINING waits for each reply before the next command (lockstep)", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["SIZE 1000000", "8BITMIME"]);
      const expect: Array<[RegExp, number, string]> = [
        [/^MAIL FROM:<sender@client\.test> SIZE=100$/, 250, "2.1.0 ok"],
        [/^RCPT TO:<a@x\.test>$/, 250, "2.1.5 ok"],
        [/^RCPT TO:<b@x\.test>$/, 550, "5.1.1 no such user"],
        [/^RCPT TO:<c@x\.test>$/, 251, "2.1.5 will forward"],
        [/^DATA$/, 354, "go ahead"],
      ];
      for (const [re, code, text] of expect) {
        assert.match(await p.line(), re);
        assert.ok(await p.quiet(), `client sent more before the reply to ${p.lines.at(-1)}: ${p.pending}`);
        p.reply(code, text);
      }
      await p.data();
      assert.equal(await p.line(), "QUIT");
      p.reply(221, "bye");
    });
    const c = await connect(opts(srv.port));
    const r = await c.send(envelope(["a@x.test", "b@x.test", "c@x.test"]), source().open);
    assert.deepEqual(
      r.recipients.map((x) => [x.address, x.accepted, x.reply.code, x.reply.enhanced]),
      [
        ["a@x.test", true, 250, "2.1.5"],
        ["b@x.test", false, 550, "5.1.1"],
        ["c@x.test", true, 251, "2.1.5"],
      ],
    );
    assert.equal(r.mail.code, 250);
    assert.equal(r.data?.code, 250);
    await c.quit();
    await srv.check();
  });

  it("with PIPELINING sends MAIL, all RCPTs and DATA in one write and matches replies in order", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING", "SIZE 1000000"]);
      const before = p.arrivals.length;
      // Read the whole group without answering anything: a lockstep client would stall here.
      const group = [await p.line(), await p.line(), await p.line(), await p.line()];
      assert.deepEqual(group, [
        "MAIL FROM:<sender@client.test> SIZE=100",
        "RCPT TO:<a@x.test>",
        "RCPT TO:<b@x.test>",
        "DATA",
      ]);
      assert.equal(p.arrivals.length - before, 1, "the group came in one write");
      p.write("250 2.1.0 ok\r\n550-5.1.1 first line\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n354 go\r\n");
      await p.data(250, "2.0.0 queued as X");
      assert.equal(await p.line(), "QUIT");
      p.reply(221, "bye");
    });
    const c = await connect(opts(srv.port));
    const r = await c.send(envelope(["a@x.test", "b@x.test"]), source().open);
    assert.deepEqual(
      r.recipients.map((x) => [x.accepted, x.reply.code, x.reply.lines]),
      [
        [false, 550, ["first line", "no such user"]],
        [true, 250, ["ok"]],
      ],
    );
    assert.equal(r.data?.text, "250 2.0.0 queued as X");
    await c.quit();
    await srv.check();
  });

  it("sends no data when every RCPT is refused; the pipelined DATA's 554 ends it, RSET comes with the next MAIL", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      for (let i = 0; i < 4; i++) await p.line();
      p.write("250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n554 5.5.1 no valid recipients\r\n");
      // No message data: the next thing is the next transaction, starting with RSET in the same
      // group (RFC 2920 §3.1).
      assert.deepEqual(
        [await p.line(), await p.line(), await p.line(), await p.line()],
        ["RSET", "MAIL FROM:<sender@client.test>", "RCPT TO:<c@x.test>", "DATA"],
      );
      p.write("250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n");
      await p.data();
      assert.equal(await p.line(), "QUIT");
      p.reply(221, "bye");
    });
    const c = await connect(opts(srv.port));
    const s = source();
    const r = await c.send(envelope(["a@x.test", "b@x.test"]), s.open);
    assert.equal(r.data, null);
    assert.equal(s.opened(), false, "the source was never read");
    assert.ok(r.recipients.every((x) => !x.accepted && x.reply.code === 550));
    assert.equal(c.usable, true);
    const r2 = await c.send(envelope(["c@x.test"]), source().open);
    assert.equal(r2.data?.code, 250);
    await c.quit();
    await srv.check();
  });

  it("ends a pipelined DATA that got 354 without any recipient with a lone dot (RFC 2920 §3.1)", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      for (let i = 0; i < 3; i++) await p.line();
      p.write("250 ok\r\n550 no\r\n354 sure, why not\r\n");
      assert.equal(await p.line(), ".", "only the terminator");
      p.reply(554, "5.5.1 nothing to deliver");
      assert.equal(await p.line(), "QUIT");
      p.reply(221, "bye");
    });
    const c = await connect(opts(srv.port));
    const s = source();
    const r = await c.send(envelope(["a@x.test"]), s.open);
    assert.equal(r.data, null);
    assert.equal(s.opened(), false);
    assert.equal(c.usable, true);
    await c.quit();
    await srv.check();
  });

  it("a refused MAIL fails every recipient with the MAIL reply and keeps the pipelined replies in step", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      for (let i = 0; i < 4; i++) await p.line();
      p.write(
        "553 5.7.1 sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n",
      );
      // the next transaction: its replies must not be confused with the previous ones
      for (let i = 0; i < 4; i++) await p.line();
      p.write("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
      await p.data();
    });
    const c = await connect(opts(srv.port));
    const r = await c.send(envelope(["a@x.test", "b@x.test"]), source().open);
    assert.equal(r.mail.code, 553);
    assert.deepEqual(
      r.recipients.map((x) => [x.accepted, x.reply.code]),
      [
        [false, 553],
        [false, 553],
      ],
    );
    assert.equal(r.data, null);
    const r2 = await c.send(envelope(["a@x.test", "b@x.test"]), source().open);
    assert.equal(r2.data?.code, 250);
    c.destroy();
    await srv.check();
  });
});

describe("SMTP client: BDAT", { timeout: 30_000 }, () => {
  /** Reads one "BDAT n [LAST]" command and its n octets. */
  async function bdat(p: Peer): Promise<{ size: number; last: boolean; data: string }> {
    const line = await p.line();
    const m = /^BDAT (\d+)( LAST)?$/.exec(line);
    assert.ok(m, `not BDAT: ${line}`);
    return { size: Number(m[1]), last: !!m[2], data: (await p.bytes(Number(m[1]))).toString("latin1") };
  }
  const text = "Subject: chunks\r\n\r\n.dot\nline two\r\nend"; // 40 octets once normalised

  it("without PIPELINING sends one chunk at a time, the last one marked LAST, raw (no stuffing)", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["CHUNKING", "SIZE 1000"]);
      await p.line();
      p.reply(250, "ok");
      await p.line();
      p.reply(250, "ok");
      let content = "";
      const sizes: string[] = [];
      for (;;) {
        const c = await bdat(p);
        assert.ok(await p.quiet(), "waits for the chunk's reply");
        content += c.data;
        sizes.push(`${c.size}${c.last ? " LAST" : ""}`);
        p.reply(250, c.last ? "2.0.0 queued" : "2.0.0 chunk ok");
        if (c.last) break;
      }
      assert.deepEqual(sizes, ["16", "16", "8 LAST"]);
      assert.equal(content, "Subject: chunks\r\n\r\n.dot\r\nline two\r\nend\r\n");
    });
    const c = await connect(opts(srv.port, { bdatChunkSize: 16 }));
    const r = await c.send(envelope(["a@x.test"]), source(text).open);
    assert.equal(r.data?.text, "250 2.0.0 queued");
    c.destroy();
    await srv.check();
  });

  it("an empty message is one BDAT 0 LAST", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["CHUNKING"]);
      await p.line();
      p.reply(250, "ok");
      await p.line();
      p.reply(250, "ok");
      assert.deepEqual(await bdat(p), { size: 0, last: true, data: "" });
      p.reply(250, "ok");
    });
    const c = await connect(opts(srv.port));
    assert.equal((await c.send(envelope(["a@x.test"]), source("").open)).data?.code, 250);
    c.destroy();
    await srv.check();
  });

  it("a 421 to BDAT LAST is the data reply and closes the connection", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["CHUNKING", "PIPELINING"]);
      await p.line();
      await p.line();
      p.write("250 ok\r\n250 ok\r\n");
      for (;;) {
        const c = await bdat(p);
        if (c.last) break;
        p.reply(250, "ok");
      }
      p.reply(421, "4.3.2 going down");
      p.socket.end();
    });
    const c = await connect(opts(srv.port, { bdatChunkSize: 8 }));
    const r = await c.send(envelope(["a@x.test"]), source().open);
    assert.equal(r.data?.code, 421);
    assert.equal(c.usable, false);
    await srv.check();
  });

  it("a refused chunk stops the sending (pipelined chunks in flight are answered), then RSET", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["CHUNKING", "PIPELINING"]);
      assert.deepEqual(
        [await p.line(), await p.line()],
        ["MAIL FROM:<sender@client.test>", "RCPT TO:<a@x.test>"],
      );
      p.write("250 ok\r\n250 ok\r\n");
      const seen: boolean[] = [];
      // Answer chunks until the client moves on (RFC 3030 §2: in-flight chunks are discarded).
      for (;;) {
        const line = await p.line();
        if (line === "RSET") break;
        const m = /^BDAT (\d+)( LAST)?$/.exec(line);
        assert.ok(m, line);
        await p.bytes(Number(m[1]));
        seen.push(!!m[2]);
        p.reply(seen.length === 1 ? 250 : 552, seen.length === 1 ? "ok" : "5.3.4 message too big");
      }
      assert.equal(seen.length, 5, "2 answered + at most 3 more in flight (window 4)");
      assert.ok(!seen.includes(true), "never LAST");
      p.reply(250, "reset");
      await p.line(); // the next MAIL
      p.reply(250, "ok");
      await p.line();
      p.reply(250, "ok");
      for (;;) {
        const c = await bdat(p);
        p.reply(250, "ok");
        if (c.last) break;
      }
    });
    const c = await connect(opts(srv.port, { bdatChunkSize: 10 }));
    const big = "x".repeat(200);
    const r = await c.send(envelope(["a@x.test"]), source(big).open);
    assert.equal(r.recipients[0]?.accepted, true);
    assert.equal(r.data?.code, 552);
    assert.equal(r.data?.enhanced, "5.3.4");
    assert.equal(c.usable, true);
    assert.equal((await c.send(envelope(["a@x.test"]), source().open)).data?.code, 250);
    c.destroy();
    await srv.check();
  });
});

describe("SMTP client: SIZE, SMTPUTF8, 8BITMIME, DSN", { timeout: 30_000 }, () => {
  it("refuses locally when the message is over the remote's SIZE, before any MAIL, and stays usable", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["SIZE 1000"]);
      assert.equal(await p.line(), "MAIL FROM:<sender@client.test> SIZE=1000", "only the second message");
      p.reply(250, "ok");
      await p.line();
      p.reply(250, "ok");
      await p.line();
      p.reply(354, "go");
      await p.data();
    });
    const c = await connect(opts(srv.port));
    await rejects(c.send(envelope(["a@x.test"], { size: 1001 }), source().open), "size", /limit of 1000/);
    assert.equal(c.usable, true);
    const r = await c.send(envelope(["a@x.test"], { size: 1000 }), source().open);
    assert.equal(r.data?.code, 250);
    c.destroy();
    await srv.check();
  });

  it("SIZE 0 means no limit", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["SIZE 0", "PIPELINING"]);
      assert.equal(await p.line(), `MAIL FROM:<sender@client.test> SIZE=${10 ** 10}`);
      for (let i = 0; i < 2; i++) await p.line();
      p.write("250 ok\r\n250 ok\r\n354 go\r\n");
      await p.data();
    });
    const c = await connect(opts(srv.port));
    const r = await c.send(envelope(["a@x.test"], { size: 10 ** 10 }), source().open);
    assert.equal(r.data?.code, 250);
    c.destroy();
    await srv.check();
  });

  it("refuses SMTPUTF8 mail (flagged or with a non-ASCII address) when the remote lacks SMTPUTF8", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING", "8BITMIME"]);
      await p.line(); // QUIT
      p.reply(221, "bye");
      assert.deepEqual(p.lines, ["EHLO client.test", "QUIT"], "no MAIL was sent");
    });
    const c = await connect(opts(srv.port));
    await rejects(c.send(envelope(["a@x.test"], { smtputf8: true }), source().open), "smtputf8");
    await rejects(c.send(envelope(["jörg@x.test"]), source().open), "smtputf8");
    assert.equal(c.usable, true);
    await c.quit();
    await srv.check();
  });

  it("sends SMTPUTF8 and BODY=8BITMIME when offered and needed", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["8BITMIME", "SMTPUTF8"]);
      assert.equal(await p.line(), "MAIL FROM:<jörg@client.test> BODY=8BITMIME SMTPUTF8");
      p.reply(250, "ok");
      assert.equal(await p.line(), "RCPT TO:<zoë@x.test>");
      p.reply(250, "ok");
      await p.line();
      p.reply(354, "go");
      assert.equal((await p.data()).toString("utf8"), "Subject: Grüße\r\n\r\nÄ\r\n");
    });
    const c = await connect(opts(srv.port));
    const r = await c.send(
      { ...envelope(["zoë@x.test"], { eightBit: true }), from: "jörg@client.test" },
      source("Subject: Grüße\r\n\r\nÄ").open,
    );
    assert.equal(r.data?.code, 250);
    c.destroy();
    await srv.check();
  });

  it("sends 8-bit content without BODY=8BITMIME when the remote lacks 8BITMIME (as Postfix does)", async () => {
    const srv = await serve(async (p) => {
      await p.greet([]);
      assert.equal(await p.line(), "MAIL FROM:<sender@client.test>");
      p.reply(250, "ok");
      await p.line();
      p.reply(250, "ok");
      await p.line();
      p.reply(354, "go");
      assert.equal((await p.data()).toString("latin1"), "caf\xe9\r\n");
    });
    const c = await connect(opts(srv.port));
    const r = await c.send(envelope(["a@x.test"], { eightBit: true }), () =>
      Readable.from([Buffer.from("caf\xe9", "latin1")]),
    );
    assert.equal(r.data?.code, 250);
    c.destroy();
    await srv.check();
  });

  const dsnEnvelope = (): OutboundEnvelope => ({
    ...envelope([]),
    recipients: [
      { address: "a@x.test", notify: ["success", "FAILURE"], orcpt: "rfc822;a+2Bb@x.test" },
      { address: "b@x.test", notify: ["NEVER"] },
    ],
    ret: "HDRS",
    envid: "Q123+=x y\u00e9",
  });

  it("sends RET, ENVID (xtext), NOTIFY and ORCPT when DSN is advertised", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING", "DSN"]);
      assert.deepEqual(
        [await p.line(), await p.line(), await p.line()],
        [
          "MAIL FROM:<sender@client.test> RET=HDRS ENVID=Q123+2B+3Dx+20y+C3+A9",
          "RCPT TO:<a@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@x.test",
          "RCPT TO:<b@x.test> NOTIFY=NEVER",
        ],
      );
      await p.line();
      p.write("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
      await p.data();
    });
    const c = await connect(opts(srv.port));
    assert.equal((await c.send(dsnEnvelope(), source().open)).data?.code, 250);
    c.destroy();
    await srv.check();
  });

  it("leaves the DSN parameters out when DSN is not advertised", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      assert.deepEqual(
        [await p.line(), await p.line(), await p.line()],
        ["MAIL FROM:<sender@client.test>", "RCPT TO:<a@x.test>", "RCPT TO:<b@x.test>"],
      );
      await p.line();
      p.write("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
      await p.data();
    });
    const c = await connect(opts(srv.port));
    assert.equal((await c.send(dsnEnvelope(), source().open)).data?.code, 250);
    c.destroy();
    await srv.check();
  });

  it("xtext-encodes per RFC 3461 §4", () => {
    assert.equal(xtext("abc"), "abc");
    assert.equal(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
    assert.equal(xtext("\u00fc"), "+C3+BC");
    assert.equal(xtext("~!"), "~!");
  });

  it("refuses envelopes that would inject commands", async () => {
    const srv = await serve(async (p) => {
      await p.greet([]);
      await p.waitClosed();
      assert.deepEqual(p.lines, ["EHLO client.test"]);
    });
    const c = await connect(opts(srv.port));
    await assert.rejects(c.send(envelope(["a@x.test>\r\nRCPT TO:<evil@x.test"]), source().open), RangeError);
    await assert.rejects(c.send({ ...envelope(["a@x"]), from: "x\r\nDATA" }, source().open), RangeError);
    await assert.rejects(c.send(envelope([]), source().open), RangeError);
    assert.equal(c.usable, true);
    c.destroy();
    await srv.check();
  });
});

describe("SMTP client: 421 and reuse", { timeout: 30_000 }, () => {
  it("a 421 in the middle of pipelined RCPTs ends the transaction and closes the connection", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      for (let i = 0; i < 5; i++) await p.line();
      p.write("250 ok\r\n250 2.1.5 ok\r\n421 4.3.2 shutting down\r\n");
      p.socket.end();
    });
    const c = await connect(opts(srv.port));
    const s = source();
    const r = await c.send(envelope(["a@x.test", "b@x.test", "c@x.test"]), s.open);
    assert.deepEqual(
      r.recipients.map((x) => [x.accepted, x.reply.code]),
      [
        [true, 250],
        [false, 421],
        [false, 421],
      ],
    );
    assert.equal(r.data?.code, 421, "the accepted recipient did not get the message");
    assert.equal(s.opened(), false);
    assert.equal(c.usable, false);
    await rejects(c.send(envelope(["a@x.test"]), s.open), "protocol", /closed/);
    await c.quit(); // never throws
    await srv.check();
  });

  it("a 421 to MAIL (lockstep) fails every recipient with it", async () => {
    const srv = await serve(async (p) => {
      await p.greet([]);
      await p.line();
      p.reply(421, "4.4.5 too busy");
      await p.waitClosed();
      assert.equal(p.lines.length, 2, "nothing after EHLO, MAIL");
    });
    const c = await connect(opts(srv.port));
    const r = await c.send(envelope(["a@x.test", "b@x.test"]), source().open);
    assert.equal(r.mail.code, 421);
    assert.ok(r.recipients.every((x) => x.reply.code === 421 && !x.accepted));
    assert.equal(r.data, null);
    assert.equal(c.usable, false);
    await srv.check();
  });

  it("a 421 instead of the final reply is the data reply", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      for (let i = 0; i < 3; i++) await p.line();
      p.write("250 ok\r\n250 ok\r\n354 go\r\n");
      await p.data(421, "4.3.0 out of disk");
      p.socket.end();
    });
    const c = await connect(opts(srv.port));
    const r = await c.send(envelope(["a@x.test"]), source().open);
    assert.equal(r.recipients[0]?.accepted, true);
    assert.equal(r.data?.code, 421);
    assert.equal(c.usable, false);
    await srv.check();
  });

  it("a server that closes while idle makes the connection unusable", async () => {
    const srv = await serve(async (p) => {
      await p.greet([]);
      p.reply(421, "4.4.2 idle timeout");
      p.socket.end();
    });
    const c = await connect(opts(srv.port));
    for (let i = 0; i < 50 && c.usable; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.usable, false);
    await srv.check();
  });
});

describe("SMTP client: timeouts", { timeout: 30_000 }, () => {
  it("no greeting → timeout", async () => {
    const srv = await serve(async (p) => {
      await p.waitClosed();
    });
    const started = Date.now();
    await rejects(connect(opts(srv.port, { timeouts: { greeting: 200 } })), "timeout", /greeting/);
    assert.ok(Date.now() - started < 2000);
    await srv.check();
  });

  it("no reply to MAIL → timeout, connection destroyed", async () => {
    const srv = await serve(async (p) => {
      await p.greet([]);
      await p.line();
      await p.waitClosed();
    });
    const c = await connect(opts(srv.port, { timeouts: { command: 200 } }));
    await rejects(c.send(envelope(["a@x.test"]), source().open), "timeout", /MAIL FROM/);
    assert.equal(c.usable, false);
    await srv.check(); // the script saw the close
  });

  it("no reply to the final dot → timeout (dataDone)", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      for (let i = 0; i < 3; i++) await p.line();
      p.write("250 ok\r\n250 ok\r\n354 go\r\n");
      await p.until("\r\n.\r\n");
      await p.waitClosed();
    });
    const c = await connect(opts(srv.port, { timeouts: { dataDone: 200 } }));
    await rejects(c.send(envelope(["a@x.test"]), source().open), "timeout", /end of data/);
    await srv.check();
  });

  it("respects back-pressure: a server that stops reading stalls the source, then the block timeout fires", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      for (let i = 0; i < 3; i++) await p.line();
      p.socket.pause(); // stop reading: the kernel buffers fill up
      p.write("250 ok\r\n250 ok\r\n354 go\r\n");
      // (a paused socket does not see the close; the script ends here)
    });
    const c = await connect(opts(srv.port, { timeouts: { dataBlock: 600 } }));
    let pulled = 0;
    const total = 256 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, "a");
    const big = new Readable({
      read() {
        pulled += chunk.length;
        this.push(pulled <= total ? chunk : null);
      },
    });
    await rejects(
      c.send(envelope(["a@x.test"]), () => big),
      "timeout",
      /stalled/,
    );
    // Without back-pressure the client would have read all 256 MiB into memory.
    assert.ok(pulled < 64 * 1024 * 1024, `pulled ${pulled} octets`);
    assert.equal(c.usable, false);
    await srv.check();
  });

  it("a source that fails mid-message never gets a final dot: the connection is dropped", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      for (let i = 0; i < 3; i++) await p.line();
      p.write("250 ok\r\n250 ok\r\n354 go\r\n");
      await p.waitClosed();
      assert.ok(!p.pending.includes("\r\n.\r\n"), `no terminator in ${JSON.stringify(p.pending)}`);
    });
    const c = await connect(opts(srv.port));
    const failing = () =>
      new Readable({
        read() {
          this.push(Buffer.from("Subject: x\r\n\r\npart"));
          this.destroy(new Error("blob read failed"));
        },
      });
    await assert.rejects(c.send(envelope(["a@x.test"]), failing), /blob read failed/);
    assert.equal(c.usable, false);
    await srv.check();
  });
});

describe("SMTP client: STARTTLS", { timeout: 30_000 }, () => {
  it("opportunistic: a failed handshake is retried once in plaintext, without STARTTLS", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["STARTTLS", "PIPELINING"]);
      if (p.index === 0) {
        assert.equal(await p.line(), "STARTTLS");
        p.reply(220, "2.0.0 ready");
        await p.bytes(5); // the ClientHello starts: answer it with garbage
        p.write("this is not TLS\r\n");
        await p.waitClosed();
        return;
      }
      assert.equal(await p.line(), "MAIL FROM:<sender@client.test>", "second connection: no STARTTLS");
      for (let i = 0; i < 2; i++) await p.line();
      p.write("250 ok\r\n250 ok\r\n354 go\r\n");
      await p.data();
    });
    const c = await connect(opts(srv.port, { tls: "opportunistic" }));
    assert.equal(c.tls, null);
    assert.match(c.tlsFallback ?? "", /handshake/);
    assert.equal((await c.send(envelope(["a@x.test"]), source().open)).data?.code, 250);
    c.destroy();
    await srv.check();
    assert.equal(srv.peers.length, 2);
  });

  it("required: a failed handshake is a tls error, with no second try", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["STARTTLS"]);
      await p.line();
      p.reply(220, "ready");
      await p.bytes(5);
      p.close();
    });
    await rejects(connect(opts(srv.port, { tls: "required" })), "tls", /handshake/);
    await srv.check();
    assert.equal(srv.peers.length, 1);
  });

  it("required: STARTTLS not offered is a tls error", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["PIPELINING"]);
      await p.waitClosed();
      assert.deepEqual(p.lines, ["EHLO client.test"], "no MAIL in plaintext");
    });
    await rejects(connect(opts(srv.port, { tls: "required" })), "tls", /does not offer STARTTLS/);
    await srv.check();
  });

  it("STARTTLS refused: opportunistic goes on in plaintext, required fails", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["STARTTLS"]);
      assert.equal(await p.line(), "STARTTLS");
      p.reply(454, "4.7.0 TLS not available");
      if (p.index === 0) {
        assert.equal(await p.line(), "QUIT");
        p.reply(221, "bye");
      } else await p.waitClosed();
    });
    const c = await connect(opts(srv.port, { tls: "opportunistic" }));
    assert.equal(c.tls, null);
    assert.match(c.tlsFallback ?? "", /454/);
    await c.quit();
    const e = await rejects(connect(opts(srv.port, { tls: "required" })), "tls", /refused/);
    assert.equal(e.reply?.code, 454);
    await srv.check();
  });

  it("ignores replies injected before the handshake and asks EHLO again over TLS (RFC 3207 §4.2)", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["STARTTLS", "SIZE 1"]);
      assert.equal(await p.line(), "STARTTLS");
      // A man in the middle appends a fake EHLO reply to the 220.
      p.write("220 ready\r\n250-evil\r\n250 SIZE 2\r\n");
      await p.startTls();
      assert.equal(await p.line(), "EHLO client.test");
      p.reply(250, "scripted.test", "SIZE 777", "PIPELINING");
      assert.equal(await p.line(), "QUIT");
      p.reply(221, "bye");
    });
    const c = await connect(opts(srv.port, { tls: "opportunistic" }));
    assert.ok(c.tls);
    assert.equal(c.tls.authorized, false, "self-signed");
    assert.equal(c.extensions.get("SIZE"), "777");
    assert.equal(c.extensions.has("STARTTLS"), false);
    await c.quit();
    await srv.check();
  });
});

describe("SMTP client: AUTH", { timeout: 30_000 }, () => {
  it("AUTH LOGIN when PLAIN is not offered", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["AUTH LOGIN"]);
      assert.equal(await p.line(), "AUTH LOGIN");
      p.reply(334, "VXNlcm5hbWU6");
      assert.equal(Buffer.from(await p.line(), "base64").toString(), "user@x.test");
      p.reply(334, "UGFzc3dvcmQ6");
      assert.equal(Buffer.from(await p.line(), "base64").toString(), "sécret");
      p.reply(235, "2.7.0 ok");
      assert.equal(await p.line(), "QUIT");
      p.reply(221, "bye");
    });
    const c = await connect(opts(srv.port, { auth: { user: "user@x.test", pass: "sécret" } }));
    await c.quit();
    await srv.check();
  });

  it("a refused AUTH PLAIN is an auth error with the reply", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["AUTH PLAIN LOGIN"]);
      const line = await p.line();
      assert.match(line, /^AUTH PLAIN /);
      assert.equal(Buffer.from(line.slice(11), "base64").toString(), "\0u\0p");
      p.reply(535, "5.7.8 bad credentials");
      await p.waitClosed();
    });
    const e = await rejects(connect(opts(srv.port, { auth: { user: "u", pass: "p" } })), "auth", /535/);
    assert.equal(e.reply?.enhanced, "5.7.8");
    await srv.check();
  });

  it("no usable mechanism is an auth error", async () => {
    const srv = await serve(async (p) => {
      await p.greet(["AUTH CRAM-MD5"]);
      await p.waitClosed();
    });
    await rejects(connect(opts(srv.port, { auth: { user: "u", pass: "p" } })), "auth", /CRAM-MD5/);
    await srv.check();
  });

  it("knows loopback hosts (credentials in plaintext only to them)", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost", "[::1]", "::ffff:127.0.0.1"])
      assert.ok(isLoopback(h), h);
    for (const h of ["10.0.0.1", "mx.example.org", "::2", "128.0.0.1"]) assert.ok(!isLoopback(h), h);
  });
});
