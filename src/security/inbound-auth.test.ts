// The DMARC decisions of authenticateInbound against an in-memory resolver: alignment modes, sp=,
// pct=, several or no From: addresses, temporary errors, and how each signature is reported. The
// whole path against a real DNS server is in test/security/inbound-auth.test.ts.
import assert from "node:assert/strict";
import { createHash, sign as cryptoSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { before, describe, it } from "node:test";
import { DnsError, type DnsErrorKind, type DnsResolver, type DnsResult } from "../dns/types.js";
import { parseAuthResults } from "./auth-results.js";
import { dkimSignatures, relaxedHeader } from "./dkim-sign.js";
import {
  authenticateInbound,
  type InboundAuthInput,
  type InboundAuthResult,
  type SpfOutcome,
} from "./inbound-auth.js";

const HOST = "mx.receiver.test";

/** TXT owner name → value, or an error kind; every other lookup is NXDOMAIN. */
function txtResolver(txt: Record<string, string | DnsErrorKind>): DnsResolver {
  const nx = async (name: string): Promise<never> => {
    throw new DnsError("nxdomain", name, "?");
  };
  return {
    txt: async (name: string): Promise<DnsResult<string>> => {
      const v = txt[name.toLowerCase()];
      if (v === undefined) throw new DnsError("nxdomain", name, "TXT");
      if (["servfail", "timeout", "refused", "network"].includes(v))
        throw new DnsError(v as DnsErrorKind, name, "TXT");
      return { records: [v], authenticated: false, canonicalName: name };
    },
    a: nx,
    aaaa: nx,
    mx: nx,
    ptr: nx,
    tlsa: nx,
  };
}

let rsa: { privateKey: KeyObject; record: string };

before(() => {
  const k = generateKeyPairSync("rsa", { modulusLength: 1024 });
  rsa = {
    privateKey: k.privateKey,
    record: `v=DKIM1; k=rsa; p=${k.publicKey.export({ type: "spki", format: "der" }).toString("base64")}`,
  };
});

function message(from: string | string[], extra = ""): string {
  const froms = (Array.isArray(from) ? from : [from]).map((f) => `From: ${f}\r\n`).join("");
  return `${froms}To: bob@receiver.test\r\nSubject: test\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <t@x>\r\n${extra}\r\nHello.\r\n`;
}

async function signed(msg: string, domain: string, selector = "s1"): Promise<Buffer> {
  const sig = await dkimSignatures(Buffer.from(msg), [
    { domain, selector, algorithm: "rsa", privateKey: rsa.privateKey },
  ]);
  return Buffer.from(sig + msg);
}

/** An rsa-sha1 relaxed/relaxed signature over From and Subject, made by hand (mailauth signs sha256 only). */
function sha1Signature(msg: string): string {
  const [head, body] = msg.split(/\r\n\r\n(.*)/s) as [string, string];
  const field = (name: string) => head.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name}:`))!;
  // the body is already in relaxed form
  const bh = createHash("sha1").update(body).digest("base64");
  const sig = `DKIM-Signature: v=1; a=rsa-sha1; c=relaxed/relaxed; d=example.test; s=s1; h=from:subject; bh=${bh}; b=`;
  const data = `${relaxedHeader(field("from"))}\r\n${relaxedHeader(field("subject"))}\r\n${relaxedHeader(sig)}`;
  return `${sig}${cryptoSign("sha1", Buffer.from(data), rsa.privateKey).toString("base64")}\r\n`;
}

function spfOf(result: SpfOutcome["result"], domain: string): SpfOutcome {
  return {
    result,
    domain,
    info: `spf=${result}`,
    comment: "",
    identity: "mailfrom",
    sender: `bounce@${domain}`,
  };
}

async function auth(
  msg: Buffer | string,
  txt: Record<string, string | DnsErrorKind>,
  opts: Partial<InboundAuthInput> = {},
): Promise<InboundAuthResult> {
  return authenticateInbound({
    message: Buffer.isBuffer(msg) ? msg : Buffer.from(msg),
    ip: "192.0.2.1",
    helo: "mail.sender.test",
    mailFrom: "bounce@unrelated.test",
    hostname: HOST,
    resolver: txtResolver(txt),
    spf: spfOf("fail", "unrelated.test"),
    iprev: { result: "pass", name: "mail.sender.test" },
    isLocalDomain: async (d) => d === "receiver.test",
    dmarcEnforce: true,
    protectLocalDomains: true,
    ...opts,
  });
}

describe("authenticateInbound: DMARC decisions", () => {
  it("relaxed alignment: d=example.test aligns with From: sub.example.test", async () => {
    const m = await signed(message("a@sub.example.test"), "example.test");
    const r = await auth(m, {
      "s1._domainkey.example.test": rsa.record,
      "_dmarc.example.test": "v=DMARC1; p=reject",
    });
    assert.equal(r.dkim[0]?.result, "pass");
    assert.equal(r.dkim[0]?.aligned, true);
    assert.equal(r.dmarc.result, "pass");
    assert.equal(r.disposition, "none");
  });

  it("strict alignment (adkim=s) is enforced, which mailauth 4.13.3 alone does not do", async () => {
    const m = await signed(message("a@sub.example.test"), "example.test");
    const r = await auth(m, {
      "s1._domainkey.example.test": rsa.record,
      "_dmarc.example.test": "v=DMARC1; p=reject; adkim=s",
    });
    assert.equal(r.dkim[0]?.result, "pass");
    assert.equal(r.dkim[0]?.aligned, false);
    assert.equal(r.dmarc.result, "fail");
    assert.equal(r.dmarc.dkimAligned, false);
    assert.equal(r.disposition, "reject");
  });

  it("strict SPF alignment (aspf=s): the MAIL FROM domain must equal the From: domain", async () => {
    const txt = { "_dmarc.example.test": "v=DMARC1; p=reject; aspf=s" };
    const sub = await auth(message("a@example.test"), txt, { spf: spfOf("pass", "bounces.example.test") });
    assert.equal(sub.dmarc.spfAligned, false);
    assert.equal(sub.disposition, "reject");
    const same = await auth(message("a@example.test"), txt, { spf: spfOf("pass", "example.test") });
    assert.equal(same.dmarc.spfAligned, true);
    assert.equal(same.dmarc.result, "pass");
    // relaxed (the default): a subdomain aligns
    const relaxed = await auth(
      message("a@example.test"),
      { "_dmarc.example.test": "v=DMARC1; p=reject" },
      {
        spf: spfOf("pass", "bounces.example.test"),
      },
    );
    assert.equal(relaxed.dmarc.result, "pass");
  });

  it("sp= applies to a subdomain without its own record; the subdomain's own record wins", async () => {
    const txt = { "_dmarc.example.test": "v=DMARC1; p=none; sp=reject" };
    const sub = await auth(message("a@sub.example.test"), txt);
    assert.equal(sub.dmarc.policy, "reject");
    assert.equal(sub.disposition, "reject");
    assert.match(sub.reason, /DMARC policy of sub\.example\.test is reject/);
    const org = await auth(message("a@example.test"), txt);
    assert.equal(org.dmarc.policy, "none");
    assert.equal(org.disposition, "none");
    const own = await auth(message("a@sub.example.test"), {
      ...txt,
      "_dmarc.sub.example.test": "v=DMARC1; p=quarantine",
    });
    assert.equal(own.dmarc.policy, "quarantine");
    assert.equal(own.disposition, "quarantine");
  });

  it("pct= samples: a message left out gets the next milder policy (RFC 7489 §6.6.4)", async () => {
    const txt = { "_dmarc.example.test": "v=DMARC1; p=reject; pct=50" };
    const inSample = await auth(message("a@example.test"), txt, { random: () => 0.2 });
    assert.equal(inSample.disposition, "reject");
    const out = await auth(message("a@example.test"), txt, { random: () => 0.7 });
    assert.equal(out.disposition, "quarantine");
    assert.match(out.reason, /pct=50: not sampled/);
    const q = await auth(
      message("a@example.test"),
      { "_dmarc.example.test": "v=DMARC1; p=quarantine; pct=0" },
      {
        random: () => 0,
      },
    );
    assert.equal(q.disposition, "none");
    let drawn = false;
    await auth(
      message("a@example.test"),
      { "_dmarc.example.test": "v=DMARC1; p=reject" },
      {
        random: () => {
          drawn = true;
          return 0.99;
        },
      },
    );
    assert.equal(drawn, false, "no draw without pct");
  });

  it("an invalid p= counts as none (RFC 7489 §6.6.3)", async () => {
    const r = await auth(message("a@example.test"), { "_dmarc.example.test": "v=DMARC1; p=bogus" });
    assert.equal(r.dmarc.result, "fail");
    assert.equal(r.dmarc.policy, "none");
    assert.equal(r.disposition, "none");
  });

  it("several From: addresses: each domain is checked, the strictest failing policy applies", async () => {
    const txt = {
      "_dmarc.good.test": "v=DMARC1; p=reject",
      "_dmarc.bad.test": "v=DMARC1; p=quarantine",
      "_dmarc.worse.test": "v=DMARC1; p=reject",
      "s1._domainkey.good.test": rsa.record,
    };
    const one = await auth(await signed(message("a@good.test, b@bad.test"), "good.test"), txt);
    assert.equal(one.dmarc.result, "fail");
    assert.equal(one.dmarc.domain, "bad.test");
    assert.equal(one.disposition, "quarantine");
    assert.match(one.reason, /From: names 2 domains/);
    const two = await auth(await signed(message("a@good.test, b@bad.test, c@worse.test"), "good.test"), txt);
    assert.equal(two.dmarc.domain, "worse.test");
    assert.equal(two.disposition, "reject");
    // the same domain twice is one domain
    const same = await auth(await signed(message("a@good.test, b@GOOD.test"), "good.test"), txt);
    assert.equal(same.dmarc.result, "pass");
    assert.doesNotMatch(same.reason, /domains/);
  });

  it("several From: fields: permerror, and a failing domain's policy still applies", async () => {
    const txt = { "_dmarc.good.test": "v=DMARC1; p=reject", "s1._domainkey.good.test": rsa.record };
    const r = await auth(await signed(message(["a@good.test", "b@victim.test"]), "good.test"), {
      ...txt,
      "_dmarc.victim.test": "v=DMARC1; p=reject",
    });
    assert.equal(r.dmarc.result, "permerror");
    assert.equal(r.disposition, "reject");
    assert.match(r.reason, /2 From: fields/);
    const passing = await auth(await signed(message(["a@good.test", "b@good.test"]), "good.test"), txt);
    assert.equal(passing.dmarc.result, "permerror");
    assert.equal(passing.disposition, "none");
    const field = parseAuthResults(passing.header.slice(passing.header.indexOf(":") + 1));
    assert.equal(field?.results.find((x) => x.method === "dmarc")?.result, "permerror");
  });

  it("no From: domain: DMARC none, nothing enforced", async () => {
    const none = await auth("To: bob@receiver.test\r\nSubject: x\r\n\r\nbody\r\n", {});
    assert.equal(none.dmarc.result, "none");
    assert.equal(none.dmarc.domain, "");
    assert.equal(none.disposition, "none");
    assert.match(none.reason, /no RFC5322\.From domain/);
    const group = await auth(message("undisclosed-recipients:;"), {});
    assert.equal(group.dmarc.result, "none");
  });

  it("a temporary error on an identifier that would align: temperror, never a rejection", async () => {
    const m = await signed(message("a@example.test"), "example.test");
    const dkimTemp = await auth(m, {
      "s1._domainkey.example.test": "servfail",
      "_dmarc.example.test": "v=DMARC1; p=reject",
    });
    assert.equal(dkimTemp.dkim[0]?.result, "temperror");
    assert.equal(dkimTemp.dmarc.result, "temperror");
    assert.equal(dkimTemp.disposition, "none");
    const spfTemp = await auth(
      message("a@example.test"),
      { "_dmarc.example.test": "v=DMARC1; p=reject" },
      {
        spf: spfOf("temperror", "example.test"),
      },
    );
    assert.equal(spfTemp.dmarc.result, "temperror");
    assert.equal(spfTemp.disposition, "none");
    // a temporary error on an identifier that could not align changes nothing
    const unrelated = await auth(
      message("a@example.test"),
      { "_dmarc.example.test": "v=DMARC1; p=reject" },
      {
        spf: spfOf("temperror", "elsewhere.test"),
      },
    );
    assert.equal(unrelated.dmarc.result, "fail");
    assert.equal(unrelated.disposition, "reject");
    const recordTemp = await auth(message("a@example.test"), { "_dmarc.example.test": "timeout" });
    assert.equal(recordTemp.dmarc.result, "temperror");
    assert.equal(recordTemp.disposition, "none");
  });

  it("the local-domain rule holds back on a temporary error of an aligned identifier", async () => {
    const r = await auth(message("alice@receiver.test"), {}, { spf: spfOf("temperror", "receiver.test") });
    assert.equal(r.disposition, "none");
    assert.match(r.reason, /failed temporarily/);
    const rejected = await auth(
      message("alice@receiver.test"),
      {},
      { spf: spfOf("softfail", "receiver.test") },
    );
    assert.equal(rejected.disposition, "reject");
    assert.match(rejected.reason, /receiver\.test is a local domain/);
  });
});

describe("authenticateInbound: every signature is reported", () => {
  it("rsa-sha1 does not pass (RFC 8301), a malformed signature is permerror, a good one passes", async () => {
    const msg = message("a@example.test");
    const sha1 = { signatures: sha1Signature(msg) };
    const good = await dkimSignatures(Buffer.from(msg), [
      { domain: "example.test", selector: "s1", algorithm: "rsa", privateKey: rsa.privateKey },
    ]);
    const bad =
      "DKIM-Signature: v=1; a=foo-sha256; d=example.test; s=s1; bh=AAAA; h=from; b=QUJDREVGR0hJ\r\n";
    const r = await auth(Buffer.from(sha1.signatures + bad + good + msg), {
      "s1._domainkey.example.test": rsa.record,
      "_dmarc.example.test": "v=DMARC1; p=reject",
    });
    assert.deepEqual(
      r.dkim.map((d) => [d.result, d.algorithm]),
      [
        ["policy", "rsa-sha1"],
        ["permerror", "foo-sha256"],
        ["pass", "rsa-sha256"],
      ],
    );
    assert.equal(r.dmarc.result, "pass");
    const parsed = parseAuthResults(r.header.slice(r.header.indexOf(":") + 1));
    const dkims = parsed?.results.filter((x) => x.method === "dkim") ?? [];
    assert.deepEqual(
      dkims.map((x) => x.result),
      ["policy", "permerror", "pass"],
    );
    assert.equal(dkims[1]?.props.find(([k]) => k === "header.b")?.[1], "QUJDREVG");
    // only the rsa-sha1 signature: no pass, so DMARC fails
    const only = await auth(Buffer.from(sha1.signatures + msg), {
      "s1._domainkey.example.test": rsa.record,
      "_dmarc.example.test": "v=DMARC1; p=reject",
    });
    assert.equal(only.dmarc.result, "fail");
  });
});
