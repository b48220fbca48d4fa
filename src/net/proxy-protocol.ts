// PROXY protocol v1 (text) and v2 (binary) header parser, for listeners behind a load balancer
// (haproxy's proxy-protocol.txt). Pure: push bytes until a result; the remainder belongs to the
// protocol session. Only the source/destination addresses are used; TLVs are skipped.

export interface ProxyAddresses {
  /** "PROXY" for a proxied connection, "LOCAL" for the balancer's own health checks (keep the real peer) */
  command: "PROXY" | "LOCAL";
  family: "IPv4" | "IPv6" | "unknown";
  sourceAddress?: string;
  sourcePort?: number;
  destAddress?: string;
  destPort?: number;
}

export type ProxyParseResult =
  | { kind: "need-more" }
  | { kind: "done"; header: ProxyAddresses; rest: Buffer }
  | { kind: "error"; reason: string };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107; // the spec's maximum v1 line length, CRLF included
const V2_MAX = 16 + 65535;

export function parseProxyHeader(buf: Buffer): ProxyParseResult {
  if (buf.length === 0) return { kind: "need-more" };
  const sigLen = Math.min(buf.length, V2_SIGNATURE.length);
  if (buf.subarray(0, sigLen).equals(V2_SIGNATURE.subarray(0, sigLen))) {
    return buf.length < 16 ? { kind: "need-more" } : parseV2(buf);
  }
  const prefix = Buffer.from("PROXY ");
  const pLen = Math.min(buf.length, prefix.length);
  if (!buf.subarray(0, pLen).equals(prefix.subarray(0, pLen))) {
    return { kind: "error", reason: "the connection did not start with a PROXY protocol header" };
  }
  const crlf = buf.indexOf("\r\n");
  if (crlf < 0) {
    return buf.length >= V1_MAX
      ? { kind: "error", reason: "PROXY v1 header too long" }
      : { kind: "need-more" };
  }
  if (crlf + 2 > V1_MAX) return { kind: "error", reason: "PROXY v1 header too long" };
  const header = parseV1(buf.subarray(0, crlf).toString("latin1"));
  return header
    ? { kind: "done", header, rest: buf.subarray(crlf + 2) }
    : { kind: "error", reason: "malformed PROXY v1 header" };
}

function parseV1(line: string): ProxyAddresses | null {
  const parts = line.split(" ");
  if (parts[1] === "UNKNOWN") return { command: "PROXY", family: "unknown" };
  if (parts.length !== 6) return null;
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  if (proto !== "TCP4" && proto !== "TCP6") return null;
  const port = (s: string) => (/^\d{1,5}$/.test(s) && Number(s) <= 65535 ? Number(s) : null);
  const sp = port(sport);
  const dp = port(dport);
  if (sp === null || dp === null) return null;
  const family = proto === "TCP4" ? "IPv4" : "IPv6";
  if (!validIp(src, family) || !validIp(dst, family)) return null;
  return { command: "PROXY", family, sourceAddress: src, sourcePort: sp, destAddress: dst, destPort: dp };
}

function parseV2(buf: Buffer): ProxyParseResult {
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: "error", reason: "unsupported PROXY protocol version" };
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return { kind: "error", reason: "unknown PROXY v2 command" };
  const len = buf.readUInt16BE(14);
  if (16 + len > V2_MAX) return { kind: "error", reason: "PROXY v2 header too long" };
  if (buf.length < 16 + len) return { kind: "need-more" };
  const rest = buf.subarray(16 + len);
  if (cmd === 0) return { kind: "done", header: { command: "LOCAL", family: "unknown" }, rest };
  const famProto = buf[13]!;
  const body = buf.subarray(16, 16 + len);
  if (famProto === 0x11 && len >= 12) {
    return {
      kind: "done",
      header: {
        command: "PROXY",
        family: "IPv4",
        sourceAddress: [...body.subarray(0, 4)].join("."),
        destAddress: [...body.subarray(4, 8)].join("."),
        sourcePort: body.readUInt16BE(8),
        destPort: body.readUInt16BE(10),
      },
      rest,
    };
  }
  if (famProto === 0x21 && len >= 36) {
    return {
      kind: "done",
      header: {
        command: "PROXY",
        family: "IPv6",
        sourceAddress: ipv6(body.subarray(0, 16)),
        destAddress: ipv6(body.subarray(16, 32)),
        sourcePort: body.readUInt16BE(32),
        destPort: body.readUInt16BE(34),
      },
      rest,
    };
  }
  // UNSPEC or unix sockets: keep the real peer address.
  return { kind: "done", header: { command: "PROXY", family: "unknown" }, rest };
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

function validIp(s: string, family: "IPv4" | "IPv6"): boolean {
  if (family === "IPv4") return /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(s);
  return /^[0-9a-fA-F:.]+$/.test(s) && s.includes(":");
}
