// One DNS message exchange with one server, over UDP or TCP (RFC 1035 §4.2). Knows nothing about
// retries, caching or CNAMEs; the stub resolver builds those on top.
import { randomInt } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import * as dnsPacket from "dns-packet";
import type { ServerAddress } from "./names.js";
import { wireName } from "./names.js";

/** The EDNS0 UDP payload size we advertise: the DNS Flag Day 2020 value, which avoids IP fragmentation. */
export const EDNS_UDP_SIZE = 1232;

/** A decoded response; dns-packet's typings leave out the rcode it does decode. */
export type DnsResponse = dnsPacket.DecodedPacket & { rcode: string };

export class TransportError extends Error {
  constructor(
    readonly kind: "timeout" | "network",
    message: string,
  ) {
    super(message);
    this.name = "TransportError";
  }
}

export interface Question {
  /** normalised (see normalizeName) */
  name: string;
  type: dnsPacket.RecordType;
}

/** A query with a fresh random id (RFC 5452 §4.3) and the bytes that carry it. */
export function buildQuery(q: Question, edns: boolean): { id: number; bytes: Buffer } {
  const id = randomInt(0, 0x10000);
  const opt: dnsPacket.OptAnswer = {
    type: "OPT",
    name: ".",
    udpPayloadSize: EDNS_UDP_SIZE,
    extendedRcode: 0,
    ednsVersion: 0,
    flags: 0,
    flag_do: false,
    options: [],
  };
  const bytes = dnsPacket.encode({
    type: "query",
    id,
    // AD in a query asks the resolver to tell us whether it validated the answer (RFC 6840 §5.7)
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHENTIC_DATA,
    questions: [{ type: q.type, name: q.name, class: "IN" }],
    additionals: edns ? [opt] : [],
  });
  return { id, bytes };
}

/**
 * Whether `bytes` answer our query: a response with our id and our question (RFC 5452 §9.1). Anything
 * else (a late answer to an earlier query, a spoofing attempt, garbage) is ignored by the callers.
 * A FORMERR may come without the question section (the server could not parse it).
 */
export function decodeMatching(bytes: Buffer, id: number, q: Question): DnsResponse | null {
  let r: DnsResponse;
  try {
    r = dnsPacket.decode(bytes) as DnsResponse;
  } catch {
    return null;
  }
  if (!r.flag_qr || r.id !== id) return null;
  const questions = r.questions ?? [];
  if (questions.length === 0) return r.rcode === "FORMERR" ? r : null;
  if (questions.length !== 1) return null;
  const rq = questions[0]!;
  if (wireName(rq.name) !== q.name || rq.type !== q.type || (rq.class ?? "IN") !== "IN") return null;
  return r;
}

/** Sends one UDP datagram and waits for the matching answer (other datagrams are ignored). */
export function udpExchange(
  server: ServerAddress,
  q: Question,
  edns: boolean,
  timeoutMs: number,
): Promise<DnsResponse> {
  const { id, bytes } = buildQuery(q, edns);
  return new Promise((resolve, reject) => {
    const socket = createSocket(server.family === 6 ? "udp6" : "udp4");
    let done = false;
    const finish = (err: Error | null, r?: DnsResponse): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        socket.close();
      } catch {
        // already closed after an error
      }
      if (err) reject(err);
      else resolve(r!);
    };
    const timer = setTimeout(
      () => finish(new TransportError("timeout", `no answer from ${label(server)} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on("error", (e: NodeJS.ErrnoException) =>
      finish(new TransportError("network", `${label(server)}: ${e.code ?? e.message}`)),
    );
    socket.on("message", (msg) => {
      const r = decodeMatching(msg, id, q);
      if (r) finish(null, r);
    });
    // a connected socket only accepts datagrams from the server and reports ICMP port unreachable
    // as ECONNREFUSED instead of a silent timeout
    socket.connect(server.port, server.host, () => {
      socket.send(bytes, (err) => {
        if (err)
          finish(new TransportError("network", `${label(server)}: ${(err as NodeJS.ErrnoException).code}`));
      });
    });
  });
}

/** The same query over TCP, each message behind a 2-octet length (RFC 1035 §4.2.2, RFC 7766). */
export function tcpExchange(
  server: ServerAddress,
  q: Question,
  edns: boolean,
  timeoutMs: number,
): Promise<DnsResponse> {
  const { id, bytes } = buildQuery(q, edns);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    let buffered = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, r?: DnsResponse): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    const timer = setTimeout(
      () => finish(new TransportError("timeout", `no TCP answer from ${label(server)} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on("connect", () => {
      const frame = Buffer.alloc(2 + bytes.length);
      frame.writeUInt16BE(bytes.length, 0);
      bytes.copy(frame, 2);
      socket.write(frame);
    });
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) break;
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        const r = decodeMatching(msg, id, q);
        if (r) return finish(null, r);
      }
    });
    socket.on("error", (e: NodeJS.ErrnoException) =>
      finish(new TransportError("network", `${label(server)} (TCP): ${e.code ?? e.message}`)),
    );
    socket.on("close", () =>
      finish(new TransportError("network", `${label(server)} (TCP) closed the connection without an answer`)),
    );
  });
}

function label(s: ServerAddress): string {
  return s.family === 6 ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}
