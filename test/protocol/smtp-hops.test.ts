// RFC 5321 §6.3: a message that has passed through too many hosts is looping; the MX refuses it at the
// end of DATA with 554 5.4.6 (limits.hops Received fields), and accepts one just under the limit.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { mailboxMessages } from "../helpers/mailbox.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { RawSmtp } from "../helpers/smtp-client.js";

function withHops(n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += `Received: from hop${i}.example.org by hop${i + 1}.example.org; Fri, 27 Nov 2026 12:00:00 +0000\r\n`;
  return `${s}From: someone@example.org\r\nTo: alice@example.test\r\nSubject: hops ${n}\r\n\r\nbody\r\n.\r\n`;
}

describe("SMTP hop limit", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ limits: { hops: 10 } });
  });
  after(() => t.stop());

  async function send(n: number) {
    const c = await RawSmtp.connect(t.port("smtp"));
    await c.read();
    await c.cmd("EHLO client.example.org");
    await c.cmd("MAIL FROM:<someone@example.org>");
    await c.cmd("RCPT TO:<alice@example.test>");
    await c.cmd("DATA");
    c.write(withHops(n));
    const r = await c.read();
    c.close();
    return r;
  }

  it("accepts 10 Received fields and refuses 11 with 554 5.4.6", async () => {
    assert.equal((await send(10)).code, 250);
    const refused = await send(11);
    assert.equal(refused.code, 554);
    assert.match(refused.raw, /5\.4\.6/);
    const subjects = (await mailboxMessages(t.server.store, "alice@example.test")).map((m) =>
      /^Subject: (.*)$/m.exec(m.toString())?.[1],
    );
    assert.deepEqual(subjects, ["hops 10"]);
  });
});
