// Scripted IMAP conversations for the mailbox commands and APPEND: LIST (basic, extended, STATUS,
// SPECIAL-USE, RECURSIVEMATCH), LSUB, CREATE, DELETE, RENAME, (UN)SUBSCRIBE, STATUS, NAMESPACE,
// QUOTA, APPEND (sync and non-synchronizing literals, MULTIAPPEND, limits) and mailbox name
// encodings (issue #4).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { canonicalPattern, compilePattern } from "../../src/imap/server/commands/list.js";
import { checkMailboxName, parentNames } from "../../src/imap/server/mailbox-names.js";
import type { Account } from "../../src/store/types.js";
import { ImapRaw, type ImapResponse } from "../helpers/imap-client.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { RawSmtp } from "../helpers/smtp-client.js";

const PASSWORD = "secret-password";
const MESSAGE_LIMIT = 6 * 1024 * 1024;

/** Users, one per area, so the tests do not see each other's mailboxes. */
const USERS = [
  "list",
  "lsub",
  "create",
  "delete",
  "rename",
  "status",
  "append",
  "multi",
  "names",
  "other",
].map((u) => ({ address: `${u}@example.test`, password: PASSWORD }));

function message(subject: string, body = "Hello.\r\n"): string {
  return `From: a@example.test\r\nTo: b@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, "")}@example.test>\r\n\r\n${body}`;
}

/** Sends `tag APPEND …{n+}` with every literal non-synchronizing (LITERAL+, RFC 7888) in one write. */
async function appendPlus(
  c: ImapRaw,
  mailbox: string,
  parts: Array<{ pre?: string; data: string | Buffer }>,
): Promise<ImapResponse> {
  const tag = c.nextTag();
  const chunks: Buffer[] = [Buffer.from(`${tag} APPEND ${mailbox}`)];
  for (const p of parts) {
    const data = typeof p.data === "string" ? Buffer.from(p.data) : p.data;
    chunks.push(Buffer.from(`${p.pre ? ` ${p.pre}` : ""} {${data.length}+}\r\n`), data);
  }
  chunks.push(Buffer.from("\r\n"));
  c.write(Buffer.concat(chunks));
  return c.until(tag);
}

/** The untagged LIST/LSUB lines, without the leading verb. */
function listed(r: ImapResponse, verb = "LIST"): string[] {
  assert.equal(r.status, "OK", r.text);
  return r.untagged.filter((u) => u.startsWith(`${verb} `)).map((u) => u.slice(verb.length + 1));
}

/** The names of LIST lines ("…" unquoted). */
function names(r: ImapResponse, verb = "LIST"): string[] {
  return listed(r, verb).map((l) => {
    const m = /^\([^)]*\) "\/" ("(?:[^"\\]|\\.)*"|\S+)/.exec(l);
    assert.ok(m, l);
    return m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string) : m[1]!;
  });
}

/** The attribute list of `name` in a LIST response. */
function attrsOf(r: ImapResponse, name: string, verb = "LIST"): string[] | undefined {
  const lines = listed(r, verb);
  const i = names(r, verb).indexOf(name);
  if (i === -1) return undefined;
  const m = /^\(([^)]*)\)/.exec(lines[i]!)!;
  return m[1] === "" ? [] : m[1]!.split(" ");
}

describe("LIST patterns and mailbox names (pure)", () => {
  const match = (pattern: string, name: string): boolean => compilePattern(pattern)?.matches(name) ?? false;

  it('matches "*" across levels and "%" within one', () => {
    assert.ok(match("*", "a/b/c"));
    assert.ok(match("%", "abc") && !match("%", "a/b"));
    assert.ok(match("a/%/c", "a/b/c") && !match("a/%/c", "a/b/x/c") && match("a/*/c", "a/b/x/c"));
    assert.ok(match("%*%", "a/b"), "a run of wildcards with a * is a *");
    assert.ok(!match("%%", "a/b"));
    assert.ok(match("", "") && !match("", "a"));
    assert.ok(match("a*b*c", "aXbYc") && !match("a*b*c", "aXcYb"));
  });

  it("matches INBOX in any case, only INBOX", () => {
    assert.ok(match("inbox", "INBOX") && match("InBoX/%", "INBOX/x") && match("i*", "INBOX"));
    assert.ok(!match("inbox", "Inbox2") && !match("sent", "Sent"), "other names are case-sensitive");
    assert.equal(canonicalPattern("inbox/", "%"), "INBOX/%");
    assert.equal(canonicalPattern("Work/", "*"), "Work/*");
  });

  it("ignores patterns too long to match any name", () => {
    assert.equal(compilePattern("x".repeat(256)), null);
    assert.ok(compilePattern(`${"*".repeat(10_000)}x`)?.matches("x"));
  });

  it("normalises and checks names", () => {
    assert.deepEqual(checkMailboxName("inbox/Sub"), { ok: true, name: "INBOX/Sub" });
    assert.deepEqual(checkMailboxName("Cafe\u0301"), { ok: true, name: "Café" });
    assert.deepEqual(checkMailboxName("a/", { trailingDelimiter: true }), { ok: true, name: "a" });
    for (const bad of [
      "",
      "a/",
      "/a",
      "a//b",
      "..",
      "a/../b",
      "./a",
      "a*",
      "b%",
      "x\u0000",
      "n".repeat(128) + "ü".repeat(64),
    ]) {
      assert.equal(checkMailboxName(bad).ok, false, JSON.stringify(bad));
    }
    assert.deepEqual(parentNames("a/b/c"), ["a", "a/b"]);
    assert.deepEqual(parentNames("a"), []);
  });
});

describe("IMAP mailbox commands and APPEND", () => {
  let t: TestServer;
  const accounts = new Map<string, Account>();

  before(async () => {
    t = await startTestServer(
      { listen: { imap: ["127.0.0.1:0"] }, limits: { message_size: MESSAGE_LIMIT } },
      {
        users: [
          ...USERS,
          { address: "quota@example.test", password: PASSWORD, quota: 64 * 1024 },
          { address: "tight@example.test", password: PASSWORD, quota: 4000 },
        ],
      },
    );
    for (const u of [...USERS.map((x) => x.address), "quota@example.test", "tight@example.test"]) {
      accounts.set(u, (await t.server.store.getAccount(u))!);
    }
  });
  after(() => t.stop());

  async function login(user: string): Promise<ImapRaw> {
    const c = await ImapRaw.connect(t.port("imap"));
    await c.login(`${user}@example.test`, PASSWORD);
    return c;
  }

  async function mailboxOf(user: string, name: string) {
    const box = await t.server.store.getMailbox(accounts.get(`${user}@example.test`)!.id, name);
    assert.ok(box, `mailbox ${name} of ${user}`);
    return box;
  }

  async function ok(c: ImapRaw, line: string): Promise<ImapResponse> {
    const r = await c.cmd(line);
    assert.equal(r.status, "OK", `${line} → ${r.text}`);
    return r;
  }

  // ------------------------------------------------------------------ LIST

  describe("LIST", () => {
    let c: ImapRaw;
    before(async () => {
      c = await login("list");
      for (const n of ["Fruit/Apple", "Fruit/Banana", "Vegetable/Corn", "inbox/Receipts", "Tofu"]) {
        await ok(c, `CREATE ${n}`);
      }
      // a mailbox whose parent does not exist (the store allows it; e.g. made by an admin tool)
      await t.server.store.createMailbox(accounts.get("list@example.test")!.id, "Orphan/Child");
      await ok(c, "UNSUBSCRIBE Fruit");
      await ok(c, "UNSUBSCRIBE Fruit/Banana");
      await ok(c, "UNSUBSCRIBE Tofu");
    });
    after(() => c.close());

    it('answers LIST "" "" with the delimiter', async () => {
      const r = await ok(c, 'LIST "" ""');
      assert.deepEqual(r.untagged, ['LIST (\\Noselect) "/" ""']);
    });

    it('lists everything with "*", INBOX first, with children and special-use attributes', async () => {
      const r = await ok(c, 'LIST "" "*"');
      assert.deepEqual(names(r), [
        "INBOX",
        "Archive",
        "Drafts",
        "Fruit",
        "Fruit/Apple",
        "Fruit/Banana",
        "INBOX/Receipts",
        "Junk",
        "Orphan/Child",
        "Sent",
        "Tofu",
        "Trash",
        "Vegetable",
        "Vegetable/Corn",
      ]);
      assert.deepEqual(attrsOf(r, "INBOX"), ["\\HasChildren"]);
      assert.deepEqual(attrsOf(r, "Fruit"), ["\\HasChildren"]);
      assert.deepEqual(attrsOf(r, "Fruit/Apple"), ["\\HasNoChildren"]);
      assert.deepEqual(attrsOf(r, "Sent"), ["\\HasNoChildren", "\\Sent"]);
      assert.deepEqual(attrsOf(r, "Trash"), ["\\HasNoChildren", "\\Trash"]);
      assert.equal(
        attrsOf(r, "Orphan"),
        undefined,
        '"*" matches the child: the missing parent is not listed',
      );
    });

    it('lists one level with "%", a missing parent as \\Noselect (rev1)', async () => {
      const r = await ok(c, 'LIST "" %');
      assert.deepEqual(names(r), [
        "INBOX",
        "Archive",
        "Drafts",
        "Fruit",
        "Junk",
        "Orphan",
        "Sent",
        "Tofu",
        "Trash",
        "Vegetable",
      ]);
      assert.deepEqual(attrsOf(r, "Orphan"), ["\\Noselect", "\\HasChildren"]);
      assert.deepEqual(attrsOf(r, "Vegetable"), ["\\HasChildren"], "CREATE made the parent");
    });

    it("matches nested patterns and references", async () => {
      assert.deepEqual(names(await ok(c, 'LIST "" Fruit/%')), ["Fruit/Apple", "Fruit/Banana"]);
      assert.deepEqual(names(await ok(c, 'LIST "Fruit/" "%"')), ["Fruit/Apple", "Fruit/Banana"]);
      assert.deepEqual(names(await ok(c, 'LIST "Fruit/" "*n*"')), ["Fruit/Banana"]);
      assert.deepEqual(names(await ok(c, 'LIST "" "%/%"')), [
        "Fruit/Apple",
        "Fruit/Banana",
        "INBOX/Receipts",
        "Orphan/Child",
        "Vegetable/Corn",
      ]);
      assert.deepEqual(names(await ok(c, 'LIST "" "*a*a*"')), ["Fruit/Banana"]);
      assert.deepEqual(names(await ok(c, 'LIST "" "Fruit%"')), ["Fruit"], '"%" does not cross the delimiter');
      assert.deepEqual(names(await ok(c, 'LIST "" "Fruit*"')), ["Fruit", "Fruit/Apple", "Fruit/Banana"]);
      // the missing "Orphan" matches, and its child does not: listed for the child (RFC 9051 §6.3.9.3)
      assert.deepEqual(names(await ok(c, 'LIST "" "%an%"')), ["Orphan"]);
      assert.deepEqual(names(await ok(c, 'LIST "" "*an*"')), ["Fruit/Banana", "Orphan/Child"]);
      assert.deepEqual(names(await ok(c, 'LIST "" "T%"')), ["Tofu", "Trash"]);
      assert.deepEqual(names(await ok(c, 'LIST "" "NoSuch*"')), []);
    });

    it("matches INBOX case-insensitively, also as a parent", async () => {
      assert.deepEqual(names(await ok(c, 'LIST "" inbox')), ["INBOX"]);
      assert.deepEqual(names(await ok(c, 'LIST "" "iNbOx/%"')), ["INBOX/Receipts"]);
      assert.deepEqual(names(await ok(c, 'LIST "inbox/" "*"')), ["INBOX/Receipts"]);
      assert.deepEqual(names(await ok(c, 'LIST "" "in*"')), ["INBOX", "INBOX/Receipts"]);
    });

    it("survives a pathological pattern quickly", async () => {
      const started = Date.now();
      const r = await ok(c, `LIST "" "${"*a".repeat(100)}*b"`);
      assert.deepEqual(names(r), []);
      assert.ok(Date.now() - started < 1000);
      assert.deepEqual(names(await ok(c, `LIST "" "${"x".repeat(300)}*"`)), []);
    });

    it("takes several patterns (LIST-EXTENDED) and lists each name once", async () => {
      const r = await ok(c, 'LIST "" (Tofu "Fruit/*" "*Apple" "")');
      assert.deepEqual(names(r), ["Fruit/Apple", "Fruit/Banana", "Tofu"]);
    });

    it("selects special-use mailboxes (RFC 6154)", async () => {
      const r = await ok(c, 'LIST (SPECIAL-USE) "" "*"');
      assert.deepEqual(names(r), ["Archive", "Drafts", "Junk", "Sent", "Trash"]);
      const ret = await ok(c, 'LIST "" "Sent" RETURN (SPECIAL-USE)');
      assert.deepEqual(attrsOf(ret, "Sent"), ["\\HasNoChildren", "\\Sent"]);
    });

    it("selects subscribed mailboxes and returns \\Subscribed", async () => {
      const sub = await ok(c, 'LIST (SUBSCRIBED) "" "*"');
      assert.ok(
        !names(sub).includes("Fruit") && !names(sub).includes("Fruit/Banana") && !names(sub).includes("Tofu"),
      );
      assert.ok(names(sub).includes("Fruit/Apple"));
      assert.deepEqual(attrsOf(sub, "Fruit/Apple"), ["\\HasNoChildren", "\\Subscribed"]);
      const ret = await ok(c, 'LIST "" "T%" RETURN (SUBSCRIBED CHILDREN)');
      assert.deepEqual(attrsOf(ret, "Tofu"), ["\\HasNoChildren"]);
      assert.deepEqual(attrsOf(ret, "Trash"), ["\\HasNoChildren", "\\Trash", "\\Subscribed"]);
    });

    it("reports parents of subscribed mailboxes with RECURSIVEMATCH (CHILDINFO)", async () => {
      const r = await ok(c, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"');
      const fruit = listed(r)[names(r).indexOf("Fruit")];
      assert.equal(fruit, '(\\HasChildren) "/" Fruit ("CHILDINFO" ("SUBSCRIBED"))');
      assert.deepEqual(attrsOf(r, "Vegetable"), ["\\HasChildren", "\\Subscribed"]);
      assert.ok(listed(r)[names(r).indexOf("Vegetable")]!.endsWith('("CHILDINFO" ("SUBSCRIBED"))'));
      assert.ok(!names(r).includes("Tofu"));
      // without RECURSIVEMATCH an unsubscribed parent is not listed (RFC 9051 §6.3.9.8 example 7)
      assert.ok(!names(await ok(c, 'LIST (SUBSCRIBED) "" "%"')).includes("Fruit"));
      assert.equal((await c.cmd('LIST (RECURSIVEMATCH) "" "%"')).status, "BAD");
    });

    it("returns STATUS after each selectable mailbox (LIST-STATUS)", async () => {
      const r = await ok(c, 'LIST "" "%" RETURN (STATUS (MESSAGES UIDNEXT UNSEEN))');
      const lines = r.untagged;
      const i = lines.indexOf('LIST (\\HasNoChildren) "/" Tofu');
      assert.ok(i >= 0, lines.join("\n"));
      assert.match(lines[i + 1]!, /^STATUS Tofu \(MESSAGES 0 UIDNEXT 1 UNSEEN 0\)$/);
      const orphan = lines.indexOf('LIST (\\NonExistent \\HasChildren) "/" Orphan');
      assert.ok(orphan >= 0, "extended LIST says \\NonExistent");
      assert.ok(!lines[orphan + 1]?.startsWith("STATUS"), "no STATUS for a name that does not exist");
      assert.equal(lines.filter((l) => l.startsWith("STATUS")).length, names(r).length - 1);
    });

    it("refuses unknown options with BAD", async () => {
      assert.equal((await c.cmd('LIST (FOO) "" "*"')).status, "BAD");
      assert.equal((await c.cmd('LIST "" "*" RETURN (FOO)')).status, "BAD");
    });

    it("says \\NonExistent in IMAP4rev2", async () => {
      const c2 = await login("list");
      await ok(c2, "ENABLE IMAP4rev2");
      const r = await ok(c2, 'LIST "" "O%"');
      assert.deepEqual(listed(r), ['(\\NonExistent \\HasChildren) "/" Orphan']);
      c2.close();
    });
  });

  // ------------------------------------------------------------------ LSUB

  describe("LSUB", () => {
    it("lists subscribed names, with \\Noselect for an unsubscribed parent under %", async () => {
      const c = await login("lsub");
      await ok(c, "CREATE Work/Reports");
      await ok(c, "UNSUBSCRIBE Work");
      await ok(c, "UNSUBSCRIBE Junk");
      const all = await ok(c, 'LSUB "" "*"');
      assert.deepEqual(names(all, "LSUB"), ["INBOX", "Archive", "Drafts", "Sent", "Trash", "Work/Reports"]);
      assert.deepEqual(attrsOf(all, "Work/Reports", "LSUB"), []);
      const top = await ok(c, 'LSUB "" "%"');
      assert.deepEqual(names(top, "LSUB"), ["INBOX", "Archive", "Drafts", "Sent", "Trash", "Work"]);
      assert.deepEqual(attrsOf(top, "Work", "LSUB"), ["\\Noselect"]);
      assert.deepEqual(names(await ok(c, 'LSUB "Work/" "%"'), "LSUB"), ["Work/Reports"]);
      c.close();
    });
  });

  // ------------------------------------------------------------------ CREATE

  describe("CREATE", () => {
    let c: ImapRaw;
    before(async () => {
      c = await login("create");
    });
    after(() => c.close());

    it("creates missing parents", async () => {
      await ok(c, "CREATE a/b/c");
      const r = await ok(c, 'LIST "" "a*"');
      assert.deepEqual(names(r), ["a", "a/b", "a/b/c"]);
      assert.deepEqual(attrsOf(r, "a"), ["\\HasChildren"]);
    });

    it("refuses existing names with ALREADYEXISTS", async () => {
      for (const n of ["a", "a/b", "INBOX", "inbox", "Sent", "a/"]) {
        const r = await c.cmd(`CREATE ${n}`);
        assert.equal(r.status, "NO", n);
        assert.match(r.text, /^NO \[ALREADYEXISTS\]/, n);
      }
    });

    it("strips one trailing delimiter", async () => {
      await ok(c, "CREATE Projects/");
      assert.deepEqual(names(await ok(c, 'LIST "" "Proj*"')), ["Projects"]);
    });

    it("puts inbox children under INBOX", async () => {
      await ok(c, "CREATE inbox/Later");
      assert.deepEqual(names(await ok(c, 'LIST "" "INBOX/*"')), ["INBOX/Later"]);
    });

    it("creates special-use mailboxes with USE and refuses unsupported uses", async () => {
      await ok(c, "CREATE MySent (USE (\\Sent))");
      assert.deepEqual(attrsOf(await ok(c, 'LIST "" MySent'), "MySent"), ["\\HasNoChildren", "\\Sent"]);
      const all = await c.cmd("CREATE Everything (USE (\\All))");
      assert.match(all.text, /^NO \[USEATTR\]/);
      const two = await c.cmd("CREATE Both (USE (\\Sent \\Trash))");
      assert.match(two.text, /^NO \[USEATTR\]/);
      assert.deepEqual(names(await ok(c, 'LIST "" "Every*"')), [], "nothing created");
    });

    it("refuses bad names, traversal attempts included, with CANNOT", async () => {
      const bad = [
        '"../x"',
        '".."',
        '"."',
        '"a/../b"',
        '"a/./b"',
        '"a//b"',
        '"/a"',
        '"//"',
        '"*"',
        '"a%b"',
        '"x*"',
        `"${"n".repeat(256)}"`,
        '""',
      ];
      for (const n of bad) {
        const r = await c.cmd(`CREATE ${n}`);
        assert.equal(r.status, "NO", n);
        assert.match(r.text, /^NO \[CANNOT\] Invalid mailbox name/, n);
      }
      // control characters can only come in a literal of a UTF-8 session (mUTF-7 has none)
      const u = await login("create");
      await ok(u, "ENABLE UTF8=ACCEPT");
      for (const n of ["tab\there", "bell\u0007", "del\u007f", "c1\u0085"]) {
        const r = await u.literalCmd("CREATE", n);
        assert.match(r.text, /^NO \[CANNOT\] Invalid mailbox name: control characters/, JSON.stringify(n));
      }
      u.close();
      const long = "n".repeat(255);
      await ok(c, `CREATE ${long}`);
      // nothing outside the listed names was made
      assert.deepEqual(names(await ok(c, 'LIST "" "*.*"')), []);
    });

    it("keeps accounts apart", async () => {
      await ok(c, "CREATE Private");
      const other = await login("other");
      for (const cmd of [
        "STATUS Private (MESSAGES)",
        "DELETE Private",
        "SELECT Private",
        "RENAME Private Mine",
      ]) {
        const r = await other.cmd(cmd);
        assert.equal(r.status, "NO", cmd);
        assert.match(r.text, /NONEXISTENT/, cmd);
      }
      assert.deepEqual(names(await ok(other, 'LIST "" "Priv*"')), []);
      other.close();
    });
  });

  // ------------------------------------------------------------------ DELETE

  describe("DELETE", () => {
    it("refuses INBOX and missing mailboxes; a mailbox with children becomes \\Noselect (RFC 9051 §6.3.5)", async () => {
      const c = await login("delete");
      const inbox = await c.cmd("DELETE inbox");
      assert.match(inbox.text, /^NO \[CANNOT\]/);
      const missing = await c.cmd("DELETE Nope");
      assert.match(missing.text, /^NO \[NONEXISTENT\]/);
      await ok(c, "CREATE Parent/Child");
      await ok(c, "DELETE Parent");
      const listed = await ok(c, 'LIST "" "Parent"');
      assert.match(listed.untagged.join("|"), /LIST \([^)]*\\Noselect[^)]*\) "\/" Parent/);
      assert.match((await c.cmd("SELECT Parent")).text, /^NO /);
      assert.match((await c.cmd("STATUS Parent (MESSAGES)")).text, /^NO /);
      // a \Noselect mailbox that still has children cannot be deleted
      const again = await c.cmd("DELETE Parent");
      assert.match(again.text, /^NO \[HASCHILDREN\]/);
      // CREATE makes it a real mailbox again
      await ok(c, "CREATE Parent");
      await ok(c, "SELECT Parent");
      await ok(c, "UNSELECT");
      await ok(c, "DELETE Parent/Child");
      await ok(c, "DELETE Parent");
      assert.deepEqual(names(await ok(c, 'LIST "" "Parent*"')), []);
      c.close();
    });

    it("deletes the selected mailbox", async () => {
      const c = await login("delete");
      await ok(c, "CREATE Doomed");
      await ok(c, "SELECT Doomed");
      await ok(c, "DELETE Doomed");
      assert.match((await c.cmd("STATUS Doomed (MESSAGES)")).text, /NONEXISTENT/);
      c.close();
    });
  });

  // ------------------------------------------------------------------ RENAME

  describe("RENAME", () => {
    it("moves children along and creates new parents", async () => {
      const c = await login("rename");
      await ok(c, "CREATE Proj/A/Deep");
      await ok(c, "CREATE Proj/B");
      await ok(c, "RENAME Proj Work/Proj");
      assert.deepEqual(names(await ok(c, 'LIST "" "*Proj*"')), [
        "Work/Proj",
        "Work/Proj/A",
        "Work/Proj/A/Deep",
        "Work/Proj/B",
      ]);
      assert.deepEqual(attrsOf(await ok(c, 'LIST "" Work'), "Work"), ["\\HasChildren"]);
      c.close();
    });

    it("refuses missing sources, existing targets, bad names and moves into itself", async () => {
      const c = await login("rename");
      await ok(c, "CREATE X");
      await ok(c, "CREATE Y");
      assert.match((await c.cmd("RENAME Nope Z")).text, /^NO \[NONEXISTENT\]/);
      assert.match((await c.cmd("RENAME X Y")).text, /^NO \[ALREADYEXISTS\]/);
      assert.match((await c.cmd("RENAME X inbox")).text, /^NO \[ALREADYEXISTS\]/);
      assert.match((await c.cmd('RENAME X "../escape"')).text, /^NO \[CANNOT\]/);
      assert.match((await c.cmd("RENAME X X/Sub")).text, /^NO \[CANNOT\]/);
      c.close();
    });

    it("renames INBOX by moving its messages (RFC 9051 §6.3.6)", async () => {
      const c = await login("rename");
      await ok(c, "CREATE INBOX/Kept");
      for (const s of ["one", "two"]) {
        assert.equal((await c.literalCmd("APPEND INBOX", message(s))).status, "OK");
      }
      await ok(c, "RENAME INBOX Old");
      const st = await ok(c, "STATUS INBOX (MESSAGES)");
      assert.deepEqual(st.untagged, ["STATUS INBOX (MESSAGES 0)"]);
      assert.deepEqual((await ok(c, "STATUS Old (MESSAGES)")).untagged, ["STATUS Old (MESSAGES 2)"]);
      assert.deepEqual(names(await ok(c, 'LIST "" "INBOX*"')), ["INBOX", "INBOX/Kept"]);
      c.close();
    });
  });

  // ------------------------------------------------------------------ SUBSCRIBE

  describe("SUBSCRIBE / UNSUBSCRIBE", () => {
    it("changes what LSUB and LIST (SUBSCRIBED) show", async () => {
      const c = await login("lsub");
      await ok(c, "CREATE Topic");
      await ok(c, "UNSUBSCRIBE Topic");
      await ok(c, "UNSUBSCRIBE Topic"); // not subscribed: still OK
      assert.deepEqual(names(await ok(c, 'LSUB "" Topic'), "LSUB"), []);
      assert.equal((await c.cmd("SUBSCRIBE topic")).status, "NO", "names are case-sensitive but INBOX");
      await ok(c, "SUBSCRIBE Topic");
      assert.deepEqual(names(await ok(c, 'LIST (SUBSCRIBED) "" Topic')), ["Topic"]);
      const missing = await c.cmd("SUBSCRIBE Ghost");
      assert.match(missing.text, /^NO \[NONEXISTENT\] .*create it first/);
      await ok(c, "UNSUBSCRIBE Ghost");
      c.close();
    });
  });

  // ------------------------------------------------------------------ STATUS

  describe("STATUS", () => {
    it("reports every item", async () => {
      const c = await login("status");
      await ok(c, "CREATE Box");
      const m1 = message("s1");
      const m2 = message("s2");
      assert.equal((await c.literalCmd("APPEND Box (\\Seen)", m1)).status, "OK");
      assert.equal((await c.literalCmd("APPEND Box (\\Deleted)", m2)).status, "OK");
      const box = await mailboxOf("status", "Box");
      const r = await ok(
        c,
        "STATUS Box (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT)",
      );
      assert.deepEqual(r.untagged, [
        `STATUS Box (MESSAGES 2 UIDNEXT 3 UIDVALIDITY ${box.uidValidity} UNSEEN 1 DELETED 1 SIZE ${m1.length + m2.length} RECENT 0 HIGHESTMODSEQ ${box.highestModseq} APPENDLIMIT ${MESSAGE_LIMIT})`,
      ]);
      assert.match((await c.cmd("STATUS Nope (MESSAGES)")).text, /^NO \[NONEXISTENT\]/);
      assert.equal((await c.cmd("STATUS Box (BOGUS)")).status, "BAD");
      // the selected mailbox may be asked too
      await ok(c, "SELECT Box");
      assert.deepEqual((await ok(c, "STATUS Box (MESSAGES)")).untagged, ["STATUS Box (MESSAGES 2)"]);
      c.close();
    });

    it("enables CONDSTORE with STATUS (HIGHESTMODSEQ) (RFC 7162 §3.1)", async () => {
      const c = await login("status");
      await ok(c, "SELECT Box");
      const box = await mailboxOf("status", "Box");
      const r = await ok(c, "STATUS Box (HIGHESTMODSEQ)");
      assert.deepEqual(r.untagged, [
        `STATUS Box (HIGHESTMODSEQ ${box.highestModseq})`,
        `OK [HIGHESTMODSEQ ${box.highestModseq}] Highest`,
      ]);
      assert.equal((await ok(c, "STATUS Box (HIGHESTMODSEQ)")).untagged.length, 1, "said once");
      c.close();
    });
  });

  // ------------------------------------------------------------------ NAMESPACE and QUOTA

  describe("NAMESPACE and QUOTA", () => {
    it("has one personal namespace", async () => {
      const c = await login("status");
      assert.deepEqual((await ok(c, "NAMESPACE")).untagged, ['NAMESPACE (("" "/")) NIL NIL']);
      c.close();
    });

    it('reports the account quota under the root ""', async () => {
      const c = await ImapRaw.connect(t.port("imap"));
      await c.login("quota@example.test", PASSWORD);
      const body = "x".repeat(3000);
      assert.equal((await c.literalCmd("APPEND INBOX", message("q", body))).status, "OK");
      const root = await ok(c, "GETQUOTAROOT INBOX");
      assert.deepEqual(root.untagged, ['QUOTAROOT INBOX ""', 'QUOTA "" (STORAGE 4 64)']);
      assert.deepEqual((await ok(c, "GETQUOTAROOT NotYet")).untagged[0], 'QUOTAROOT NotYet ""');
      assert.deepEqual((await ok(c, 'GETQUOTA ""')).untagged, ['QUOTA "" (STORAGE 4 64)']);
      assert.match((await c.cmd('GETQUOTA "other"')).text, /^NO \[NONEXISTENT\]/);
      assert.match((await c.cmd('SETQUOTA "" (STORAGE 100)')).text, /^NO \[NOPERM\]/);
      // a message that does not fit is refused before its bytes are sent
      const big = await c.literalCmd("APPEND INBOX", "y".repeat(70 * 1024));
      assert.match(big.text, /^NO \[OVERQUOTA\]/);
      assert.ok(!big.raw.startsWith("+"));
      c.close();
      const u = await login("status");
      assert.deepEqual((await ok(u, "GETQUOTAROOT INBOX")).untagged, ['QUOTAROOT INBOX ""', 'QUOTA "" ()']);
      u.close();
    });
  });

  // ------------------------------------------------------------------ APPEND

  describe("APPEND", () => {
    it("stores a message with its flags and date and answers APPENDUID", async () => {
      const c = await login("append");
      const box = await mailboxOf("append", "INBOX");
      const msg = message("flags and date");
      const r = await c.literalCmd(
        'APPEND INBOX (\\Seen $Important \\Recent) "05-Mar-2024 10:20:30 +0100"',
        msg,
      );
      assert.equal(r.status, "OK", r.text);
      const m = /^OK \[APPENDUID (\d+) (\d+)\] /.exec(r.text);
      assert.ok(m, r.text);
      assert.equal(Number(m[1]), box.uidValidity);
      const stored = await t.server.store.getMessage(box.id, Number(m[2]));
      assert.ok(stored);
      assert.deepEqual(stored.flags, ["\\Seen", "$Important"]);
      assert.equal(stored.internalDate.getTime(), Date.UTC(2024, 2, 5, 9, 20, 30));
      assert.equal(stored.envelope.subject, "flags and date");
      assert.equal(stored.size, Buffer.byteLength(msg));
      c.close();
    });

    it("takes non-synchronizing literals (LITERAL+) without a continuation", async () => {
      const c = await login("append");
      const r = await appendPlus(c, "INBOX", [{ pre: "(\\Flagged)", data: message("literal plus") }]);
      assert.equal(r.status, "OK", r.text);
      assert.ok(!r.raw.includes("+ "), "no continuation request");
      assert.match(r.text, /^OK \[APPENDUID \d+ \d+\]/);
      c.close();
    });

    it("refuses a missing mailbox with TRYCREATE before the literal", async () => {
      const c = await login("append");
      const r = await c.literalCmd("APPEND Nowhere", message("x"));
      assert.match(r.raw, /^A\d+ NO \[TRYCREATE\]/);
      const bad = await c.literalCmd('APPEND "../x"', message("x"));
      assert.match(bad.raw, /^A\d+ NO \[CANNOT\]/);
      assert.equal((await c.cmd("NOOP")).status, "OK", "the session is in step");
      c.close();
    });

    it("refuses a message over APPENDLIMIT with TOOBIG and no continuation", async () => {
      const c = await login("append");
      const tag = c.nextTag();
      c.write(`${tag} APPEND INBOX {${MESSAGE_LIMIT + 1}}\r\n`);
      const r = await c.until(tag);
      assert.match(r.text, /^NO \[TOOBIG\]/);
      assert.equal(r.untagged.length, 0, "no continuation request");
      assert.equal((await c.cmd("NOOP")).status, "OK");
      c.close();
    });

    it("refuses a message with an unknown system flag before the literal", async () => {
      const c = await login("append");
      const r = await c.literalCmd("APPEND INBOX (\\Bogus)", message("x"));
      assert.match(r.raw, /^A\d+ NO /);
      c.close();
    });

    it("refuses APPEND before login without taking the literal", async () => {
      const c = await ImapRaw.connect(t.port("imap"));
      const r = await c.literalCmd("APPEND INBOX", message("x"));
      assert.match(r.raw, /^A\d+ BAD /);
      assert.equal((await c.cmd("NOOP")).status, "OK");
      c.close();
    });

    it("takes binary data as literal8 and refuses NUL in a plain literal", async () => {
      const c = await login("append");
      const bin = Buffer.concat([Buffer.from(message("binary", "")), Buffer.from([0, 1, 2, 0, 13, 10])]);
      const tag = c.nextTag();
      c.write(
        Buffer.concat([Buffer.from(`${tag} APPEND INBOX ~{${bin.length}+}\r\n`), bin, Buffer.from("\r\n")]),
      );
      const r = await c.until(tag);
      assert.equal(r.status, "OK", r.text);
      const nul = await appendPlus(c, "INBOX", [{ data: bin }]);
      assert.equal(nul.status, "NO");
      assert.match(nul.text, /literal8/);
      c.close();
    });

    it("tells the client about the new message when the mailbox is selected", async () => {
      const c = await login("append");
      await ok(c, "CREATE Watched");
      const sel = await ok(c, "SELECT Watched");
      assert.ok(sel.untagged.includes("0 EXISTS"));
      const r = await c.literalCmd("APPEND Watched", message("seen live"));
      assert.equal(r.status, "OK");
      assert.ok(r.untagged.includes("1 EXISTS"), r.untagged.join("|"));
      c.close();
    });

    it("stores a 5 MB message byte for byte", async () => {
      const c = await login("append");
      const line = "The quick brown fox jumps over the lazy dog 0123456789 ÄÖÜ äöü ß\r\n";
      const lines: string[] = [message("big", "")];
      let size = Buffer.byteLength(lines[0]!);
      for (let i = 0; size < 5 * 1024 * 1024; i++) {
        const l = `${i} ${line}`;
        lines.push(l);
        size += Buffer.byteLength(l);
      }
      const data = Buffer.from(lines.join(""));
      const r = await c.literalCmd("APPEND INBOX", data);
      assert.equal(r.status, "OK", r.text);
      const uid = Number(/APPENDUID \d+ (\d+)/.exec(r.text)![1]);
      const box = await mailboxOf("append", "INBOX");
      const stored = await t.server.store.getMessage(box.id, uid);
      assert.ok(stored);
      assert.equal(stored.prefix.length, 0, "APPEND adds no trace headers");
      assert.equal(stored.size, data.length);
      const blob = await t.server.store.blobs.read(stored.blobId);
      assert.ok(blob.equals(data), "the stored bytes are the appended bytes");
      assert.equal(stored.mime.bodyLines, lines.length - 1);
      // the full-text index saw it through the same parser as SMTP
      assert.deepEqual(await t.server.store.searchText(box.id, "lazy"), [uid]);
      c.close();
    });
  });

  // ------------------------------------------------------------------ MULTIAPPEND

  describe("MULTIAPPEND", () => {
    it("appends several messages in one command", async () => {
      const c = await login("multi");
      await ok(c, "CREATE Many");
      const tag = c.nextTag();
      const m1 = Buffer.from(message("first"));
      const m2 = Buffer.from(message("second"));
      c.write(`${tag} APPEND Many (\\Seen) {${m1.length}}\r\n`);
      assert.match((await c.readResponse()).toString(), /^\+ /);
      c.write(
        Buffer.concat([m1, Buffer.from(` (\\Flagged) "01-Jan-2020 00:00:00 +0000" {${m2.length}}\r\n`)]),
      );
      assert.match((await c.readResponse()).toString(), /^\+ /);
      c.write(Buffer.concat([m2, Buffer.from("\r\n")]));
      const r = await c.until(tag);
      const box = await mailboxOf("multi", "Many");
      assert.equal(r.text, `OK [APPENDUID ${box.uidValidity} 1:2] APPEND completed`);
      const msgs = await t.server.store.listMessages(box.id);
      assert.deepEqual(
        msgs.map((m) => m.flags),
        [["\\Seen"], ["\\Flagged"]],
      );
      assert.equal(msgs[1]!.internalDate.getTime(), Date.UTC(2020, 0, 1));
      // with LITERAL+
      const plus = await appendPlus(c, "Many", [
        { data: message("third") },
        { pre: "()", data: message("fourth") },
      ]);
      assert.equal(plus.text, `OK [APPENDUID ${box.uidValidity} 3:4] APPEND completed`);
      c.close();
    });

    it("stores nothing when one message is refused", async () => {
      const c = await login("multi");
      await ok(c, "CREATE None");
      const box = await mailboxOf("multi", "None");
      // the second message has a NUL in a plain literal
      const bad = Buffer.concat([Buffer.from(message("nul")), Buffer.from([0])]);
      const r = await appendPlus(c, "None", [{ data: message("fine") }, { data: bad }]);
      assert.equal(r.status, "NO");
      // the second literal is over the limit: refused at its announcement
      const tag = c.nextTag();
      const m1 = Buffer.from(message("fine"));
      c.write(`${tag} APPEND None {${m1.length}}\r\n`);
      await c.readResponse();
      c.write(Buffer.concat([m1, Buffer.from(` {${MESSAGE_LIMIT + 1}}\r\n`)]));
      const big = await c.until(tag);
      assert.match(big.text, /^NO \[TOOBIG\]/);
      assert.equal((await c.cmd("NOOP")).status, "OK");
      assert.deepEqual(await t.server.store.listMessages(box.id), []);
      assert.deepEqual((await ok(c, "STATUS None (MESSAGES UIDNEXT)")).untagged, [
        "STATUS None (MESSAGES 0 UIDNEXT 1)",
      ]);
      c.close();
    });

    it("takes back what it stored when a later message fails in the store", async () => {
      const c = await ImapRaw.connect(t.port("imap"));
      await c.login("tight@example.test", PASSWORD);
      const account = accounts.get("tight@example.test")!;
      const inbox = await t.server.store.getMailbox(account.id, "INBOX");
      const m1 = Buffer.from(message("small", "a\r\n".repeat(100)));
      const m2 = Buffer.from(message("large", "b\r\n".repeat(1000)));
      assert.ok(m1.length + m2.length <= 4000);
      const tag = c.nextTag();
      c.write(`${tag} APPEND INBOX {${m1.length}}\r\n`);
      await c.readResponse();
      c.write(Buffer.concat([m1, Buffer.from(` {${m2.length}}\r\n`)]));
      assert.match((await c.readResponse()).toString(), /^\+ /, "both fit when announced");
      // meanwhile, mail arrives and eats the room the second message needed
      const smtp = await RawSmtp.connect(t.port("smtp"));
      await smtp.read();
      await smtp.cmd("EHLO test");
      await smtp.cmd("MAIL FROM:<x@remote.test>");
      assert.equal((await smtp.cmd("RCPT TO:<tight@example.test>")).code, 250);
      await smtp.cmd("DATA");
      smtp.write(`Subject: filler\r\n\r\n${`${"c".repeat(58)}\r\n`.repeat(20)}.\r\n`);
      assert.equal((await smtp.read()).code, 250);
      smtp.close();
      const used = (await t.server.store.getQuota(account.id)).usedBytes;
      assert.ok(used + m1.length <= 4000 && used + m1.length + m2.length > 4000, `filler used ${used}`);
      c.write(Buffer.concat([m2, Buffer.from("\r\n")]));
      const r = await c.until(tag);
      assert.match(r.text, /^NO \[OVERQUOTA\]/);
      const left = await t.server.store.listMessages(inbox!.id);
      assert.equal(left.length, 1, "only the SMTP message remains");
      assert.equal((await t.server.store.getQuota(account.id)).usedBytes, used);
      c.close();
    });
  });

  // ------------------------------------------------------------------ names

  describe("mailbox name encodings", () => {
    it("uses modified UTF-7 for rev1 and UTF-8 after ENABLE UTF8=ACCEPT", async () => {
      const c = await login("names");
      await ok(c, "CREATE Entw&APw-rfe");
      await ok(c, 'CREATE "Caf&AOk- &- Bar"');
      assert.deepEqual(names(await ok(c, 'LIST "" "Entw*"')), ["Entw&APw-rfe"]);
      assert.deepEqual(names(await ok(c, 'LIST "" "Caf*"')), ["Caf&AOk- &- Bar"]);
      assert.equal((await c.cmd("CREATE Entw&APw")).status, "BAD", "invalid modified UTF-7");
      assert.deepEqual((await ok(c, "STATUS Entw&APw-rfe (MESSAGES)")).untagged, [
        "STATUS Entw&APw-rfe (MESSAGES 0)",
      ]);

      const u = await login("names");
      await ok(u, "ENABLE UTF8=ACCEPT");
      assert.deepEqual(names(await ok(u, 'LIST "" "Entw*"')), ["Entwürfe"]);
      assert.deepEqual(names(await ok(u, 'LIST "" "Caf*"')), ["Café & Bar"]);
      await ok(u, 'CREATE "Bücher/Романы"');
      assert.deepEqual(names(await ok(c, 'LIST "" "B*"')), ["B&APw-cher", "B&APw-cher/&BCAEPgQ8BDAEPQRL-"]);
      assert.deepEqual((await ok(u, 'STATUS "Bücher" (MESSAGES)')).untagged, [
        'STATUS "Bücher" (MESSAGES 0)',
      ]);
      // a decomposed name is stored composed (NFC) and announced with OLDNAME
      const nfd = "Cafe\u0301s";
      const r = await ok(u, `CREATE "${nfd}"`);
      assert.deepEqual(r.untagged, [`LIST () "/" "Cafés" ("OLDNAME" ("${nfd}"))`]);
      assert.deepEqual(names(await ok(u, 'LIST "" "Cafés"')), ["Cafés"]);
      c.close();
      u.close();
    });
  });
});
