// Scripted IMAP conversations for the session itself: greeting, capabilities, login rules, STARTTLS,
// AUTHENTICATE, ENABLE, SELECT/EXAMINE, IDLE push, CLOSE/UNSELECT, errors (issue #4).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ImapRaw } from "../helpers/imap-client.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { RawSmtp } from "../helpers/smtp-client.js";

async function deliver(t: TestServer, to: string, subject: string): Promise<void> {
  const c = await RawSmtp.connect(t.port("smtp"));
  await c.read();
  await c.cmd("EHLO test");
  await c.cmd("MAIL FROM:<sender@remote.test>");
  assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250);
  await c.cmd("DATA");
  c.write(`From: sender@remote.test\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\nHello.\r\n.\r\n`);
  assert.equal((await c.read()).code, 250);
  c.close();
}

describe("IMAP session", () => {
  let t: TestServer;
  /** the same, behind a PROXY-protocol balancer: clients can appear to come from outside */
  let tp: TestServer;
  before(async () => {
    t = await startTestServer({ listen: { imap: ["127.0.0.1:0"], imaps: ["127.0.0.1:0"] } });
    tp = await startTestServer({
      listen: { imap: ["127.0.0.1:0"] },
      proxy: { listeners: ["imap"] },
      auth: { max_failures: 3, failure_delay: 0 },
    });
  });
  after(async () => {
    await t.stop();
    await tp.stop();
  });

  it("greets with capabilities and logs in with LOGIN", async () => {
    const c = await ImapRaw.connect(t.port("imap"));
    assert.match(c.greeting, /^\* OK \[CAPABILITY IMAP4rev1 IMAP4rev2 .*STARTTLS.*AUTH=PLAIN.*\] /);
    const caps = await c.cmd("CAPABILITY");
    assert.equal(caps.status, "OK");
    assert.ok(!caps.untagged[0]!.includes("LOGINDISABLED"), "loopback may log in in plaintext");
    const bad = await c.cmd('LOGIN "alice@example.test" "wrong"');
    assert.equal(bad.status, "NO");
    assert.match(bad.text, /\[AUTHENTICATIONFAILED\]/);
    const ok = await c.login("alice@example.test", "alice-secret");
    assert.match(ok.text, /\[CAPABILITY .*IDLE.*\]/);
    const again = await c.cmd('LOGIN "alice@example.test" "alice-secret"');
    assert.equal(again.status, "BAD", "LOGIN is not valid after login");
    const bye = await c.cmd("LOGOUT");
    assert.equal(bye.status, "OK");
    assert.ok(bye.untagged.some((u) => u.startsWith("BYE")));
    await c.waitClosed();
  });

  it("answers commands in the wrong state and unknown commands with BAD", async () => {
    const c = await ImapRaw.connect(t.port("imap"));
    assert.equal((await c.cmd("SELECT INBOX")).status, "BAD");
    assert.equal((await c.cmd("FROBNICATE")).status, "BAD");
    await c.login("alice@example.test", "alice-secret");
    assert.equal((await c.cmd("FETCH 1 FLAGS")).status, "BAD");
    c.close();
  });

  it("refuses plaintext login from outside before STARTTLS, and allows it after", async () => {
    const { connect } = await import("node:net");
    const sock = connect(tp.port("imap"), "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write("PROXY TCP4 192.0.2.20 127.0.0.1 40000 143\r\n");
    let data = "";
    sock.on("data", (d: Buffer) => {
      data += d.toString();
    });
    const waitFor = async (re: RegExp) => {
      const until = Date.now() + 3000;
      while (!re.test(data)) {
        if (Date.now() > until) throw new Error(`timeout waiting for ${re}: ${data}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitFor(/^\* OK .*LOGINDISABLED/);
    assert.doesNotMatch(data, /AUTH=PLAIN/);
    sock.write('a1 LOGIN "alice@example.test" "alice-secret"\r\n');
    await waitFor(/a1 NO \[PRIVACYREQUIRED\]/);
    sock.write("a2 STARTTLS\r\na3 CAPABILITY\r\n"); // a3 is pipelined plaintext: must be dropped
    await waitFor(/a2 OK/);
    assert.doesNotMatch(data, /a3/);
    sock.removeAllListeners("data");
    const { connect: tlsConnect } = await import("node:tls");
    const secure = tlsConnect({ socket: sock, rejectUnauthorized: false });
    await new Promise<void>((r) => secure.once("secureConnect", () => r()));
    let tdata = "";
    secure.on("data", (d: Buffer) => {
      tdata += d.toString();
    });
    secure.write('b1 LOGIN "alice@example.test" "alice-secret"\r\n');
    const until = Date.now() + 3000;
    while (!/b1 OK/.test(tdata) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.match(tdata, /b1 OK/);
    assert.doesNotMatch(tdata, /a3/);
    secure.destroy();
  });

  it("authenticates with AUTHENTICATE PLAIN, with and without SASL-IR, and cancels", async () => {
    const c = await ImapRaw.connect(t.port("imaps"), { tls: true });
    const ir = Buffer.from("\0bob@example.test\0bob-secret").toString("base64");
    const tag = c.nextTag();
    c.write(`${tag} AUTHENTICATE PLAIN\r\n`);
    const cont = (await c.readResponse()).toString();
    assert.equal(cont, "+ ");
    c.write("*\r\n");
    assert.equal((await c.until(tag)).status, "BAD");
    const r = await c.cmd(`AUTHENTICATE PLAIN ${ir}`);
    assert.equal(r.status, "OK");
    c.close();
  });

  it("bans after repeated failures, even for the right password", async () => {
    const { connect } = await import("node:net");
    const sock = connect(tp.port("imap"), "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    let data = "";
    sock.on("data", (d: Buffer) => {
      data += d.toString();
    });
    // Through PROXY as another address, so the ban does not hit the other tests' 127.0.0.1.
    sock.write("PROXY TCP4 192.0.2.66 127.0.0.1 40000 143\r\n");
    const { connect: tlsConnect } = await import("node:tls");
    const until = async (re: RegExp) => {
      const end = Date.now() + 3000;
      while (!re.test(data)) {
        if (Date.now() > end) throw new Error(`timeout ${re}: ${data}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(/^\* OK/);
    sock.write("s STARTTLS\r\n");
    await until(/s OK/);
    sock.removeAllListeners("data");
    const secure = tlsConnect({ socket: sock, rejectUnauthorized: false });
    await new Promise<void>((r) => secure.once("secureConnect", () => r()));
    data = "";
    secure.on("data", (d: Buffer) => {
      data += d.toString();
    });
    for (let i = 0; i < 3; i++) {
      secure.write(`f${i} LOGIN "bob@example.test" "guess${i}"\r\n`);
      await until(new RegExp(`f${i} NO`));
    }
    secure.write('ok LOGIN "bob@example.test" "bob-secret"\r\n');
    await until(/ok NO \[UNAVAILABLE\]/);
    secure.destroy();
  });

  it("selects and examines INBOX with the RFC 9051 responses", async () => {
    await deliver(t, "alice@example.test", "one");
    const c = await ImapRaw.connect(t.port("imap"));
    await c.login("alice@example.test", "alice-secret");
    const sel = await c.cmd("SELECT inbox");
    assert.equal(sel.status, "OK");
    assert.match(sel.text, /\[READ-WRITE\]/);
    const u = sel.untagged.join("\n");
    assert.match(u, /^\d+ EXISTS$/m);
    assert.match(u, /^FLAGS \(/m);
    assert.match(u, /^OK \[PERMANENTFLAGS \(.*\\\*\)\]/m);
    assert.match(u, /^OK \[UIDVALIDITY \d+\]/m);
    assert.match(u, /^OK \[UIDNEXT \d+\]/m);
    const ex = await c.cmd("EXAMINE INBOX (CONDSTORE)");
    assert.match(ex.text, /\[READ-ONLY\]/);
    assert.match(ex.untagged.join("\n"), /OK \[HIGHESTMODSEQ \d+\]/);
    const missing = await c.cmd("SELECT Nowhere");
    assert.equal(missing.status, "NO");
    assert.equal((await c.cmd("FETCH 1 FLAGS")).status, "BAD", "a failed SELECT leaves no mailbox selected");
    c.close();
  });

  it("pushes EXISTS to an IDLE client as soon as a delivery commits", async () => {
    const c = await ImapRaw.connect(t.port("imap"));
    await c.login("alice@example.test", "alice-secret");
    const sel = await c.cmd("SELECT INBOX");
    const exists = Number(/^(\d+) EXISTS$/m.exec(sel.untagged.join("\n"))![1]);
    const tag = c.nextTag();
    c.write(`${tag} IDLE\r\n`);
    assert.match((await c.readResponse()).toString(), /^\+ /);
    const sent = Date.now();
    await deliver(t, "alice@example.test", "idle test");
    const delivered = Date.now();
    const line = (await c.readResponse(3000)).toString();
    const got = Date.now();
    assert.equal(line, `* ${exists + 1} EXISTS`);
    // The target is 100 ms (measured by the benchmarks); on a loaded 2-core CI machine the test only
    // proves the push arrives promptly without the client polling.
    assert.ok(
      got - delivered < 1000,
      `EXISTS arrived ${got - delivered} ms after the 250 (sent at +${delivered - sent} ms)`,
    );
    c.write("DONE\r\n");
    const done = await c.until(tag);
    assert.equal(done.status, "OK");
    c.close();
  });

  it("tells a second session about flag changes and expunges at the allowed moments", async () => {
    await deliver(t, "bob@example.test", "shared 1");
    await deliver(t, "bob@example.test", "shared 2");
    const a = await ImapRaw.connect(t.port("imap"));
    const b = await ImapRaw.connect(t.port("imap"));
    await a.login("bob@example.test", "bob-secret");
    await b.login("bob@example.test", "bob-secret");
    await a.cmd("SELECT INBOX");
    await b.cmd("SELECT INBOX");
    const st = await a.cmd("STORE 1 +FLAGS (\\Deleted)");
    assert.equal(st.status, "OK");
    const noop = await b.cmd("NOOP");
    assert.ok(
      noop.untagged.some((u) => /^1 FETCH \(.*FLAGS \(.*\\Deleted/.test(u)),
      noop.untagged.join("|"),
    );
    assert.equal((await a.cmd("EXPUNGE")).status, "OK");
    // A FETCH by sequence number must not be interrupted by EXPUNGE (RFC 9051 §7.5.1)…
    const f = await b.cmd("FETCH 1:* (FLAGS)");
    assert.ok(!f.untagged.some((u) => /EXPUNGE/.test(u)), f.untagged.join("|"));
    // …but NOOP delivers it.
    const n2 = await b.cmd("NOOP");
    assert.ok(n2.untagged.includes("1 EXPUNGE"), n2.untagged.join("|"));
    a.close();
    b.close();
  });

  it("CLOSE expunges silently; UNSELECT does not", async () => {
    await deliver(t, "bob@example.test", "to close");
    const c = await ImapRaw.connect(t.port("imap"));
    await c.login("bob@example.test", "bob-secret");
    const sel = await c.cmd("SELECT INBOX");
    const n = Number(/^(\d+) EXISTS$/m.exec(sel.untagged.join("\n"))![1]);
    await c.cmd(`STORE ${n} +FLAGS.SILENT (\\Deleted)`);
    await c.cmd("UNSELECT");
    const again = await c.cmd("SELECT INBOX");
    assert.ok(again.untagged.includes(`${n} EXISTS`), "UNSELECT kept the message");
    const close = await c.cmd("CLOSE");
    assert.equal(close.status, "OK");
    assert.ok(!close.untagged.some((u) => /EXPUNGE/.test(u)));
    const third = await c.cmd("SELECT INBOX");
    assert.ok(third.untagged.includes(`${n - 1} EXISTS`), third.untagged.join("|"));
    c.close();
  });

  it("ENABLEs IMAP4rev2 and CONDSTORE and ignores unknown names", async () => {
    const c = await ImapRaw.connect(t.port("imap"));
    await c.login("alice@example.test", "alice-secret");
    const r = await c.cmd("ENABLE IMAP4rev2 CONDSTORE X-UNKNOWN");
    assert.equal(r.status, "OK");
    assert.ok(r.untagged.includes("ENABLED IMAP4rev2 CONDSTORE"), r.untagged.join("|"));
    const sel = await c.cmd("SELECT INBOX");
    assert.ok(!sel.untagged.some((u) => /RECENT/.test(u)), "no RECENT in IMAP4rev2");
    c.close();
  });

  it("resynchronises a reconnecting QRESYNC client with exactly the changes since its modseq", async () => {
    await t.server.store.addAccount({
      address: "qr@example.test",
      ...(await (await import("../../src/auth/password.js")).deriveCredentials("qr-secret")),
    });
    for (const subj of ["q1", "q2", "q3"]) await deliver(t, "qr@example.test", subj);
    const a = await ImapRaw.connect(t.port("imap"));
    await a.login("qr@example.test", "qr-secret");
    assert.match((await a.cmd("ENABLE QRESYNC")).untagged.join(" "), /QRESYNC/);
    const sel = (await a.cmd("SELECT INBOX")).untagged.join("\n");
    const uidValidity = Number(/UIDVALIDITY (\d+)/.exec(sel)![1]);
    const modseq = Number(/HIGHESTMODSEQ (\d+)/.exec(sel)![1]);
    const uids = (await a.cmd("UID SEARCH ALL")).untagged.join(" ");
    const [u1, u2, u3] = (/(\d+) (\d+) (\d+)/.exec(uids) ?? []).slice(1).map(Number);
    assert.ok(u1 && u2 && u3, uids);
    a.close();
    // Meanwhile another client flags the first message and expunges the second.
    const b = await ImapRaw.connect(t.port("imap"));
    await b.login("qr@example.test", "qr-secret");
    await b.cmd("SELECT INBOX");
    await b.cmd(`UID STORE ${u1} +FLAGS (\\Flagged)`);
    await b.cmd(`UID STORE ${u2} +FLAGS (\\Deleted)`);
    await b.cmd("EXPUNGE");
    b.close();
    const c = await ImapRaw.connect(t.port("imap"));
    await c.login("qr@example.test", "qr-secret");
    await c.cmd("ENABLE QRESYNC");
    const re = await c.cmd(`SELECT INBOX (QRESYNC (${uidValidity} ${modseq}))`);
    assert.equal(re.status, "OK");
    assert.ok(re.untagged.includes(`VANISHED (EARLIER) ${u2}`), re.untagged.join("|"));
    const fetches = re.untagged.filter((l) => / FETCH /.test(l));
    // Only u1 changed and still exists (u2 went with its \\Deleted; u3 is untouched).
    assert.equal(fetches.length, 1, fetches.join("|"));
    assert.match(fetches.find((l) => l.includes(`UID ${u1} `))!, /\\Flagged/);
    // Expunges now come as VANISHED, not EXPUNGE.
    await c.cmd(`UID STORE ${u3} +FLAGS (\\Deleted)`);
    const ex = await c.cmd("EXPUNGE");
    assert.ok(ex.untagged.includes(`VANISHED ${u3}`), ex.untagged.join("|"));
    c.close();
  });

  it("answers ID and NAMESPACE", async () => {
    const c = await ImapRaw.connect(t.port("imap"));
    const id = await c.cmd('ID ("name" "test")');
    assert.match(id.untagged[0]!, /^ID \("name" "Postamt"/);
    c.close();
  });
});
