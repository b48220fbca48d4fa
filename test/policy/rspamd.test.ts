// The rspamd client against a real rspamd (a private one, see test/helpers/rspamd.ts): a plain
// message, the GTUBE-like patterns for reject / add header / rewrite subject / no action, soft reject
// and greylist (a test prefilter), rspamd's SMTP message and milter headers (with CRLF in them), a
// message streamed chunked. Then, against local fake servers, what rspamd does not do: never answering,
// refusing the connection, answering too much, answering nonsense; and the request as sent on the wire.
import assert from "node:assert/strict";
import { type IncomingMessage, createServer as createHttpServer } from "node:http";
import { type Server, type Socket, createServer } from "node:net";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { RspamdClient, RspamdError, type RspamdRequest, rspamdVerdict } from "../../src/policy/rspamd.js";
import { freePort } from "../helpers/ports.js";
import { GTUBE, TEST_HEADER, startRspamd } from "../helpers/rspamd.js";

function message(opts: { headers?: string; body?: string; subject?: string } = {}): Buffer {
  return Buffer.from(
    "From: Alice <alice@example.com>\r\n" +
      "To: bob@example.net\r\n" +
      `Subject: ${opts.subject ?? "Lunch on Friday"}\r\n` +
      "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n" +
      "Message-ID: <lunch-1@example.com>\r\n" +
      "MIME-Version: 1.0\r\n" +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      (opts.headers ?? "") +
      "\r\n" +
      "Hi Bob,\r\n\r\n" +
      (opts.body ?? "shall we meet at noon at the usual place? I booked a table for two.\r\n") +
      "\r\nAlice\r\n",
  );
}

function request(msg: Buffer | NodeJS.ReadableStream, over: Partial<RspamdRequest> = {}): RspamdRequest {
  return {
    message: msg,
    ip: "192.0.2.10",
    helo: "mail.example.com",
    mailFrom: "alice@example.com",
    recipients: ["bob@example.net"],
    hostname: "mail.example.com",
    queueId: "TESTQ1",
    ...over,
  };
}

const started = await startRspamd();

describe("rspamd: a real rspamd", { skip: "skip" in started ? started.skip : false }, () => {
  const rspamd = "skip" in started ? null : started;
  let client: RspamdClient;

  before(() => {
    client = new RspamdClient({ url: rspamd!.url, timeoutMs: 10_000 });
  });
  after(async () => {
    await rspamd?.stop();
  });

  it("scores a plain message: no action, inbox, score headers", async () => {
    const r = await client.check(request(message()));
    assert.equal(r.action, "no action", `symbols: ${r.symbols.join(", ")}`);
    assert.ok(Number.isFinite(r.score) && r.score < r.requiredScore);
    assert.equal(r.requiredScore, 15);
    assert.ok(r.symbols.length > 0);
    // rspamd saw the envelope we sent
    assert.ok(r.symbols.includes("RCPT_COUNT_ONE"), r.symbols.join(", "));
    assert.ok(r.symbols.includes("FROM_EQ_ENVFROM"), r.symbols.join(", "));
    const v = rspamdVerdict(r);
    assert.equal(v.action, "accept");
    assert.equal(v.action === "accept" && v.junk, false);
    const headers = v.action === "accept" ? v.headers : "";
    assert.match(
      headers,
      /^X-Spam-Score: -?\d+(\.\d+)? \/ 15\r\nX-Spam-Action: no action\r\nX-Spam-Symbols: [A-Z]/,
    );
    assert.doesNotMatch(headers, /^X-Spam: /m);
  });

  it("GTUBE → reject → 550 5.7.1 with rspamd's message", async () => {
    const r = await client.check(request(message({ body: `${GTUBE.reject}\r\n` })));
    assert.equal(r.action, "reject");
    assert.ok(r.symbols.includes("GTUBE"));
    assert.equal(r.message, "Gtube pattern");
    assert.deepEqual(rspamdVerdict(r), {
      action: "reject",
      code: 550,
      enhanced: "5.7.1",
      text: "Gtube pattern",
    });
  });

  it("the add-header pattern → Junk with X-Spam: Yes", async () => {
    const r = await client.check(request(message({ body: `${GTUBE.addHeader}\r\n` })));
    assert.equal(r.action, "add header");
    const v = rspamdVerdict(r);
    assert.equal(v.action === "accept" && v.junk, true);
    assert.match(
      v.action === "accept" ? v.headers : "",
      /^X-Spam: Yes\r\nX-Spam-Score: [\d.]+ \/ 15\r\nX-Spam-Action: add header\r\n/,
    );
  });

  it("the rewrite-subject pattern → Junk (the subject stays as it is)", async () => {
    const r = await client.check(request(message({ body: `${GTUBE.rewriteSubject}\r\n` })));
    assert.equal(r.action, "rewrite subject");
    const v = rspamdVerdict(r);
    assert.equal(v.action === "accept" && v.junk, true);
    assert.match(v.action === "accept" ? v.headers : "", /X-Spam-Action: rewrite subject\r\n/);
  });

  it("the no-action pattern → inbox", async () => {
    const r = await client.check(request(message({ body: `${GTUBE.noAction}\r\n` })));
    assert.equal(r.action, "no action");
    const v = rspamdVerdict(r);
    assert.equal(v.action === "accept" && v.junk, false);
  });

  it("soft reject → 451 4.7.1 with rspamd's message; greylist → accepted, not junk", async () => {
    const soft = await client.check(request(message({ headers: `${TEST_HEADER}: soft-reject\r\n` })));
    assert.equal(soft.action, "soft reject");
    assert.deepEqual(rspamdVerdict(soft), {
      action: "tempfail",
      code: 451,
      enhanced: "4.7.1",
      text: "Try again later (postamt test)",
    });
    const grey = await client.check(request(message({ headers: `${TEST_HEADER}: greylist\r\n` })));
    assert.equal(grey.action, "greylist");
    const gv = rspamdVerdict(grey);
    assert.equal(gv.action, "accept");
    assert.equal(gv.action === "accept" && gv.junk, false);
    assert.match(gv.action === "accept" ? gv.headers : "", /X-Spam-Action: greylist/);
  });

  it("rspamd's reject message cannot inject reply lines", async () => {
    const r = await client.check(request(message({ headers: `${TEST_HEADER}: reject-message\r\n` })));
    assert.equal(r.action, "reject");
    const v = rspamdVerdict(r);
    assert.equal(v.action, "reject");
    assert.equal(v.action === "reject" && v.text, "Go away 250 2.0.0 Ok X-Injected: yes");
  });

  it("honours milter add_headers, one field per line, each name's values in order", async () => {
    const r = await client.check(request(message({ headers: `${TEST_HEADER}: milter\r\n` })));
    assert.equal(r.action, "no action");
    // rspamd's JSON object has no order across names; within a name, "order" decides
    const ours = r.addHeaders.filter((h) => h.name.startsWith("X-Postamt-"));
    assert.deepEqual(
      [...ours].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      [
        { name: "X-Postamt-Milter", value: "one X-Injected: yes" },
        { name: "X-Postamt-Multi", value: "a" },
        { name: "X-Postamt-Multi", value: "b" },
      ],
    );
    const v = rspamdVerdict(r);
    const headers = v.action === "accept" ? v.headers : "";
    assert.match(headers, /\r\nX-Postamt-Milter: one X-Injected: yes\r\n/);
    assert.match(headers, /\r\nX-Postamt-Multi: a\r\nX-Postamt-Multi: b\r\n/);
    assert.doesNotMatch(headers, /^X-Injected/m);
  });

  it("streams a message of unknown size (chunked) and with a known size", async () => {
    const raw = message({ body: `${GTUBE.reject}\r\n` });
    const parts = [raw.subarray(0, 50), raw.subarray(50, 200), raw.subarray(200)];
    const chunked = await client.check(request(Readable.from(parts)));
    assert.equal(chunked.action, "reject");
    const sized = await client.check({ ...request(Readable.from(parts)), size: raw.length });
    assert.equal(sized.action, "reject");
  });

  it("rspamd reads the envelope we send: every recipient, sender, client, user, queue id", async () => {
    const envelope = async (over: Partial<RspamdRequest>) => {
      const r = await client.check(request(message({ headers: `${TEST_HEADER}: envelope\r\n` }), over));
      return r.addHeaders.find((h) => h.name === "X-Postamt-Envelope")?.value;
    };
    assert.equal(
      await envelope({ recipients: ["bob@example.net", "carol@example.net"], user: "alice@example.com" }),
      "from=<alice@example.com> rcpt=<bob@example.net>,<carol@example.net> ip=192.0.2.10 helo=mail.example.com " +
        "hostname=mail.example.com user=alice@example.com qid=TESTQ1",
    );
    assert.equal(
      await envelope({
        mailFrom: "",
        helo: null,
        hostname: "",
        ip: "::ffff:198.51.100.7",
        queueId: undefined,
      }),
      "from=<> rcpt=<bob@example.net> ip=198.51.100.7 helo=- hostname=- user=- qid=-",
    );
  });

  it("refuses a URL path rspamd does not serve", async () => {
    const wrong = new RspamdClient({ url: `${rspamd!.url}/nothing-here`, timeoutMs: 5000 });
    await assert.rejects(
      wrong.check(request(message())),
      (e: unknown) => e instanceof RspamdError && e.kind === "http",
    );
  });
});

describe("rspamd: a scanner that misbehaves", () => {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  async function listen(s: Server): Promise<string> {
    servers.push(s);
    s.on("connection", (c: Socket) => {
      sockets.add(c);
      c.on("close", () => sockets.delete(c));
    });
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
  }

  it("no answer → a timeout error, on time", async () => {
    // accepts and reads, never answers
    const url = await listen(createServer((c) => c.resume()));
    const client = new RspamdClient({ url, timeoutMs: 300 });
    const t0 = Date.now();
    await assert.rejects(
      client.check(request(message())),
      (e: unknown) => e instanceof RspamdError && e.kind === "timeout",
    );
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
  });

  it("a timeout destroys the message stream it was reading", async () => {
    const url = await listen(createServer((c) => c.resume()));
    const client = new RspamdClient({ url, timeoutMs: 200 });
    // a stream that never ends, as a stuck disk read would be
    const stuck = new Readable({ read() {} });
    stuck.push(message());
    await assert.rejects(
      client.check(request(stuck)),
      (e: unknown) => e instanceof RspamdError && e.kind === "timeout",
    );
    assert.equal(stuck.destroyed, true);
  });

  it("a message stream that fails → a read error", async () => {
    const url = await listen(createServer((c) => c.resume()));
    const client = new RspamdClient({ url, timeoutMs: 5000 });
    const broken = new Readable({
      read() {
        this.destroy(new Error("EIO: disk on fire"));
      },
    });
    await assert.rejects(client.check(request(broken)), (e: unknown) => {
      assert.ok(e instanceof RspamdError);
      assert.equal(e.kind, "read");
      assert.match(e.message, /disk on fire/);
      return true;
    });
  });

  it("connection refused → a connect error", async () => {
    const port = await freePort();
    const client = new RspamdClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 5000 });
    await assert.rejects(client.check(request(message())), (e: unknown) => {
      assert.ok(e instanceof RspamdError);
      assert.equal(e.kind, "connect");
      assert.match(e.message, /ECONNREFUSED/);
      return true;
    });
  });

  it("an endless answer → a protocol error, not unbounded memory", async () => {
    const url = await listen(
      createHttpServer((req, res) => {
        req.resume();
        res.writeHead(200, { "Content-Type": "application/json" });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = () => {
          while (res.write(chunk)) {
            if (res.destroyed) return;
          }
          res.once("drain", pump);
        };
        res.on("error", () => undefined);
        pump();
      }),
    );
    const client = new RspamdClient({ url, timeoutMs: 10_000 });
    await assert.rejects(client.check(request(message())), (e: unknown) => {
      assert.ok(e instanceof RspamdError);
      assert.equal(e.kind, "protocol");
      assert.match(e.message, /exceeds/);
      return true;
    });
  });

  it("nonsense answers → protocol or http errors", async () => {
    const answers: Array<[number, string, string]> = [
      [200, "this is not json", "protocol"],
      [200, JSON.stringify({ action: "discard", score: 1, required_score: 15 }), "protocol"],
      [200, JSON.stringify({ error: "Message has no body\r\nX: y" }), "protocol"],
      [500, JSON.stringify({ error: "internal error" }), "http"],
    ];
    let next = 0;
    const url = await listen(
      createHttpServer((req, res) => {
        req.resume();
        const [status, body] = answers[next++]!;
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(body);
      }),
    );
    const client = new RspamdClient({ url, timeoutMs: 5000 });
    for (const [, , kind] of answers) {
      await assert.rejects(client.check(request(message())), (e: unknown) => {
        assert.ok(e instanceof RspamdError);
        assert.equal(e.kind, kind);
        assert.doesNotMatch(e.message, /[\r\n]/);
        return true;
      });
    }
  });

  it("sends protocol v2 on the wire: POST /checkv2, one Rcpt per recipient, the body", async () => {
    let seen: { req: IncomingMessage; body: Buffer } | null = null;
    const url = await listen(
      createHttpServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          seen = { req, body: Buffer.concat(chunks) };
          res.writeHead(200, { "Content-Type": "application/json" });
          res.end(
            JSON.stringify({
              action: "no action",
              score: 0.5,
              required_score: 15,
              symbols: {},
              messages: {},
            }),
          );
        });
      }),
    );
    const raw = message();
    const client = new RspamdClient({ url: `${url}/`, timeoutMs: 5000 });
    const r = await client.check(
      request(raw, {
        recipients: ["bob@example.net", "jörg@example.de"],
        user: "alice",
        ip: "::ffff:192.0.2.10",
      }),
    );
    assert.equal(r.action, "no action");
    const got = seen as { req: IncomingMessage; body: Buffer } | null;
    assert.ok(got);
    assert.equal(got.req.method, "POST");
    assert.equal(got.req.url, "/checkv2");
    const h = got.req.rawHeaders;
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < h.length; i += 2) pairs.push([h[i]!, h[i + 1]!]);
    const all = (name: string) =>
      pairs.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
    assert.deepEqual(all("Rcpt"), [
      "bob@example.net",
      Buffer.from("jörg@example.de", "utf8").toString("latin1"),
    ]);
    assert.deepEqual(all("IP"), ["192.0.2.10"]);
    assert.deepEqual(all("Helo"), ["mail.example.com"]);
    assert.deepEqual(all("From"), ["alice@example.com"]);
    assert.deepEqual(all("User"), ["alice"]);
    assert.deepEqual(all("Queue-Id"), ["TESTQ1"]);
    assert.deepEqual(all("Content-Length"), [String(raw.length)]);
    assert.deepEqual(all("Pass"), []);
    assert.ok(got.body.equals(raw));
  });
});
