// The stub resolver against an independent DNS implementation: dnsmasq, started here on a loopback
// port with its records on the command line, so our test server's opinions are not the only ones.
// Skipped (with the reason) where dnsmasq is not installed.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { StubResolver } from "../../src/dns/stub-resolver.js";
import { DnsError } from "../../src/dns/types.js";
import { freePort } from "../helpers/ports.js";
import { findTool, missingTools } from "../helpers/tools.js";

const DNSMASQ = { name: "dnsmasq", install: "apt-get install dnsmasq-base" };
const TLSA_HASH = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1";

describe("StubResolver against dnsmasq", { skip: missingTools(DNSMASQ) }, () => {
  let dir: string;
  let child: ChildProcess | undefined;
  let stderr = "";
  let server = "";
  const resolver = (): StubResolver => new StubResolver({ servers: [server], timeoutMs: 1000, attempts: 1 });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "postamt-dnsmasq-"));
    const port = await freePort();
    server = `127.0.0.1:${port}`;
    child = spawn(
      findTool(DNSMASQ.name)!,
      [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        `--port=${port}`,
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        `--pid-file=${join(dir, "dnsmasq.pid")}`,
        "--log-facility=-",
        "--mx-host=example.test,mx.example.test,10",
        "--mx-host=example.test,mx2.example.test,20",
        "--txt-record=example.test,v=spf1 mx -all",
        "--address=/mx.example.test/127.0.0.2",
        "--cname=www.example.test,mx.example.test",
        "--ptr-record=2.0.0.127.in-addr.arpa,mx.example.test",
        // TLSA (type 52) has no option of its own: usage 3, selector 1, matching type 1, then the hash
        `--dns-rr=_25._tcp.mx.example.test,52,030101${TLSA_HASH}`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<never>((_, reject) =>
      child!.once("exit", (code) => reject(new Error(`dnsmasq exited (${code}): ${stderr}`))),
    );
    // ready when it answers; dnsmasq binds before it logs "started", so poll instead of parsing logs
    const deadline = Date.now() + 5000;
    for (;;) {
      const attempt = new StubResolver({ servers: [server], timeoutMs: 200, attempts: 1, cacheSize: 0 })
        .txt("example.test")
        .then(
          () => true,
          () => false,
        );
      if (await Promise.race([attempt, exited])) break;
      if (Date.now() > deadline) throw new Error(`dnsmasq did not answer on ${server}: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  after(async () => {
    if (child && child.exitCode === null && child.pid !== undefined) {
      const gone = new Promise((resolve) => child!.once("exit", resolve));
      process.kill(child.pid, "SIGTERM");
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("MX", async () => {
    const r = await resolver().mx("Example.Test");
    assert.deepEqual(
      [...r.records].sort((a, b) => a.priority - b.priority),
      [
        { exchange: "mx.example.test", priority: 10 },
        { exchange: "mx2.example.test", priority: 20 },
      ],
    );
    assert.equal(r.authenticated, false, "dnsmasq validates nothing here, so it must not claim AD");
  });

  it("TXT", async () => {
    assert.deepEqual((await resolver().txt("example.test")).records, ["v=spf1 mx -all"]);
  });

  it("A, and a CNAME to it", async () => {
    assert.deepEqual((await resolver().a("mx.example.test")).records, ["127.0.0.2"]);
    const viaCname = await resolver().a("www.example.test");
    assert.deepEqual(viaCname.records, ["127.0.0.2"]);
    assert.equal(viaCname.canonicalName, "mx.example.test");
  });

  it("PTR", async () => {
    assert.deepEqual((await resolver().ptr("127.0.0.2")).records, ["mx.example.test"]);
  });

  it("TLSA", async () => {
    const r = await resolver().tlsa("_25._tcp.mx.example.test");
    assert.equal(r.records.length, 1);
    const t = r.records[0]!;
    assert.deepEqual([t.usage, t.selector, t.matchingType, t.data.toString("hex")], [3, 1, 1, TLSA_HASH]);
  });

  it("a name it has no answer for is refused (no upstream servers)", async () => {
    const e = await resolver()
      .a("elsewhere.invalid")
      .catch((err: unknown) => err);
    assert.ok(e instanceof DnsError);
    assert.equal(e.kind, "refused");
  });
});
