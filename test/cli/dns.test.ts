// `postamt dns DOMAIN`: zone-file lines a sysadmin can paste, and DKIM records that really verify the
// signatures Postamt makes with the same data directory.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DkimSigner } from "../../src/security/dkim-sign.js";
import { makeWorkdir, runCli } from "../helpers/cli.js";
import { dkimRecordsFromZone, verifyWithMailauth } from "../security/dkim-helpers.js";

describe("postamt dns", () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let out: string;
  before(async () => {
    ({ dir, cleanup } = await makeWorkdir({
      smtp: ["203.0.113.5:25", "[2001:db8::5]:25"],
      submissions: ["0.0.0.0:465"],
      imaps: ["127.0.0.1:993"],
    }));
    const add = await runCli(["domain", "add", "example.test"], { cwd: dir });
    assert.equal(add.code, 0, add.stderr);
    const r = await runCli(["dns", "example.test"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    out = r.stdout;
  });
  after(() => cleanup());

  const record = (owner: string, type: string): string[] =>
    out
      .split("\n")
      .filter((l) => l.startsWith(`${owner} `) && new RegExp(`\\sIN\\s+${type}\\s`).test(l))
      .map((l) => l.replace(/^\S+\s+3600\s+IN\s+\S+\s+/, ""));

  it("prints only comments, blank lines and well-formed records", () => {
    for (const line of out.trimEnd().split("\n")) {
      if (line === "" || line.startsWith(";")) continue;
      assert.match(line, /^\S+\.\s+3600\s+IN\s+(MX|A|AAAA|TXT|SRV)\s+\S.*$/, line);
    }
    for (const m of out.matchAll(/"([^"]*)"/g)) assert.ok(m[1]!.length <= 255, "TXT strings ≤ 255 octets");
  });

  it("has MX, the server's public addresses and SPF", () => {
    assert.deepEqual(record("example.test.", "MX"), ["10 mail.example.test."]);
    assert.deepEqual(record("mail.example.test.", "A"), ["203.0.113.5"]);
    assert.deepEqual(record("mail.example.test.", "AAAA"), ["2001:db8::5"]);
    assert.match(out, /PTR/);
    assert.deepEqual(record("example.test.", "TXT"), ['"v=spf1 mx -all"']);
  });

  it("has both DKIM keys, the RSA one split into 255-octet strings", () => {
    const rsa = record("postamt._domainkey.example.test.", "TXT");
    assert.equal(rsa.length, 1);
    assert.match(rsa[0]!, /^"v=DKIM1; k=rsa; p=MII[^"]+" "[^"]+"$/);
    assert.equal(/^"([^"]*)"/.exec(rsa[0]!)![1]!.length, 255);
    const ed = record("postamt-ed25519._domainkey.example.test.", "TXT");
    assert.match(ed[0]!, /^"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="$/);
  });

  it("has DMARC, MTA-STS (with its policy file) and TLS-RPT", async () => {
    assert.deepEqual(record("_dmarc.example.test.", "TXT"), [
      '"v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@example.test"',
    ]);
    const sts = record("_mta-sts.example.test.", "TXT");
    assert.match(sts[0]!, /^"v=STSv1; id=[A-Za-z0-9]{1,32}"$/);
    assert.match(out, /https:\/\/mta-sts\.example\.test\/\.well-known\/mta-sts\.txt/);
    assert.match(
      out,
      /^;\s+version: STSv1\n;\s+mode: testing\n;\s+mx: mail\.example\.test\n;\s+max_age: \d+$/m,
    );
    // the id follows the policy, not the clock: the same on every run
    const again = await runCli(["dns", "example.test"], { cwd: dir });
    assert.equal(again.stdout, out);
    assert.deepEqual(record("_smtp._tls.example.test.", "TXT"), [
      '"v=TLSRPTv1; rua=mailto:postmaster@example.test"',
    ]);
  });

  it("has RFC 6186 SRV records, '.' for services not offered", () => {
    assert.deepEqual(record("_submissions._tcp.example.test.", "SRV"), ["0 1 465 mail.example.test."]);
    assert.deepEqual(record("_imaps._tcp.example.test.", "SRV"), ["0 1 993 mail.example.test."]);
    assert.deepEqual(record("_submission._tcp.example.test.", "SRV"), ["0 0 0 ."]);
    assert.deepEqual(record("_pop3._tcp.example.test.", "SRV"), ["0 0 0 ."]);
  });

  it("prints records that verify the signatures Postamt makes", async () => {
    const signer = new DkimSigner({ dataDir: join(dir, "data"), hostname: "mail.example.test" });
    const msg = "From: alice@example.test\r\nTo: bob@other.test\r\nSubject: hi\r\n\r\nhello\r\n";
    const sigs = await signer.sign(Buffer.from(msg), { domain: "example.test" });
    const verdicts = await verifyWithMailauth(Buffer.from(sigs + msg), dkimRecordsFromZone(out));
    assert.deepEqual(
      verdicts.map((v) => [v.selector, v.pass]),
      [
        ["postamt", true],
        ["postamt-ed25519", true],
      ],
    );
  });

  it("gives an A/AAAA example when no public address is configured, and refuses unknown domains", async () => {
    const w = await makeWorkdir();
    try {
      await runCli(["domain", "add", "example.test"], { cwd: w.dir });
      const r = await runCli(["dns", "example.test"], { cwd: w.dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^; mail\.example\.test needs A\/AAAA records/m);
      assert.doesNotMatch(r.stdout, /^mail\.example\.test\./m);
      const bad = await runCli(["dns", "nowhere.test"], { cwd: w.dir });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /nowhere\.test is not a local domain.*postamt domain add nowhere\.test/);
    } finally {
      await w.cleanup();
    }
  });
});
