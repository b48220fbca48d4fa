// POP3 and IMAP sessions on the same account at once (issue #5): expunges by IMAP keep POP3's message
// numbers stable and show as deleted; POP3's DELE+QUIT reaches the IMAP session as EXPUNGE.
import assert from "node:assert/strict";
import { type Socket, connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { ImapRaw } from "../helpers/imap-client.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { RawSmtp } from "../helpers/smtp-client.js";

/** Just enough POP3: single-line commands and multi-line bodies, read as text. */
class Pop3Lines {
  private buf = "";
  private constructor(private readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf += d.toString("latin1");
    });
  }
  static async connect(port: number): Promise<Pop3Lines> {
    const sock = connect(port, "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    const c = new Pop3Lines(sock);
    await c.until("\r\n");
    return c;
  }
  private async until(end: string): Promise<string> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const i = this.buf.indexOf(end);
      if (i >= 0) {
        const out = this.buf.slice(0, i + end.length);
        this.buf = this.buf.slice(i + end.length);
        return out;
      }
      if (Date.now() > deadline) throw new Error(`timeout; buffer ${JSON.stringify(this.buf)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  async cmd(line: string): Promise<string> {
    this.sock.write(`${line}\r\n`);
    return (await this.until("\r\n")).trimEnd();
  }
  async multi(line: string): Promise<string> {
    const first = await this.cmd(line);
    if (!first.startsWith("+OK")) return first;
    return `${first}\r\n${await this.until("\r\n.\r\n")}`;
  }
  close(): void {
    this.sock.destroy();
  }
}

async function deliver(t: TestServer, subject: string): Promise<void> {
  const c = await RawSmtp.connect(t.port("smtp"));
  await c.read();
  await c.cmd("EHLO test");
  await c.cmd("MAIL FROM:<x@remote.test>");
  await c.cmd("RCPT TO:<alice@example.test>");
  await c.cmd("DATA");
  c.write(`Subject: ${subject}\r\n\r\nbody of ${subject}\r\n.\r\n`);
  assert.equal((await c.read()).code, 250);
  c.close();
}

describe("POP3 and IMAP on one account at once", () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ listen: { imap: ["127.0.0.1:0"], pop3: ["127.0.0.1:0"] } });
    for (const s of ["m1", "m2", "m3"]) await deliver(t, s);
  });
  after(() => t.stop());

  it("keeps POP3 numbers stable across an IMAP expunge, and shows POP3 deletions to IMAP", async () => {
    const pop = await Pop3Lines.connect(t.port("pop3"));
    assert.match(await pop.cmd("USER alice@example.test"), /^\+OK/);
    assert.match(await pop.cmd("PASS alice-secret"), /^\+OK/);
    assert.match(await pop.cmd("STAT"), /^\+OK 3 /);

    const imap = await ImapRaw.connect(t.port("imap"));
    await imap.login("alice@example.test", "alice-secret");
    await imap.cmd("SELECT INBOX");
    assert.equal((await imap.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")).status, "OK");
    const ex = await imap.cmd("EXPUNGE");
    assert.ok(ex.untagged.includes("1 EXPUNGE"), ex.untagged.join("|"));

    // POP3 still numbers m2 as 2; message 1 reports deleted instead of shifting the numbers.
    assert.match(await pop.cmd("RETR 1"), /^-ERR .*deleted/);
    assert.match(await pop.multi("RETR 2"), /body of m2/);
    assert.match(await pop.cmd("DELE 3"), /^\+OK/);
    assert.match(await pop.cmd("QUIT"), /^\+OK/);
    pop.close();

    // The IMAP session hears about POP3's expunge of m3 (now sequence number 2).
    let seen = "";
    for (let i = 0; i < 20 && !/2 EXPUNGE/.test(seen); i++) {
      seen += (await imap.cmd("NOOP")).untagged.join("|");
      if (!/2 EXPUNGE/.test(seen)) await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(seen, /2 EXPUNGE/);
    const left = await imap.cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert.equal(left.untagged.length, 1);
    assert.match(left.untagged[0]!, /Subject: m2/);
    imap.close();
  });
});
