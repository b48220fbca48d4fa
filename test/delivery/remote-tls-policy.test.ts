// MTA-STS policy discovery over real DNS and HTTPS on loopback (RFC 8461), and DANE TLSA matching
// (RFC 7672 / 6698) with certificates from a private CA.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { daneVerify, tlsaMatches, usableTlsa } from "../../src/delivery/remote/dane.js";
import { MtaStsPolicies, mxMatches } from "../../src/delivery/remote/mta-sts.js";
import { createResolver } from "../../src/dns/create.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";
import { createTestCa, type IssuedCert, type TestCa } from "../helpers/test-ca.js";

function der(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

describe("MTA-STS policies", () => {
  let dns: TestDnsServer;
  let ca: TestCa;
  let https: Server;
  let port: number;
  let requests = 0;
  let body = "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmx: *.backup.sts.test\nmax_age: 86400\n";
  let contentType = "text/plain";

  before(async () => {
    ca = await createTestCa();
    const leaf = await ca.issue(["mta-sts.sts.test", "mta-sts.other.test"]);
    https = createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
      requests++;
      if (req.url !== "/.well-known/mta-sts.txt") {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": contentType }).end(body);
    });
    await new Promise<void>((r) => https.listen(0, "127.0.0.1", r));
    port = (https.address() as AddressInfo).port;
    dns = await startDnsServer({
      records: [
        { name: "_mta-sts.sts.test", type: "TXT", data: "v=STSv1; id=20261127a" },
        { name: "mta-sts.sts.test", type: "A", data: "127.0.0.1" },
        { name: "_mta-sts.other.test", type: "TXT", data: "v=STSv1; id=1" },
        { name: "mta-sts.other.test", type: "A", data: "127.0.0.1" },
        { name: "_mta-sts.nohttps.test", type: "TXT", data: "v=STSv1; id=1" },
      ],
    });
  });
  after(async () => {
    await dns.close();
    await new Promise((r) => https.close(r));
  });

  function policies(now = () => Date.now(), withCa = true) {
    return new MtaStsPolicies({
      resolver: createResolver({ servers: [dns.server], cacheSize: 0, timeoutMs: 500 }),
      httpsPort: port,
      ...(withCa ? { ca: ca.caCert } : {}),
      cacheDir: null,
      now,
    });
  }

  it("matches MX patterns as RFC 8461 §4.1 says", () => {
    assert.ok(mxMatches("mx.sts.test", "MX.sts.test."));
    assert.ok(mxMatches("*.backup.sts.test", "a.backup.sts.test"));
    assert.ok(!mxMatches("*.backup.sts.test", "a.b.backup.sts.test"));
    assert.ok(!mxMatches("*.backup.sts.test", "backup.sts.test"));
  });

  it("fetches, caches by id, refetches when the id changes", async () => {
    const p = policies();
    requests = 0;
    const first = await p.policyFor("sts.test");
    assert.deepEqual(first && [first.mode, first.mx, first.maxAge, first.id], [
      "enforce",
      ["mx.sts.test", "*.backup.sts.test"],
      86400,
      "20261127a",
    ]);
    await p.policyFor("sts.test");
    assert.equal(requests, 1, "same id: served from the cache");
    dns.set("_mta-sts.sts.test", "TXT", ["v=STSv1; id=20261127b"]);
    body = body.replace("mode: enforce", "mode: testing");
    const second = await p.policyFor("sts.test");
    assert.equal(second?.mode, "testing");
    assert.equal(requests, 2);
    body = body.replace("mode: testing", "mode: enforce");
    dns.set("_mta-sts.sts.test", "TXT", ["v=STSv1; id=20261127a"]);
  });

  it("keeps a cached policy when the refresh fails, drops it after max_age", async () => {
    let now = Date.now();
    const p = policies(() => now);
    assert.equal((await p.policyFor("other.test"))?.mode, "enforce");
    dns.set("_mta-sts.other.test", "TXT", ["v=STSv1; id=2"]);
    contentType = "text/html"; // a broken refresh (§3.3: text/plain only)
    assert.equal((await p.policyFor("other.test"))?.id, "1", "the cached policy stays");
    now += 86_401_000;
    assert.equal(await p.policyFor("other.test"), null, "expired and no valid replacement");
    contentType = "text/plain";
  });

  it("has no policy without a TXT record, without HTTPS, or with an untrusted certificate", async () => {
    const p = policies();
    assert.equal(await p.policyFor("none.test"), null);
    assert.equal(await p.policyFor("nohttps.test"), null);
    assert.equal(await policies(Date.now, false).policyFor("sts.test"), null);
  });

  it("persists policies in its cache directory across restarts", async () => {
    const dir = await mkdtemp(join(tmpdir(), "postamt-sts-"));
    const make = () =>
      new MtaStsPolicies({
        resolver: createResolver({ servers: [dns.server], cacheSize: 0 }),
        httpsPort: port,
        ca: ca.caCert,
        cacheDir: dir,
      });
    assert.equal((await make().policyFor("sts.test"))?.mode, "enforce");
    requests = 0;
    assert.equal((await make().policyFor("sts.test"))?.mode, "enforce");
    assert.equal(requests, 0, "a new instance reads the cached file");
  });
});

describe("DANE TLSA matching", () => {
  let ca: TestCa;
  let leaf: IssuedCert;
  let caDer: Buffer;
  let leafDer: Buffer;

  before(async () => {
    ca = await createTestCa("DANE TA");
    leaf = await ca.issue(["mx.dane.test"]);
    caDer = der(ca.caCert);
    leafDer = der(leaf.cert);
  });

  const sha256 = (b: Buffer) => createHash("sha256").update(b).digest();
  const spki = (d: Buffer) => new X509Certificate(d).publicKey.export({ type: "spki", format: "der" });

  it("DANE-EE 3 1 1 matches the leaf key, whatever its name", () => {
    const rec = { usage: 3, selector: 1, matchingType: 1, data: sha256(spki(leafDer)) };
    assert.ok(tlsaMatches(rec, leafDer));
    assert.equal(daneVerify([rec], [leafDer, caDer], "some-other-name.test"), null);
  });

  it("DANE-EE 3 0 0 compares the whole certificate; a different certificate fails", () => {
    const rec = { usage: 3, selector: 0, matchingType: 0, data: leafDer };
    assert.equal(daneVerify([rec], [leafDer], "mx.dane.test"), null);
    assert.match(daneVerify([rec], [caDer], "mx.dane.test") ?? "", /does not match/);
  });

  it("DANE-TA 2 0 1 needs the chain to the anchor and the MX name", () => {
    const rec = { usage: 2, selector: 0, matchingType: 1, data: sha256(caDer) };
    assert.equal(daneVerify([rec], [leafDer, caDer], "mx.dane.test"), null);
    assert.notEqual(daneVerify([rec], [leafDer, caDer], "mx.other.test"), null, "name must match");
    assert.notEqual(daneVerify([rec], [leafDer], "mx.dane.test"), null, "anchor not in chain");
  });

  it("PKIX usages 0 and 1 are unusable for SMTP (RFC 7672 §3.1.3)", () => {
    const rec = { usage: 1, selector: 0, matchingType: 0, data: leafDer };
    assert.deepEqual(usableTlsa([rec]), []);
    assert.match(daneVerify([rec], [leafDer], "mx.dane.test") ?? "", /no usable TLSA/);
  });
});
