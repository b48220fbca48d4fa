// Interop: mbsync (isync) synchronising an account both ways between a local Maildir and a real server
// over imaps, trusting the server's self-signed certificate through CertificateFile. The cases build on
// each other like successive syncs of one mailbox: the first sync pulls everything (byte for byte
// against the store), then a locally written message is uploaded, flags travel both ways, deletions
// travel both ways, and folders created on either side appear on the other. One more case logs in with
// SCRAM-SHA-256 through Cyrus SASL (an independent SCRAM implementation) when its plugin is installed.
//
// What mbsync changes on the way, by design: Maildir files have LF line ends (IMAP has CRLF), and
// mbsync adds an "X-TUID:" header field to messages it copies (its crash-recovery marker). The byte
// comparisons undo exactly these two changes and nothing else.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ImapRaw } from "../helpers/imap-client.js";
import type { TestServer } from "../helpers/server.js";
import { missingTools } from "../helpers/tools.js";
import { ALICE, IMAP_TOOLS, deliver, startImapServer, stored, textMessage } from "./helpers/imap.js";
import { assertSameBytes, buildMessage, describeRun, runTool, tempDir } from "./helpers/interop.js";

const SERVER_BOXES = ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"];

/** Cyrus SASL's SCRAM plugin, which mbsync uses for AuthMechs SCRAM-SHA-256. */
const SCRAM_PLUGIN = [
  "/usr/lib/x86_64-linux-gnu/sasl2",
  "/usr/lib/aarch64-linux-gnu/sasl2",
  "/usr/lib64/sasl2",
  "/usr/lib/sasl2",
].some((d) => existsSync(join(d, "libscram.so")) || existsSync(join(d, "libscram.so.2")));

/** A Maildir file's content as the server holds it: without mbsync's X-TUID field, with CRLF. */
function asServerBytes(local: Buffer): Buffer {
  const text = local.toString("latin1");
  const end = text.indexOf("\n\n");
  const header = text.slice(0, end + 1).replace(/^X-TUID: [^\n]*\n/m, "");
  return Buffer.from((header + text.slice(end + 1)).replace(/\n/g, "\r\n"), "latin1");
}

/** Server bytes (CRLF) without the X-TUID field mbsync adds to the messages it uploads. */
function withoutTuid(crlf: Buffer): Buffer {
  const text = crlf.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  return Buffer.from(
    text.slice(0, end + 2).replace(/^X-TUID: [^\r\n]*\r\n/m, "") + text.slice(end + 2),
    "latin1",
  );
}

/** Maildir info flags ("…:2,FS") of a file name. */
function maildirFlags(name: string): string {
  return /:2,([A-Za-z]*)$/.exec(name)?.[1] ?? "";
}

describe("interop: mbsync (isync)", { skip: missingTools(IMAP_TOOLS.mbsync) }, () => {
  let t: TestServer;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let mail: string;
  /** the configuration keywords of the installed isync version */
  let syntax = { tls: "SSL", far: "Far", near: "Near" };

  /** The local messages of one folder: path, file name and content. */
  async function local(box: string): Promise<Array<{ path: string; name: string; data: Buffer }>> {
    const out: Array<{ path: string; name: string; data: Buffer }> = [];
    for (const sub of ["new", "cur"]) {
      const dir = join(mail, box, sub);
      if (!existsSync(dir)) continue;
      for (const name of (await readdir(dir)).sort()) {
        const path = join(dir, name);
        out.push({ path, name, data: await readFile(path) });
      }
    }
    return out;
  }

  /** The server's UID → FLAGS of a mailbox, through a plain IMAP session. */
  async function serverFlags(box: string): Promise<Map<number, string[]>> {
    const c = await ImapRaw.connect(t.port("imap"));
    try {
      await c.login(ALICE.user, ALICE.pass);
      assert.equal((await c.cmd(`EXAMINE ${box}`)).status, "OK");
      const r = await c.cmd("UID FETCH 1:* (FLAGS)");
      const out = new Map<number, string[]>();
      for (const u of r.untagged) {
        const m = /^\d+ FETCH \((?=.*UID (\d+))(?=.*FLAGS \(([^)]*)\)).*\)$/.exec(u);
        if (m) out.set(Number(m[1]), m[2]!.split(" ").filter(Boolean).sort());
      }
      return out;
    } finally {
      c.close();
    }
  }

  /** Runs IMAP commands on the server as alice (a plain session from loopback). */
  async function onServer(...lines: Array<string | { append: string; flags: string; message: Buffer }>) {
    const c = await ImapRaw.connect(t.port("imap"));
    try {
      await c.login(ALICE.user, ALICE.pass);
      for (const line of lines) {
        const r =
          typeof line === "string"
            ? await c.cmd(line)
            : await c.literalCmd(`APPEND ${line.append} ${line.flags}`, line.message);
        assert.equal(r.status, "OK", `${typeof line === "string" ? line : "APPEND"}: ${r.raw}`);
      }
    } finally {
      c.close();
    }
  }

  async function writeConfig(name: string, opts: { authMechs: string; password?: string }): Promise<string> {
    const rc = [
      "IMAPAccount alice",
      "Host 127.0.0.1",
      `Port ${t.port("imaps")}`,
      `User ${ALICE.user}`,
      `Pass ${opts.password ?? ALICE.pass}`,
      // isync 1.5 renamed SSLType/SSLVersions to TLSType/TLSVersions
      `${syntax.tls}Type IMAPS`,
      `${syntax.tls}Versions TLSv1.2 TLSv1.3`,
      // the server's self-signed certificate, trusted as a host certificate
      `CertificateFile ${join(t.dir, "tls", "selfsigned-cert.pem")}`,
      "SystemCertificates no",
      `AuthMechs ${opts.authMechs}`,
      "Timeout 10",
      "",
      "IMAPStore alice-far",
      "Account alice",
      "",
      "MaildirStore alice-near",
      `Path ${mail}/`,
      `Inbox ${mail}/INBOX`,
      "SubFolders Verbatim",
      "",
      "Channel alice",
      // isync 1.4 renamed Master/Slave to Far/Near
      `${syntax.far} :alice-far:`,
      `${syntax.near} :alice-near:`,
      "Patterns *",
      "Create Both",
      "Expunge Both",
      "Sync All",
      "SyncState *",
      "",
    ].join("\n");
    return home.file(name, rc);
  }

  /** One `mbsync -a` run; `-V` for the log, `-D` (debug, with the protocol) on request. */
  async function sync(opts: { authMechs?: string; password?: string; debug?: boolean } = {}) {
    const rc = await writeConfig(`mbsyncrc-${opts.authMechs ?? "LOGIN"}`, {
      authMechs: opts.authMechs ?? "LOGIN",
      ...(opts.password ? { password: opts.password } : {}),
    });
    return runTool("mbsync", ["-c", rc, opts.debug ? "-D" : "-V", "-a"], {
      timeoutMs: 20_000,
      env: { HOME: home.dir },
    });
  }

  const report = textMessage({
    from: "Carol <carol@remote.test>",
    to: "alice@example.test",
    subject: "Quarterly report",
    body: "The numbers look good.\r\n.leading dot\r\n\r\n-- \r\nCarol\r\n",
  });
  const lunch = textMessage({
    from: "Carol <carol@remote.test>",
    to: "alice@example.test",
    subject: "Lunch?",
    body: "Pizza at noon.\r\n",
  });

  before(async () => {
    const version = await runTool("mbsync", ["--version"]);
    const m = /(\d+)\.(\d+)/.exec(version.stdout);
    assert.ok(m, describeRun(version));
    const v = Number(m[1]) * 100 + Number(m[2]);
    syntax = {
      tls: v >= 105 ? "TLS" : "SSL",
      far: v >= 104 ? "Far" : "Master",
      near: v >= 104 ? "Near" : "Slave",
    };
    t = await startImapServer();
    home = await tempDir();
    mail = join(home.dir, "Mail");
    await mkdir(mail);
    await deliver(t, "alice@example.test", report.raw);
    await deliver(t, "alice@example.test", lunch.raw);
    await onServer("SELECT INBOX", "UID STORE 2 +FLAGS (\\Flagged)");
  });
  after(async () => {
    await t.stop();
    await home.remove();
  });

  it("first sync: every server folder appears locally, messages identical to the store", async () => {
    const r = await sync();
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout + r.stderr, /Connection is now encrypted/);
    for (const box of SERVER_BOXES) {
      for (const sub of ["cur", "new", "tmp"])
        assert.ok(existsSync(join(mail, box, sub)), `${box}/${sub} created locally\n${describeRun(r)}`);
    }
    const inbox = await stored(t, "alice@example.test");
    const files = await local("INBOX");
    assert.equal(files.length, 2, files.map((f) => f.name).join(" "));
    // mbsync names pulled files after the near-side UID it assigns (",U=n"), in server UID order
    files.sort((a, b) => Number(/,U=(\d+)/.exec(a.name)![1]) - Number(/,U=(\d+)/.exec(b.name)![1]));
    for (let i = 0; i < 2; i++) {
      assert.ok(!files[i]!.data.includes("\r\n"), "Maildir files have LF line ends");
      assert.match(files[i]!.data.toString("latin1"), /^X-TUID: /m);
      assertSameBytes(
        asServerBytes(files[i]!.data),
        inbox[i]!.full,
        `INBOX message ${i + 1}, trace prefix included`,
      );
    }
    assert.equal(maildirFlags(files[0]!.name), "");
    assert.equal(maildirFlags(files[1]!.name), "F", "\\Flagged became the Maildir F flag");
    for (const box of SERVER_BOXES.filter((b) => b !== "INBOX")) assert.deepEqual(await local(box), []);
  });

  it("a message written to the local Maildir is uploaded on the next sync", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "Written offline",
      body: "Composed in a local client.\r\n.leading dot\r\n",
    });
    // as a local MUA stores it: LF line ends, a unique name, seen
    const lf = Buffer.from(message.toString("latin1").replace(/\r\n/g, "\n"), "latin1");
    await writeFile(join(mail, "Sent", "cur", `1700000000.M1P1.interop:2,S`), lf);
    const before = await stored(t, "alice@example.test", "Sent");
    assert.equal(before.length, 0);
    const r = await sync();
    assert.equal(r.code, 0, describeRun(r));
    const after = await stored(t, "alice@example.test", "Sent");
    assert.equal(after.length, 1, describeRun(r));
    assert.equal(after[0]!.prefix.length, 0, "APPEND stores no trace prefix");
    assert.match(after[0]!.blob.toString("latin1"), /^X-TUID: /m, "mbsync marks what it uploads");
    assertSameBytes(withoutTuid(after[0]!.blob), message, "the uploaded message, CRLF on the server");
    assert.ok(
      after[0]!.blob.includes("\r\n") && !/(^|[^\r])\n/.test(after[0]!.blob.toString("latin1")),
      "CRLF only",
    );
    assert.deepEqual((await serverFlags("Sent")).get(after[0]!.uid), ["\\Seen"], "Maildir S became \\Seen");
    const files = await local("Sent");
    assert.equal(files.length, 1);
    assert.match(files[0]!.name, /,U=\d+:2,S$/, "mbsync recorded the pairing in the file name");
  });

  it("flags travel both ways: local S → \\Seen on the server, server \\Answered → local R", async () => {
    const files = await local("INBOX");
    const first = files.find((f) => maildirFlags(f.name) === "")!;
    assert.ok(first, files.map((f) => f.name).join(" "));
    // a local MUA reads the first message: it moves to cur/ with the S flag
    await rename(first.path, join(mail, "INBOX", "cur", `${first.name.replace(/:2,.*$/, "")}:2,S`));
    await onServer("SELECT INBOX", "UID STORE 2 +FLAGS (\\Answered)");
    const r = await sync();
    assert.equal(r.code, 0, describeRun(r));
    const flags = await serverFlags("INBOX");
    assert.deepEqual(flags.get(1), ["\\Seen"], describeRun(r));
    assert.deepEqual(flags.get(2), ["\\Answered", "\\Flagged"]);
    const after = (await local("INBOX")).map((f) => maildirFlags(f.name)).sort();
    assert.deepEqual(after, ["FR", "S"], "\\Answered became R next to F");
  });

  it("deletions travel both ways (Expunge Both)", async () => {
    // locally: delete the file of server UID 1 (the one marked S)
    const files = await local("INBOX");
    const seen = files.find((f) => maildirFlags(f.name) === "S")!;
    assert.ok(seen);
    await rm(seen.path);
    // meanwhile on the server: a new delivery, and a message filed into Archive
    await deliver(
      t,
      "alice@example.test",
      textMessage({ from: "dave@remote.test", to: "alice@example.test", subject: "new", body: "n\r\n" }).raw,
    );
    await onServer({
      append: "Archive",
      flags: "(\\Seen)",
      message: buildMessage({
        from: "a@remote.test",
        to: "alice@example.test",
        subject: "archived",
        body: "a\r\n",
      }),
    });
    let r = await sync();
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(
      (await stored(t, "alice@example.test")).map((m) => m.uid),
      [2, 3],
      "the locally deleted message was expunged on the server",
    );
    assert.equal((await local("INBOX")).length, 2);
    assert.equal((await local("Archive")).length, 1);

    // then on the server: the archived message is deleted and expunged
    await onServer("SELECT Archive", "UID STORE 1 +FLAGS (\\Deleted)", "EXPUNGE");
    r = await sync();
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(await local("Archive"), [], "the server-side expunge removed the local file");
    const inbox = await stored(t, "alice@example.test");
    const contents = (await local("INBOX")).map((f) => f.data);
    assert.equal(contents.length, 2);
    for (const m of inbox)
      assert.ok(
        contents.some((d) => asServerBytes(d).equals(m.full)),
        `UID ${m.uid} is still there locally, byte for byte`,
      );
  });

  it("folders created on the server appear locally, and local ones on the server (Create Both)", async () => {
    const inside = buildMessage({
      from: "carol@remote.test",
      to: "alice@example.test",
      subject: "filed",
      body: "In a subfolder.\r\n",
    });
    await onServer("CREATE Projects/Alpha", {
      append: "Projects/Alpha",
      flags: "(\\Flagged)",
      message: inside,
    });
    await mkdir(join(mail, "Local"));
    for (const sub of ["cur", "new", "tmp"]) await mkdir(join(mail, "Local", sub));
    const r = await sync();
    assert.equal(r.code, 0, describeRun(r));
    const files = await local("Projects/Alpha");
    assert.equal(files.length, 1, `Projects/Alpha synced as a Verbatim subfolder\n${describeRun(r)}`);
    assertSameBytes(asServerBytes(files[0]!.data), inside, "the message in the new folder");
    assert.equal(maildirFlags(files[0]!.name), "F");

    const c = await ImapRaw.connect(t.port("imap"));
    await c.login(ALICE.user, ALICE.pass);
    const list = await c.cmd('LIST "" *');
    c.close();
    const names = list.untagged.map((l) => l.replace(/^LIST \([^)]*\) "\/" /, ""));
    assert.ok(names.includes("Local"), `the local folder was created on the server: ${names.join(" ")}`);
    assert.ok(names.includes("Projects/Alpha"));
  });

  it("a second sync without changes changes nothing", async () => {
    const beforeLocal = (await local("INBOX")).map((f) => f.name);
    const beforeServer = await serverFlags("INBOX");
    const r = await sync();
    assert.equal(r.code, 0, describeRun(r));
    assert.deepEqual(
      (await local("INBOX")).map((f) => f.name),
      beforeLocal,
    );
    assert.deepEqual(await serverFlags("INBOX"), beforeServer);
  });

  it("authenticates with SCRAM-SHA-256 through Cyrus SASL", {
    skip: SCRAM_PLUGIN
      ? false
      : "Cyrus SASL's SCRAM plugin is not installed (apt-get install libsasl2-modules)",
  }, async () => {
    const r = await sync({ authMechs: "SCRAM-SHA-256", debug: true });
    assert.equal(r.code, 0, describeRun(r));
    const out = r.stdout + r.stderr;
    assert.match(out, /Authenticating with SASL mechanism SCRAM-SHA-256/);
    assert.match(
      out,
      />>> \d+ AUTHENTICATE SCRAM-SHA-256 [A-Za-z0-9+/=]+/,
      "the client-first message as SASL-IR",
    );
    // server-first (r=…,s=…,i=4096), then server-final (v=…) which libsasl2 verifies before the OK
    const challenges = [...out.matchAll(/^F: \+ ([A-Za-z0-9+/=]+)$/gm)].map((m) =>
      Buffer.from(m[1]!, "base64").toString(),
    );
    assert.equal(challenges.length, 2, out);
    assert.match(challenges[0]!, /^r=[^,]+,s=[A-Za-z0-9+/=]+,i=4096$/);
    assert.match(challenges[1]!, /^v=[A-Za-z0-9+/=]+$/);
    assert.match(out, /^F: \d+ OK \[CAPABILITY [^\]]*\] Logged in/m);

    const wrong = await sync({ authMechs: "SCRAM-SHA-256", password: "wrong-secret", debug: true });
    assert.notEqual(wrong.code, 0, describeRun(wrong));
    assert.match(wrong.stdout + wrong.stderr, /NO \[AUTHENTICATIONFAILED\]/);
  });
});
