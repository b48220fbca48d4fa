// The shared SessionRunner with a tiny line protocol: ordering under async handlers, STARTTLS with
// pipelined plaintext discarded, implicit TLS, PROXY protocol, per-IP limits, idle timeout, shutdown.
import assert from "node:assert/strict";
import { type Socket, connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { createMetrics } from "../../src/http/metrics.js";
import { silentLog } from "../../src/log/logger.js";
import { ConnectionTracker } from "../../src/net/connection-tracker.js";
import { ConnectionAdmission } from "../../src/net/admission.js";
import { IpConnectionLimiter } from "../../src/net/ip-limits.js";
import {
  type ProtocolSession,
  type RunnerOptions,
  type SessionIO,
  createSessionServer,
} from "../../src/net/session-runner.js";
import { serverSecureContext } from "../../src/tls/context.js";
import { testTlsMaterial } from "../helpers/tls.js";

/** "PING" → "PONG", "SLOW" → waits then "DONE", "STARTTLS" → "GO" + TLS, "QUIT" → "BYE" + close. */
class LineSession implements ProtocolSession {
  private buf = "";
  tlsStarted = 0;
  constructor(private readonly io: SessionIO) {}
  greeting(): void {
    this.io.write(`HELLO ${this.io.remoteAddress} ${this.io.secure ? "tls" : "plain"}\r\n`);
  }
  async ingest(chunk: Buffer) {
    this.buf += chunk.toString("latin1");
    let nl = this.buf.indexOf("\r\n");
    while (nl >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 2);
      if (line === "PING") this.io.write("PONG\r\n");
      else if (line === "SLOW") {
        await new Promise((r) => setTimeout(r, 30));
        this.io.write("DONE\r\n");
      } else if (line === "STARTTLS") {
        this.io.write("GO\r\n");
        this.buf = ""; // like a real session: forget what followed
        return "starttls" as const;
      } else if (line === "QUIT") {
        this.io.write("BYE\r\n");
        return "close" as const;
      } else this.io.write(`ECHO ${line}\r\n`);
      nl = this.buf.indexOf("\r\n");
    }
    return "continue" as const;
  }
  onTlsStarted(): void {
    this.tlsStarted++;
  }
  onIdleTimeout(): void {
    this.io.write("TIMEOUT\r\n");
  }
  onShutdown(): void {
    this.io.write("SHUTDOWN\r\n");
    this.io.end();
  }
}

function reader(sock: Socket) {
  let data = "";
  const waiters: Array<() => void> = [];
  sock.on("data", (d: Buffer) => {
    data += d.toString("latin1");
    for (const w of waiters.splice(0)) w();
  });
  return {
    async until(text: string, ms = 3000): Promise<string> {
      const deadline = Date.now() + ms;
      while (!data.includes(text)) {
        if (Date.now() > deadline)
          throw new Error(`timeout waiting for ${JSON.stringify(text)}; got ${JSON.stringify(data)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
      return data;
    },
    get text() {
      return data;
    },
  };
}

describe("SessionRunner", () => {
  const tracker = new ConnectionTracker();
  const servers: Array<{ close(): void }> = [];
  let base: Omit<RunnerOptions, "listener" | "implicitTls" | "proxyProtocol">;
  before(async () => {
    const material = await testTlsMaterial();
    base = {
      protocol: "smtp",
      idleTimeoutMs: 60_000,
      secureContext: serverSecureContext(material),
      log: silentLog(),
      metrics: createMetrics({ defaultMetrics: false }),
      tracker,
      limiter: new ConnectionAdmission("smtp", new IpConnectionLimiter(0), null),
      createSession: (io) => new LineSession(io),
      tooManyConnections: "TOO MANY\r\n",
      tooFast: "TOO FAST\r\n",
      internalError: "INTERNAL\r\n",
    };
  });
  after(() => {
    for (const s of servers) s.close();
  });

  async function listen(over: Partial<RunnerOptions>): Promise<number> {
    const server = createSessionServer({
      ...base,
      listener: "smtp",
      implicitTls: false,
      proxyProtocol: false,
      ...over,
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return (server.address() as { port: number }).port;
  }

  it("answers pipelined commands in order even when handlers are async", async () => {
    const port = await listen({});
    const sock = connect(port, "127.0.0.1");
    const r = reader(sock);
    await r.until("HELLO 127.0.0.1 plain");
    sock.write("SLOW\r\nPING\r\nSLOW\r\nA\r\nQUIT\r\n");
    const text = await r.until("BYE");
    assert.equal(text, "HELLO 127.0.0.1 plain\r\nDONE\r\nPONG\r\nDONE\r\nECHO A\r\nBYE\r\n");
    await new Promise((res) => sock.once("close", res));
  });

  it("starts TLS and discards plaintext pipelined after STARTTLS", async () => {
    const port = await listen({});
    const sock = connect(port, "127.0.0.1");
    const r = reader(sock);
    await r.until("HELLO");
    // The injected command travels in the same packet as STARTTLS: it must never run.
    sock.write("STARTTLS\r\nINJECTED\r\n");
    await r.until("GO\r\n");
    sock.removeAllListeners("data");
    const secure = tlsConnect({ socket: sock, rejectUnauthorized: false });
    await new Promise<void>((res, rej) => {
      secure.once("secureConnect", res);
      secure.once("error", rej);
    }).catch(() => {
      /* the injected bytes may break the handshake; that is an acceptable outcome */
    });
    if (!secure.destroyed) {
      const tr = reader(secure);
      secure.write("PING\r\n");
      const text = await tr.until("PONG");
      assert.doesNotMatch(text, /INJECTED/);
      secure.end("QUIT\r\n");
    }
    assert.doesNotMatch(r.text, /ECHO INJECTED/);
  });

  it("runs a clean STARTTLS exchange", async () => {
    const port = await listen({});
    const sock = connect(port, "127.0.0.1");
    const r = reader(sock);
    await r.until("HELLO");
    sock.write("STARTTLS\r\n");
    await r.until("GO\r\n");
    sock.removeAllListeners("data");
    const secure = tlsConnect({ socket: sock, rejectUnauthorized: false });
    await new Promise<void>((res) => secure.once("secureConnect", res));
    const tr = reader(secure);
    secure.write("PING\r\nQUIT\r\n");
    assert.equal(await tr.until("BYE"), "PONG\r\nBYE\r\n");
  });

  it("serves implicit TLS", async () => {
    const port = await listen({ implicitTls: true, listener: "submissions" });
    const secure = tlsConnect({ port, host: "127.0.0.1", rejectUnauthorized: false });
    const r = reader(secure);
    await r.until("HELLO 127.0.0.1 tls");
    assert.match(secure.getProtocol() ?? "", /TLSv1\.[23]/);
    secure.write("QUIT\r\n");
    await r.until("BYE");
  });

  it("takes the client address from a PROXY header", async () => {
    const port = await listen({ proxyProtocol: true });
    const sock = connect(port, "127.0.0.1");
    const r = reader(sock);
    sock.write("PROXY TCP4 192.0.2.77 127.0.0.1 40000 25\r\nPING\r\n");
    const text = await r.until("PONG");
    assert.equal(text, "HELLO 192.0.2.77 plain\r\nPONG\r\n");
    sock.end("QUIT\r\n");
  });

  it("closes a connection without a valid PROXY header", async () => {
    const port = await listen({ proxyProtocol: true });
    const sock = connect(port, "127.0.0.1");
    const r = reader(sock);
    sock.write("EHLO attacker\r\n");
    await new Promise((res) => sock.once("close", res));
    assert.equal(r.text, "");
  });

  it("limits connections per IP", async () => {
    const port = await listen({ limiter: new ConnectionAdmission("smtp", new IpConnectionLimiter(2), null) });
    const a = connect(port, "127.0.0.1");
    const b = connect(port, "127.0.0.1");
    await reader(a).until("HELLO");
    await reader(b).until("HELLO");
    const c = connect(port, "127.0.0.1");
    const rc = reader(c);
    await new Promise((res) => c.once("close", res));
    assert.equal(rc.text, "TOO MANY\r\n");
    a.end("QUIT\r\n");
    await new Promise((res) => a.once("close", res));
    const d = connect(port, "127.0.0.1");
    await reader(d).until("HELLO");
    b.destroy();
    d.destroy();
  });

  it("says goodbye to an idle client", async () => {
    const port = await listen({ idleTimeoutMs: 150 });
    const sock = connect(port, "127.0.0.1");
    const r = reader(sock);
    await r.until("HELLO");
    await new Promise((res) => sock.once("close", res));
    assert.match(r.text, /TIMEOUT\r\n$/);
  });

  it("asks sessions to finish at shutdown", async () => {
    const t = new ConnectionTracker();
    const port = await listen({ tracker: t });
    const sock = connect(port, "127.0.0.1");
    const r = reader(sock);
    await r.until("HELLO");
    const { forced } = await t.shutdown(2000);
    assert.equal(forced, 0);
    assert.match(r.text, /SHUTDOWN\r\n$/);
  });
});
