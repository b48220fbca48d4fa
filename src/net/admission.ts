// Who may open a connection (issue #8 abuse defence): the connection rate of the client IP, its
// simultaneous connections, and those of its network (IPv4 /24, IPv6 /48). One instance per
// protocol group; the rate is shared by all of them (AbuseLimits). Exempt networks (loopback by
// default) skip the rate and the network count, never the per-IP count.
import type { AbuseLimits } from "../policy/rate-limits.js";
import type { IpConnectionLimiter } from "./ip-limits.js";

export type AdmissionRefusal = "ip" | "network" | "rate";

export interface ConnectionGate {
  /** null: admitted (call release when it closes); else why not */
  admit(address: string): AdmissionRefusal | null;
  release(address: string): void;
}

export class ConnectionAdmission implements ConnectionGate {
  constructor(
    private readonly group: "smtp" | "imap" | "pop3",
    private readonly perIp: IpConnectionLimiter,
    private readonly abuse: AbuseLimits | null,
  ) {}

  admit(address: string): AdmissionRefusal | null {
    const exempt = !this.abuse || this.abuse.isExempt(address);
    if (!exempt && !this.abuse!.connection(address).ok) return "rate";
    if (!this.perIp.acquire(address)) return "ip";
    if (!exempt && !this.abuse!.acquireNetwork(this.group, address)) {
      this.perIp.release(address);
      return "network";
    }
    return null;
  }

  release(address: string): void {
    this.perIp.release(address);
    if (this.abuse && !this.abuse.isExempt(address)) this.abuse.releaseNetwork(this.group, address);
  }
}
