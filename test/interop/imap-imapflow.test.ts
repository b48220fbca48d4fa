// Interop: imapflow (an independent IMAP client, the one behind EmailEngine) driving whole sessions
// against a real server: imaps and imap + STARTTLS, LOGIN and AUTHENTICATE, LIST with special-use and
// LIST-STATUS, SELECT, FETCH (envelope, body structure, source byte for byte, flags, UID), part
// downloads, SEARCH, STORE, COPY/MOVE with COPYUID, APPEND with APPENDUID, binary content (literal8,
// BINARY[]), CREATE/RENAME/DELETE, STATUS, IDLE push to a second client, CONDSTORE (CHANGEDSINCE) and
// QRESYNC (VANISHED). Messages arrive through the real SMTP listener, so what imapflow reads is
// compared with the store's trace prefix + blob.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ImapFlow, type ImapFlowOptions, type Logger } from "imapflow";
import type { TestServer } from "../helpers/server.js";
import {
  ALICE,
  attachmentMessage,
  BOB,
  deliver,
  eventually,
  type Fixture,
  startImapServer,
  stored,
  storedByUid,
  textMessage,
} from "./helpers/imap.js";
import { assertSameBytes, buildMessage } from "./helpers/interop.js";

/** imapflow's protocol log ("C: …" / "S: …"), kept for assertion messages and bug reports. */
class Transcript {
  readonly lines: string[] = [];
  /** what the client wrote to the socket, with `logRaw: true` */
  readonly written: Buffer[] = [];
  readonly logger: Logger = {
    trace: (o: { src?: string; msg?: string; data?: string; hidden?: boolean }) => {
      if (o.src === "c" && o.msg === "write to socket" && o.data && !o.hidden)
        this.written.push(Buffer.from(o.data, "base64"));
    },
    debug: (o: { src?: string; msg?: string }) => this.add(o),
    info: (o: { src?: string; msg?: string }) => this.add(o),
    warn: (o: { src?: string; msg?: string }) => this.add(o),
    error: (o: { src?: string; msg?: string; err?: unknown }) => this.add(o),
    fatal: (o: { src?: string; msg?: string }) => this.add(o),
  };

  private add(o: { src?: string; msg?: string; err?: unknown }): void {
    const who = o.src === "c" ? "C" : o.src === "s" ? "S" : "-";
    this.lines.push(`${who}: ${o.msg ?? ""}${o.err ? ` (${String(o.err)})` : ""}`);
  }

  get client(): string[] {
    return this.lines.filter((l) => l.startsWith("C: ")).map((l) => l.slice(3));
  }

  get server(): string[] {
    return this.lines.filter((l) => l.startsWith("S: ")).map((l) => l.slice(3));
  }

  get text(): string {
    return this.lines.join("\n");
  }
}

/** The client commands without their tags. */
function commands(log: Transcript): string[] {
  return log.client.map((l) => l.replace(/^\S+ /, ""));
}

describe("interop: imapflow", () => {
  let t: TestServer;
  const open: ImapFlow[] = [];

  // alice's INBOX: read-only fixtures for FETCH, download and SEARCH (flags are put back)
  const report = textMessage({
    from: "Carol <carol@remote.test>",
    to: "alice@example.test",
    subject: "Quarterly report",
    body: "The numbers look good.\r\nzebra crossing\r\n",
  });
  const photos = attachmentMessage({
    from: "Dave <dave@remote.test>",
    to: "alice@example.test",
    subject: "Holiday photos",
    text: "Here are the photos – grüße.",
    filename: "photo.bin",
  });
  const lunch = textMessage({
    from: "Carol <carol@remote.test>",
    to: "alice@example.test",
    subject: "Lunch?",
    body: "Pizza at noon.\r\n.a line with a leading dot\r\n",
  });
  const aliceInbox: Fixture[] = [report, photos, lunch];

  before(async () => {
    t = await startImapServer();
    for (const m of aliceInbox) await deliver(t, "alice@example.test", m.raw, "carol@remote.test");
    for (let n = 1; n <= 3; n++) {
      const m = textMessage({
        from: "carol@remote.test",
        to: "bob@example.test",
        subject: `bob ${n}`,
        body: `Message ${n} for Bob.\r\n`,
      });
      await deliver(t, "bob@example.test", m.raw);
    }
  });
  after(async () => {
    for (const c of open) c.close();
    await t.stop();
  });

  async function connect(
    opts: { mode: "imaps" | "starttls"; auth?: ImapFlowOptions["auth"] } & Partial<ImapFlowOptions>,
  ): Promise<{ client: ImapFlow; log: Transcript }> {
    const { mode, auth, ...extra } = opts;
    const log = new Transcript();
    const client = new ImapFlow({
      host: "127.0.0.1",
      port: mode === "imaps" ? t.port("imaps") : t.port("imap"),
      secure: mode === "imaps",
      ...(mode === "starttls" ? { doSTARTTLS: true } : {}),
      tls: { rejectUnauthorized: false },
      auth: auth ?? ALICE,
      logger: log.logger,
      connectionTimeout: 5000,
      greetingTimeout: 5000,
      socketTimeout: 20_000,
      ...extra,
    });
    client.on("error", () => undefined);
    open.push(client);
    await client.connect();
    return { client, log };
  }

  it("connects over imaps, authenticates with AUTHENTICATE PLAIN and lists the special-use mailboxes", async () => {
    const { client, log } = await connect({ mode: "imaps" });
    assert.equal(client.secureConnection, true);
    assert.ok(client.authenticated, log.text);
    assert.ok(
      commands(log).some((c) => c.startsWith("AUTHENTICATE PLAIN")),
      `imapflow prefers AUTHENTICATE PLAIN to LOGIN\n${log.text}`,
    );
    assert.ok(client.capabilities.has("IMAP4REV2") || client.capabilities.has("IMAP4rev2"));
    const list = await client.list();
    const byPath = new Map(list.map((m) => [m.path, m]));
    assert.deepEqual([...byPath.keys()].sort(), ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]);
    for (const [path, use] of [
      ["Sent", "\\Sent"],
      ["Drafts", "\\Drafts"],
      ["Trash", "\\Trash"],
      ["Junk", "\\Junk"],
      ["Archive", "\\Archive"],
    ] as const) {
      const box = byPath.get(path)!;
      assert.equal(box.specialUse, use, `${path}: ${[...box.flags].join(" ")}`);
      assert.equal(box.specialUseSource, "extension", `${path}: the flag came from the server, not the name`);
      assert.ok(box.flags.has(use), `${path} flags: ${[...box.flags].join(" ")}`);
    }
    assert.equal(byPath.get("INBOX")!.specialUse, "\\Inbox");
    assert.equal(byPath.get("INBOX")!.delimiter, "/");

    // LIST-STATUS: one round trip for the counts of every mailbox
    const withStatus = await client.list({ statusQuery: { messages: true, unseen: true, uidNext: true } });
    assert.ok(
      commands(log).some((c) => /^LIST .* RETURN \(.*STATUS \(MESSAGES UNSEEN UIDNEXT\)/.test(c)),
      log.text,
    );
    const inbox = withStatus.find((m) => m.path === "INBOX")!;
    assert.deepEqual(inbox.status, { path: "INBOX", messages: 3, unseen: 3, uidNext: 4 });
    assert.deepEqual(withStatus.find((m) => m.path === "Sent")!.status, {
      path: "Sent",
      messages: 0,
      unseen: 0,
      uidNext: 1,
    });
    await client.logout();
  });

  it("upgrades the imap port with STARTTLS before logging in (doSTARTTLS), and LOGIN works too", async () => {
    const { client, log } = await connect({
      mode: "starttls",
      auth: { ...ALICE, loginMethod: "LOGIN" },
    });
    assert.equal(client.secureConnection, true, log.text);
    const cmds = commands(log);
    const starttls = cmds.indexOf("STARTTLS");
    const login = cmds.findIndex((c) => c.startsWith("LOGIN "));
    assert.ok(starttls >= 0, log.text);
    assert.ok(login > starttls, `LOGIN only after STARTTLS\n${log.text}`);
    const box = await client.mailboxOpen("INBOX");
    assert.equal(box.path, "INBOX");
    assert.equal(box.exists, 3);
    assert.equal(box.uidNext, 4);
    assert.ok(box.uidValidity > 0n);
    assert.equal(box.readOnly, false);
    assert.ok(box.permanentFlags?.has("\\*"), "keywords may be created");
    await client.logout();
  });

  it("refuses a wrong password with AUTHENTICATIONFAILED", async () => {
    const log = new Transcript();
    const client = new ImapFlow({
      host: "127.0.0.1",
      port: t.port("imaps"),
      secure: true,
      tls: { rejectUnauthorized: false },
      auth: { user: ALICE.user, pass: "wrong-secret" },
      logger: log.logger,
    });
    client.on("error", () => undefined);
    open.push(client);
    await assert.rejects(
      client.connect(),
      (err: { authenticationFailed?: boolean; serverResponseCode?: string }) => {
        assert.equal(err.authenticationFailed, true, log.text);
        assert.equal(err.serverResponseCode, "AUTHENTICATIONFAILED", log.text);
        return true;
      },
    );
    client.close();
  });

  it("fetches envelope, body structure, flags, UID, size, date and the exact source", async () => {
    const { client } = await connect({ mode: "imaps" });
    await client.mailboxOpen("INBOX", { readOnly: true });
    const inbox = await stored(t, "alice@example.test");
    const seen: number[] = [];
    for await (const msg of client.fetch("1:*", {
      uid: true,
      flags: true,
      envelope: true,
      bodyStructure: true,
      source: true,
      size: true,
      internalDate: true,
    })) {
      const i = msg.seq - 1;
      seen.push(msg.uid);
      const fixture = aliceInbox[i]!;
      assert.equal(msg.uid, inbox[i]!.uid);
      assertSameBytes(msg.source!, inbox[i]!.full, `message ${msg.seq}: BODY[] is trace prefix + blob`);
      assert.ok(
        msg.source!.subarray(inbox[i]!.prefix.length).equals(fixture.raw),
        "the blob is what SMTP sent",
      );
      assert.equal(msg.size, inbox[i]!.full.length);
      assert.deepEqual([...msg.flags!], []);
      assert.equal(msg.envelope!.subject, fixture.subject);
      assert.equal(
        msg.envelope!.messageId,
        `<${fixture.subject.replace(/[^A-Za-z0-9]+/g, ".")}.${process.pid}@interop.test>`,
      );
      assert.equal(new Date(msg.envelope!.date!).toISOString(), "2025-01-06T10:00:00.000Z");
      assert.deepEqual(msg.envelope!.to, [{ name: "", address: "alice@example.test" }]);
      assert.equal(msg.envelope!.from![0]!.address, fixture.from.replace(/^.*<|>$/g, ""));
      assert.ok(msg.internalDate instanceof Date);
      assert.ok(
        Math.abs(msg.internalDate.getTime() - Date.now()) < 60_000,
        "INTERNALDATE is the arrival time",
      );
    }
    assert.deepEqual(seen, [1, 2, 3]);

    const report1 = await client.fetchOne("1", { bodyStructure: true });
    assert.ok(report1);
    assert.equal(report1.bodyStructure!.type, "text/plain");

    const photo = await client.fetchOne("2", { bodyStructure: true, envelope: true });
    assert.ok(photo);
    const bs = photo.bodyStructure!;
    assert.equal(bs.type, "multipart/mixed");
    assert.equal(bs.parameters?.boundary, "=_interop_boundary_42");
    const [text, file] = bs.childNodes!;
    assert.equal(text!.part, "1");
    assert.equal(text!.type, "text/plain");
    assert.equal(text!.parameters?.charset, "utf-8");
    assert.equal(text!.encoding, "8bit");
    assert.equal(text!.size, Buffer.byteLength(photos.text));
    assert.equal(file!.part, "2");
    assert.equal(file!.type, "application/octet-stream");
    assert.equal(file!.encoding, "base64");
    assert.equal(file!.parameters?.name, "photo.bin");
    assert.equal(file!.disposition, "attachment");
    assert.equal(file!.dispositionParameters?.filename, "photo.bin");
    assert.equal(
      file!.size,
      photos.attachment.toString("base64").replace(/.{76}/g, "$&\r\n").replace(/\r\n$/, "").length,
    );
    assert.equal(photo.envelope!.from![0]!.name, "Dave");

    // FETCH with PEEK left every message unseen
    for await (const msg of client.fetch("1:*", { flags: true }))
      assert.equal(msg.flags!.has("\\Seen"), false);
    await client.logout();
  });

  it("downloads parts decoded (download(seq, part)) and whole messages", async () => {
    const { client } = await connect({ mode: "imaps" });
    await client.mailboxOpen("INBOX", { readOnly: true });
    const read = async (d: Awaited<ReturnType<ImapFlow["download"]>>) => {
      assert.ok(d.content, "the part exists");
      const chunks: Buffer[] = [];
      for await (const c of d.content) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const attachment = await client.download("2", "2");
    assert.equal(attachment.meta?.contentType, "application/octet-stream");
    assert.equal(attachment.meta?.filename, "photo.bin");
    assertSameBytes(await read(attachment), photos.attachment, "the attachment, base64-decoded");

    const text = await client.download("2", "1");
    assert.equal(text.meta?.contentType, "text/plain");
    assert.equal((await read(text)).toString("utf8"), photos.text);

    const whole = await client.download("3");
    const inbox = await stored(t, "alice@example.test");
    assertSameBytes(await read(whole), inbox[2]!.full, "download(seq) without a part is the whole message");

    const byUid = await client.download("2", "2", { uid: true });
    assertSameBytes(await read(byUid), photos.attachment, "the attachment by UID");
    await client.logout();
  });

  it("searches by from, subject, body text, seen/unseen, since/before, and by UID", async () => {
    const { client, log } = await connect({ mode: "imaps" });
    await client.mailboxOpen("INBOX");
    const search = async (q: Parameters<ImapFlow["search"]>[0], uid = false) => {
      const r = await client.search(q, { uid });
      assert.ok(Array.isArray(r), `${JSON.stringify(q)}\n${log.text}`);
      return [...r].sort((a, b) => a - b);
    };
    assert.deepEqual(await search({ all: true }), [1, 2, 3]);
    assert.deepEqual(await search({ from: "carol" }), [1, 3]);
    assert.deepEqual(await search({ from: "dave@remote.test" }), [2]);
    assert.deepEqual(await search({ to: "alice@example.test" }), [1, 2, 3]);
    assert.deepEqual(await search({ subject: "photos" }), [2]);
    assert.deepEqual(await search({ subject: "LUNCH" }), [3], "case-insensitive");
    assert.deepEqual(await search({ body: "zebra" }), [1]);
    assert.deepEqual(await search({ text: "pizza" }), [3]);
    assert.deepEqual(await search({ body: "grüße" }), [2], "UTF-8 body text");
    assert.deepEqual(await search({ or: [{ subject: "photos" }, { body: "zebra" }] }), [1, 2]);
    assert.deepEqual(await search({ not: { from: "carol" } }), [2]);
    assert.deepEqual(await search({ header: { "message-id": "Lunch" } }), [3]);
    assert.deepEqual(await search({ larger: 3000 }), [2]);

    const day = 24 * 3600 * 1000;
    assert.deepEqual(await search({ since: new Date(Date.now() - 2 * day) }), [1, 2, 3]);
    assert.deepEqual(await search({ since: new Date(Date.now() + 2 * day) }), []);
    assert.deepEqual(await search({ before: new Date(Date.now() + 2 * day) }), [1, 2, 3]);
    assert.deepEqual(await search({ sentOn: new Date("2025-01-06T12:00:00Z") }), [1, 2, 3]);

    assert.deepEqual(await search({ seen: false }), [1, 2, 3]);
    assert.ok(await client.messageFlagsAdd("1", ["\\Seen"]));
    assert.deepEqual(await search({ seen: true }), [1]);
    assert.deepEqual(await search({ seen: false }), [2, 3]);
    assert.deepEqual(await search({ seen: false, from: "carol" }), [3]);
    assert.deepEqual(await search({ seen: false }, true), [2, 3], "UID SEARCH");
    assert.ok(await client.messageFlagsRemove("1", ["\\Seen"]));
    assert.deepEqual(await search({ unKeyword: "$Nothing" }), [1, 2, 3]);
    await client.logout();
  });

  it("adds, removes and replaces flags and keywords (STORE), seen by a second client", async () => {
    const { client } = await connect({ mode: "imaps" });
    await client.mailboxOpen("INBOX");
    const flagsOf = async (c: ImapFlow, seq: string) => {
      const m = await c.fetchOne(seq, { flags: true });
      assert.ok(m);
      return [...m.flags!].sort();
    };
    assert.equal(await client.messageFlagsAdd("1:2", ["\\Flagged", "$Important"]), true);
    assert.deepEqual(await flagsOf(client, "1"), ["$Important", "\\Flagged"]);
    assert.deepEqual(await flagsOf(client, "2"), ["$Important", "\\Flagged"]);
    assert.equal(await client.messageFlagsRemove("2", ["\\Flagged"]), true);
    assert.deepEqual(await flagsOf(client, "2"), ["$Important"]);
    assert.equal(await client.messageFlagsSet("3", ["\\Answered", "$Label1"], { uid: true }), true);
    assert.deepEqual(await flagsOf(client, "3"), ["$Label1", "\\Answered"]);

    const { client: other } = await connect({ mode: "starttls" });
    await other.mailboxOpen("INBOX", { readOnly: true });
    assert.deepEqual(await flagsOf(other, "1"), ["$Important", "\\Flagged"]);
    assert.deepEqual(await flagsOf(other, "3"), ["$Label1", "\\Answered"]);
    await other.logout();

    // back to unflagged for the other cases
    assert.equal(await client.messageFlagsSet("1:*", []), true);
    for (const seq of ["1", "2", "3"]) assert.deepEqual(await flagsOf(client, seq), []);
    await client.logout();
  });

  it("copies and moves with UIDPLUS: uidMap from COPYUID, the copies byte for byte", async () => {
    const { client, log } = await connect({ mode: "imaps", auth: BOB });
    await client.mailboxOpen("INBOX");
    const originals = await stored(t, "bob@example.test");
    assert.equal(originals.length, 3);
    const archive = await client.status("Archive", { uidNext: true, uidValidity: true, messages: true });
    assert.ok(archive);
    assert.ok(await client.messageFlagsAdd("2", ["\\Seen", "$Kept"]));

    const copied = await client.messageCopy("1:2", "Archive");
    assert.ok(copied, log.text);
    assert.equal(copied.path, "INBOX");
    assert.equal(copied.destination, "Archive");
    assert.equal(copied.uidValidity, archive.uidValidity);
    assert.deepEqual(
      [...copied.uidMap!],
      [
        [1, archive.uidNext!],
        [2, archive.uidNext! + 1],
      ],
    );
    assert.ok(client.mailbox);
    assert.equal(client.mailbox.exists, 3, "COPY leaves the source alone");

    const trash = await client.status("Trash", { uidNext: true, uidValidity: true });
    assert.ok(trash);
    const moved = await client.messageMove("3", "Trash", { uid: true });
    assert.ok(moved, log.text);
    assert.ok(
      commands(log).some((c) => c.startsWith("UID MOVE 3 Trash")),
      log.text,
    );
    assert.equal(moved.uidValidity, trash.uidValidity);
    assert.deepEqual([...moved.uidMap!], [[3, trash.uidNext!]]);
    assert.ok(client.mailbox);
    assert.equal(client.mailbox.exists, 2, "the EXPUNGE of the moved message reached the client");

    await client.mailboxOpen("Archive");
    const inArchive: Array<{ uid: number; source: Buffer; flags: string[] }> = [];
    for await (const m of client.fetch("1:*", { uid: true, source: true, flags: true }))
      inArchive.push({ uid: m.uid, source: m.source!, flags: [...m.flags!].sort() });
    assert.deepEqual(
      inArchive.map((m) => m.uid),
      [...copied.uidMap!.values()],
    );
    assertSameBytes(inArchive[0]!.source, originals[0]!.full, "the copy of UID 1");
    assertSameBytes(inArchive[1]!.source, originals[1]!.full, "the copy of UID 2");
    assert.deepEqual(inArchive[1]!.flags, ["$Kept", "\\Seen"], "COPY keeps the flags");

    await client.mailboxOpen("Trash");
    const m = await client.fetchOne(String(trash.uidNext), { source: true }, { uid: true });
    assert.ok(m);
    assertSameBytes(m.source!, originals[2]!.full, "the moved message");
    assert.equal((await stored(t, "bob@example.test")).length, 2);
    assertSameBytes(
      (await storedByUid(t, "bob@example.test", "Trash", trash.uidNext!)).full,
      originals[2]!.full,
      "store",
    );
    await client.logout();
  });

  it("appends with flags and an internal date and gets the UID from APPENDUID", async () => {
    const { client, log } = await connect({ mode: "starttls", auth: BOB });
    const raw = buildMessage({
      from: "bob@example.test",
      to: "carol@remote.test",
      subject: "A draft",
      headers: [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
      ],
      body: "Draft text: Straße ✓\r\n.leading dot\r\n\r\nNo final newline",
    });
    const date = new Date("2024-03-01T12:34:56.000Z");
    const drafts = await client.status("Drafts", { uidNext: true, uidValidity: true });
    assert.ok(drafts);
    const res = await client.append("Drafts", raw, ["\\Draft", "\\Seen", "$Custom"], date);
    assert.ok(res, log.text);
    assert.equal(res.destination, "Drafts");
    assert.equal(res.uid, drafts.uidNext);
    assert.equal(res.uidValidity, drafts.uidValidity);

    await client.mailboxOpen("Drafts");
    const m = await client.fetchOne(
      String(res.uid),
      { uid: true, flags: true, internalDate: true, source: true },
      { uid: true },
    );
    assert.ok(m);
    assert.deepEqual([...m.flags!].sort(), ["$Custom", "\\Draft", "\\Seen"]);
    assert.equal(new Date(m.internalDate!).toISOString(), date.toISOString());
    assertSameBytes(m.source!, raw, "APPENDed bytes come back unchanged, no trace prefix");
    const s = await storedByUid(t, "bob@example.test", "Drafts", res.uid!);
    assert.equal(s.prefix.length, 0);
    assertSameBytes(s.blob, raw, "the stored blob");

    // appending to the selected mailbox: the client hears about the new message
    const second = await client.append("Drafts", raw, [], new Date("2020-01-01T00:00:00Z"));
    assert.ok(second);
    assert.equal(second.uid, res.uid! + 1);
    await client.noop();
    assert.ok(client.mailbox);
    assert.equal(client.mailbox.exists, 2);
    await client.logout();
  });

  it("binary content (RFC 3516): APPEND as literal8, FETCH BINARY[] exact, BODY[] without the NUL", async () => {
    const { client, log } = await connect({ mode: "imaps", auth: BOB, logRaw: true });
    const raw = Buffer.from(
      "From: bob@example.test\r\nSubject: binary\r\nMIME-Version: 1.0\r\n" +
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
        "NUL\x00here, \xff\xfe high bytes\r\n",
      "latin1",
    );
    const res = await client.append("Junk", raw);
    assert.ok(res, log.text);
    const written = Buffer.concat(log.written).toString("latin1");
    assert.match(written, new RegExp(`APPEND Junk ~\\{${raw.length}\\+?\\}\r\n`), "imapflow chose literal8");
    assertSameBytes((await storedByUid(t, "bob@example.test", "Junk", res.uid!)).blob, raw, "stored");

    await client.mailboxOpen("Junk");
    const binary = await client.fetchOne(String(res.uid), { source: true }, { uid: true, binary: true });
    assert.ok(binary);
    assert.ok(
      commands(log).some((c) => /FETCH \d+ \(BINARY\.PEEK\[\]/.test(c)),
      log.text,
    );
    assertSameBytes(binary.source!, raw, "BINARY.PEEK[] returns the exact bytes");
    // A plain literal may not carry NUL (RFC 9051 §4.3.1): BODY[] has the same length, the NUL replaced
    const body = await client.fetchOne(String(res.uid), { source: true }, { uid: true });
    assert.ok(body);
    assert.equal(body.source!.length, raw.length);
    assert.equal(body.source!.indexOf(0), -1, "no NUL in BODY[]");
    const nul = raw.indexOf(0);
    assert.ok(body.source!.subarray(0, nul).equals(raw.subarray(0, nul)));
    assert.ok(body.source!.subarray(nul + 1).equals(raw.subarray(nul + 1)));
    await client.logout();
  });

  it("creates, renames and deletes mailboxes; STATUS reports counts", async () => {
    const { client, log } = await connect({ mode: "imaps", auth: BOB });
    const created = await client.mailboxCreate("Projects/Alpha");
    assert.equal(created.path, "Projects/Alpha");
    assert.equal(created.created, true, log.text);
    const again = await client.mailboxCreate("Projects/Alpha");
    assert.equal(again.created, false, "ALREADYEXISTS is not an error for imapflow");
    let paths = (await client.list()).map((m) => m.path);
    assert.ok(paths.includes("Projects") && paths.includes("Projects/Alpha"), paths.join(" "));

    const appended = await client.append(
      "Projects/Alpha",
      buildMessage({ from: "bob@example.test", to: "bob@example.test", subject: "inside", body: "x\r\n" }),
      ["\\Seen"],
    );
    assert.ok(appended);
    const renamed = await client.mailboxRename("Projects/Alpha", "Projects/Beta");
    assert.equal(renamed.path, "Projects/Alpha");
    assert.equal(renamed.newPath, "Projects/Beta");
    paths = (await client.list()).map((m) => m.path);
    assert.ok(paths.includes("Projects/Beta") && !paths.includes("Projects/Alpha"), paths.join(" "));

    const status = await client.status("Projects/Beta", {
      messages: true,
      unseen: true,
      uidNext: true,
      uidValidity: true,
      highestModseq: true,
      recent: true,
    });
    assert.ok(status, log.text);
    assert.equal(status.messages, 1, "RENAME kept the message");
    assert.equal(status.unseen, 0);
    assert.equal(status.uidNext, 2);
    assert.ok(status.uidValidity! > 0n);
    assert.ok(status.highestModseq! > 0n);

    const deleted = await client.mailboxDelete("Projects/Beta");
    assert.equal(deleted.path, "Projects/Beta");
    await client.mailboxDelete("Projects");
    paths = (await client.list()).map((m) => m.path);
    assert.ok(!paths.some((p) => p.startsWith("Projects")), paths.join(" "));
    await assert.rejects(client.mailboxDelete("Projects"), "deleting a missing mailbox fails");

    const inbox = await client.status("INBOX", { messages: true, unseen: true, uidNext: true });
    assert.ok(inbox);
    const s = await stored(t, "bob@example.test");
    assert.equal(inbox.messages, s.length);
    assert.equal(inbox.uidNext, 4);
    await client.logout();
  });

  it("QRESYNC (qresync: true): another session's expunge arrives as VANISHED with its UID", async () => {
    const { client, log } = await connect({ mode: "imaps", auth: BOB, qresync: true });
    assert.ok(client.enabled.has("QRESYNC"), log.text);
    await client.mailboxCreate("Qresync");
    for (let n = 1; n <= 3; n++) {
      const raw = buildMessage({
        from: "bob@example.test",
        to: "bob@example.test",
        subject: `q${n}`,
        body: "q\r\n",
      });
      assert.ok(await client.append("Qresync", raw));
    }
    const box = await client.mailboxOpen("Qresync");
    assert.equal(box.exists, 3);
    const expunged: Array<{ uid?: number; seq?: number; vanished?: boolean }> = [];
    const flagged: Array<{ uid?: number; flags: string[] }> = [];
    client.on("expunge", (e: { uid?: number; seq?: number; vanished?: boolean }) => expunged.push(e));
    client.on("flags", (e) => flagged.push({ uid: e.uid, flags: [...e.flags] }));

    const { client: other } = await connect({ mode: "starttls", auth: BOB });
    await other.mailboxOpen("Qresync");
    assert.ok(await other.messageFlagsAdd("1", ["$Seen-elsewhere"]));
    assert.ok(await other.messageDelete("2"));
    await other.logout();

    await client.noop();
    assert.ok(
      log.server.some((l) => l === "* VANISHED 2"),
      `VANISHED, not EXPUNGE, for a QRESYNC client\n${log.text}`,
    );
    assert.deepEqual(
      expunged.map((e) => [e.uid, e.vanished]),
      [[2, true]],
    );
    assert.deepEqual(flagged, [{ uid: 1, flags: ["$Seen-elsewhere"] }]);
    assert.ok(client.mailbox);
    assert.equal(client.mailbox.exists, 2);
    await client.mailboxDelete("Qresync");
    await client.logout();
  });

  it("IDLE: a second client hears EXISTS within a second of a delivery", async (ctx) => {
    const { client: idler, log } = await connect({ mode: "imaps" });
    const box = await idler.mailboxOpen("INBOX");
    const before = box.exists;
    const exists = new Promise<{ count: number; prevCount: number; at: number }>((resolve) =>
      idler.on("exists", (e) => resolve({ count: e.count, prevCount: e.prevCount, at: performance.now() })),
    );
    const idling = idler.idle();
    // wait for the server's "+ idling" continuation, so the delivery happens during IDLE
    await eventually(() => log.server.some((l) => l.startsWith("+")), `IDLE accepted\n${log.text}`);
    const m = textMessage({
      from: "erin@remote.test",
      to: "alice@example.test",
      subject: "push",
      body: "now\r\n",
    });
    const sentAt = performance.now();
    await deliver(t, "alice@example.test", m.raw);
    const deliveredAt = performance.now();
    const e = await Promise.race([
      exists,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`no EXISTS within 2 s\n${log.text}`)),
          2000 + (deliveredAt - sentAt),
        ),
      ),
    ]);
    assert.equal(e.prevCount, before);
    assert.equal(e.count, before + 1);
    ctx.diagnostic(`EXISTS arrived ${(e.at - deliveredAt).toFixed(1)} ms after the SMTP 250`);
    assert.ok(e.at - deliveredAt < 1000, `EXISTS ${Math.round(e.at - deliveredAt)} ms after the 250`);
    assert.ok(commands(log).includes("IDLE"), log.text);
    // a command ends IDLE with DONE
    const fetched = await idler.fetchOne("*", { envelope: true });
    assert.ok(fetched);
    assert.equal(fetched.envelope!.subject, "push");
    assert.notEqual(await idling, false, `IDLE ended without an error\n${log.text}`);
    assert.ok(commands(log).includes("DONE"), log.text);
    await idler.logout();
  });

  it("CONDSTORE: HIGHESTMODSEQ on SELECT, FETCH (CHANGEDSINCE) returns only what changed", async () => {
    const { client, log } = await connect({ mode: "imaps" });
    const box = await client.mailboxOpen("INBOX");
    assert.ok(client.enabled.has("CONDSTORE"), `imapflow enabled CONDSTORE\n${log.text}`);
    assert.ok(box.highestModseq && box.highestModseq > 0n, log.text);
    const start = box.highestModseq;
    assert.ok(await client.messageFlagsAdd("2", ["$Changed"]));
    const changed: Array<{ seq: number; uid: number; modseq: bigint; flags: string[] }> = [];
    for await (const m of client.fetch("1:*", { uid: true, flags: true }, { changedSince: start }))
      changed.push({ seq: m.seq, uid: m.uid, modseq: m.modseq!, flags: [...m.flags!] });
    assert.ok(
      commands(log).some((c) => /FETCH 1:\* \(.*\) \(CHANGEDSINCE \d+\)/.test(c)),
      log.text,
    );
    assert.deepEqual(
      changed.map((c) => [c.seq, c.flags]),
      [[2, ["$Changed"]]],
    );
    assert.ok(changed[0]!.modseq > start);
    const status = await client.status("INBOX", { highestModseq: true });
    assert.ok(status);
    assert.equal(status.highestModseq, changed[0]!.modseq);
    // nothing changed since then
    const none: number[] = [];
    for await (const m of client.fetch("1:*", { uid: true }, { changedSince: changed[0]!.modseq }))
      none.push(m.seq);
    assert.deepEqual(none, []);
    assert.ok(await client.messageFlagsRemove("2", ["$Changed"]));
    await client.logout();
  });
});
