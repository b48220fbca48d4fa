// Interop: curl's IMAP client (libcurl) against a real server: imap:// in plaintext from loopback and
// with --ssl-reqd (STARTTLS), imaps:// with -k (the test certificate is self-signed): LIST, fetching
// by UID, by MAILINDEX and by SECTION (byte for byte against the store), custom commands (-X SEARCH,
// -X EXAMINE), URL searches, uploads (-T: APPEND), SASL PLAIN and LOGIN, and a wrong password.
// `-v` puts curl's protocol transcript on stderr.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestServer } from "../helpers/server.js";
import { TOOLS, missingTools } from "../helpers/tools.js";
import { attachmentMessage, deliver, startImapServer, stored, textMessage } from "./helpers/imap.js";
import { assertSameBytes, buildMessage, describeRun, runTool, tempDir } from "./helpers/interop.js";

const ALICE = "alice@example.test:alice-secret";

/** Lines curl wrote with -v: "> " client, "< " server. */
function sentLines(stderr: string): string[] {
  return stderr
    .split(/\r?\n/)
    .filter((l) => l.startsWith("> "))
    .map((l) => l.slice(2).replace(/^A\d+ /, ""));
}

describe("interop: curl imap:// and imaps://", { skip: missingTools(TOOLS.curl) }, () => {
  let t: TestServer;
  let imap: string;
  let imaps: string;
  let files: Awaited<ReturnType<typeof tempDir>>;
  const report = textMessage({
    from: "Carol <carol@remote.test>",
    to: "alice@example.test",
    subject: "Quarterly report",
    body: "The numbers look good.\r\n.leading dot\r\n",
  });
  const photos = attachmentMessage({
    from: "Dave <dave@remote.test>",
    to: "alice@example.test",
    subject: "Holiday photos",
    text: "Here are the photos.",
  });

  before(async () => {
    t = await startImapServer();
    imap = `imap://127.0.0.1:${t.port("imap")}`;
    imaps = `imaps://127.0.0.1:${t.port("imaps")}`;
    files = await tempDir();
    for (const m of [report, photos]) await deliver(t, "alice@example.test", m.raw);
  });
  after(async () => {
    await t.stop();
    await files.remove();
  });

  const curl = (...args: string[]) =>
    runTool("curl", ["-v", "-sS", "--max-time", "10", ...args], { timeoutMs: 15_000 });

  it("lists the mailboxes with special-use attributes (imap://host/)", async () => {
    const r = await curl("-u", ALICE, `${imap}/`);
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(
      r.stdout,
      [
        '* LIST (\\HasNoChildren) "/" INBOX',
        '* LIST (\\HasNoChildren \\Archive) "/" Archive',
        '* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
        '* LIST (\\HasNoChildren \\Junk) "/" Junk',
        '* LIST (\\HasNoChildren \\Sent) "/" Sent',
        '* LIST (\\HasNoChildren \\Trash) "/" Trash',
        "",
      ].join("\r\n"),
    );
    const sent = sentLines(r.stderr);
    assert.ok(
      sent.some((l) => l.startsWith("AUTHENTICATE PLAIN ")),
      `SASL-IR: ${sent.join("|")}`,
    );
    assert.ok(!sent.includes("STARTTLS"), "plaintext from loopback");
  });

  it("fetches a message by UID (imap://host/INBOX;UID=1) byte for byte, trace prefix included", async () => {
    const inbox = await stored(t, "alice@example.test");
    const r = await curl("-u", ALICE, `${imap}/INBOX;UID=${inbox[0]!.uid}`);
    assert.equal(r.code, 0, describeRun(r));
    assertSameBytes(r.stdoutBytes, inbox[0]!.full, "curl's output");
    assert.ok(
      r.stdoutBytes.subarray(inbox[0]!.prefix.length).equals(report.raw),
      "after the prefix: what SMTP sent",
    );
    assert.ok(sentLines(r.stderr).includes(`UID FETCH ${inbox[0]!.uid} BODY[]`), r.stderr);
  });

  it("imaps:// with -k: by MAILINDEX, a MIME part by SECTION, and the header", async () => {
    const inbox = await stored(t, "alice@example.test");
    const whole = await curl("-k", "-u", ALICE, `${imaps}/INBOX;MAILINDEX=2`);
    assert.equal(whole.code, 0, describeRun(whole));
    assertSameBytes(whole.stdoutBytes, inbox[1]!.full, "MAILINDEX=2");
    assert.match(whole.stderr, /SSL connection using TLSv1\.[23]/);

    const part = await curl("-k", "-u", ALICE, `${imaps}/INBOX;UID=${inbox[1]!.uid};SECTION=2`);
    assert.equal(part.code, 0, describeRun(part));
    // BODY[2] is the part's body as stored: base64 text, which decodes to the attachment
    assert.equal(
      Buffer.from(part.stdout, "base64").equals(photos.attachment),
      true,
      part.stdout.slice(0, 200),
    );
    const full = inbox[1]!.full.toString("latin1");
    const b64 = photos.attachment.toString("base64").replace(/.{76}/g, "$&\r\n").replace(/\r\n$/, "");
    assert.ok(full.includes(b64));
    assert.equal(part.stdout, b64);

    const header = await curl("-k", "-u", ALICE, `${imaps}/INBOX;UID=${inbox[0]!.uid};SECTION=HEADER`);
    assert.equal(header.code, 0, describeRun(header));
    const end = inbox[0]!.full.indexOf("\r\n\r\n") + 4;
    assertSameBytes(header.stdoutBytes, inbox[0]!.full.subarray(0, end), "SECTION=HEADER");
  });

  it('custom commands: -X "SEARCH ALL", -X "EXAMINE INBOX", and URL searches', async () => {
    const search = await curl("-u", ALICE, "-X", "SEARCH ALL", `${imap}/INBOX`);
    assert.equal(search.code, 0, describeRun(search));
    assert.equal(search.stdout, "* SEARCH 1 2\r\n");

    const examine = await curl("-u", ALICE, "-X", "EXAMINE INBOX", `${imap}/`);
    assert.equal(examine.code, 0, describeRun(examine));
    const lines = examine.stdout.split("\r\n");
    assert.ok(lines.includes("* 2 EXISTS"), examine.stdout);
    assert.ok(lines.includes("* OK [PERMANENTFLAGS ()] Read-only mailbox"), examine.stdout);
    assert.ok(
      lines.some((l) => /^\* OK \[UIDVALIDITY \d+\] /.test(l)),
      examine.stdout,
    );
    assert.ok(lines.includes("* OK [UIDNEXT 3] Predicted next UID"), examine.stdout);
    assert.match(examine.stderr, /< A\d+ OK \[READ-ONLY\] /);

    const bySubject = await curl("-u", ALICE, `${imap}/INBOX?SUBJECT%20photos`);
    assert.equal(bySubject.code, 0, describeRun(bySubject));
    assert.equal(bySubject.stdout, "* SEARCH 2\r\n");
    const byFrom = await curl("-u", ALICE, `${imap}/INBOX?FROM%20carol`);
    assert.equal(byFrom.stdout, "* SEARCH 1\r\n");

    const status = await curl("-u", ALICE, "-X", "STATUS INBOX (MESSAGES UIDNEXT)", `${imap}/`);
    assert.equal(status.code, 0, describeRun(status));
    assert.equal(status.stdout, "* STATUS INBOX (MESSAGES 2 UIDNEXT 3)\r\n");
  });

  it("uploads with -T (APPEND) over STARTTLS (--ssl-reqd), stored byte for byte", async () => {
    const message = buildMessage({
      from: "alice@example.test",
      to: "bob@example.test",
      subject: "curl upload",
      body: "Uploaded by curl.\r\n.leading dot\r\n\r\n",
    });
    const file = await files.file("upload.eml", message);
    const before = await stored(t, "alice@example.test", "Sent");
    const r = await curl("--ssl-reqd", "-k", "-u", ALICE, "-T", file, `${imap}/Sent`);
    assert.equal(r.code, 0, describeRun(r));
    const sent = sentLines(r.stderr);
    assert.ok(sent.indexOf("STARTTLS") >= 0, sent.join("|"));
    assert.ok(
      sent.indexOf("STARTTLS") < sent.findIndex((l) => l.startsWith("AUTHENTICATE")),
      "credentials only after STARTTLS",
    );
    assert.ok(sent.includes(`APPEND Sent (\\Seen) {${message.length}}`), sent.join("|"));
    assert.match(r.stderr, /< A\d+ OK \[APPENDUID \d+ \d+\] /);
    const after = await stored(t, "alice@example.test", "Sent");
    assert.equal(after.length, before.length + 1);
    const added = after[after.length - 1]!;
    assert.equal(added.prefix.length, 0, "APPEND stores the bytes as given, no trace prefix");
    assertSameBytes(added.blob, message, "the uploaded message");

    // and back again
    const back = await curl("-k", "-u", ALICE, `${imaps}/Sent;UID=${added.uid}`);
    assertSameBytes(back.stdoutBytes, message, "fetched back");
  });

  it("logs in with SASL LOGIN (--login-options AUTH=LOGIN) on imap and imaps", async () => {
    // (curl 7.88 has no way to ask for the LOGIN command while SASL is offered: "AUTH=+LOGIN" came later)
    for (const url of [`${imap}/`, `${imaps}/`]) {
      const r = await curl("-k", "-u", ALICE, "--login-options", "AUTH=LOGIN", "-X", "NOOP", url);
      assert.equal(r.code, 0, describeRun(r));
      const sent = sentLines(r.stderr);
      // the user name goes as the initial response (SASL-IR), the password after the server's prompt
      const user = Buffer.from("alice@example.test").toString("base64");
      assert.ok(sent.includes(`AUTHENTICATE LOGIN ${user}`), sent.join("|"));
      assert.match(r.stderr, /< \+ UGFzc3dvcmQ6\r?\n/, "the LOGIN prompt: base64 of 'Password:'");
      assert.match(r.stderr, /< A\d+ OK \[CAPABILITY [^\]]*\] Logged in/);
    }
  });

  it("fails with exit 67 (login denied) on a wrong password", async () => {
    const r = await curl("-k", "-u", "alice@example.test:wrong-secret", `${imaps}/`);
    assert.equal(r.code, 67, describeRun(r));
    assert.match(r.stderr, /< A\d+ NO \[AUTHENTICATIONFAILED\] /);
    assert.equal(r.stdout, "");
  });
});
