// RemoteTransport: delivers one queue job (one message, the recipients at one domain) over SMTP.
// RFC 5321 §5.1: hosts in MX order, each host's addresses in turn; a connection failure or a
// session-level 4xx moves on to the next address/host, a per-recipient reply is that recipient's
// result. TLS policy per host: DANE (RFC 7672) when its TLSA records are authenticated, else the
// domain's MTA-STS policy (RFC 8461), else outbound.tls (opportunistic by default, RFC 7435).
import { Readable } from "node:stream";
import type { TLSSocket } from "node:tls";
import { DnsError, type DnsResolver, type TlsaRecord } from "../../dns/types.js";
import type { Log } from "../../log/logger.js";
import type { DeliveryJob, RecipientOutcome, Transport } from "../../queue/types.js";
import {
  ClientError,
  type ClientReply,
  type ConnectFn,
  type SmtpClientOptions,
  type SmtpConnection,
  type TlsMode,
  type TlsSession,
} from "../../smtp/client/types.js";
import type { MailStore, QueueRecipient } from "../../store/types.js";
import { ConnectionPool } from "./connection-pool.js";
import { daneVerify, peerChain, usableTlsa } from "./dane.js";
import { messageSource, scanMessage, type MessageTraits } from "./message-scan.js";
import { type MtaStsPolicies, policyAllows, type StsPolicy } from "./mta-sts.js";
import { type RouteHost, type RoutingOptions, resolveDestination } from "./routing.js";

const MAX_RCPTS_PER_TRANSACTION = 100;
/** messages up to this size are read into memory once per attempt instead of streamed twice */
const SMALL_MESSAGE = 256 * 1024;

export interface RemoteTransportOptions {
  store: MailStore;
  resolver: DnsResolver;
  connect: ConnectFn;
  /** our name for EHLO */
  hostname: string;
  routing: Omit<RoutingOptions, "resolver">;
  /** smarthost settings (used when routing picks the smarthost) */
  smarthost?: { tls: "starttls" | "implicit" | "none"; user: string; password: string };
  /** TLS for MX hosts without MTA-STS/DANE */
  defaultTls: "opportunistic" | "required";
  mtaSts: MtaStsPolicies | null;
  dane: boolean;
  /** extra CAs (PEM) for PKIX checks */
  ca?: string;
  /** limits.hops */
  maxHops: number;
  connectTimeoutMs: number;
  /** source addresses per family ("" = the system's choice) */
  bindAddress?: { v4: string; v6: string };
  log: Log;
  /** ms to keep idle connections (default 2000) */
  idleMs?: number;
}

/** The TLS requirements for one host, and the check to run on its certificate. */
interface HostPolicy {
  tls: TlsMode;
  verify?: (session: TlsSession, socket: TLSSocket) => string | null;
  /** for logs: "dane", "mta-sts", "mta-sts-testing", "opportunistic", "required", "smarthost" */
  name: string;
}

type Attempt =
  | { kind: "done"; outcomes: RecipientOutcome[] }
  /** this host/address did not work at the session level: try the next one */
  | { kind: "next"; reason: string; reply: ClientReply | null };

export class RemoteTransport implements Transport {
  private readonly pool: ConnectionPool;
  /** per queue id, during an attempt: traits and, for small messages, the bytes */
  private readonly traits = new Map<string, { traits: MessageTraits; body: Buffer | null }>();

  constructor(private readonly opts: RemoteTransportOptions) {
    this.pool = new ConnectionPool({ idleMs: opts.idleMs ?? 2000, maxUses: 100 });
  }

  async close(): Promise<void> {
    await this.pool.closeAll();
  }

  async deliver(job: DeliveryJob): Promise<RecipientOutcome[]> {
    try {
      return await this.deliverJob(job);
    } finally {
      // the bytes were kept for this attempt only (another job of the message reads them again)
      this.traits.delete(job.message.id);
    }
  }

  private async deliverJob(job: DeliveryJob): Promise<RecipientOutcome[]> {
    const { message, recipients } = job;
    const traits = await this.messageTraits(job);
    if (traits.received > this.opts.maxHops) {
      return all(recipients, "permanent", "5.4.6", `too many hops: ${traits.received} Received header fields (limit ${this.opts.maxHops}), mail loop?`);
    }
    const dest = await resolveDestination(job.domain, { ...this.opts.routing, resolver: this.opts.resolver });
    if (!dest.ok) {
      return all(recipients, dest.temporary ? "temporary" : "permanent", dest.status, dest.reason);
    }
    for (const note of dest.notes) this.opts.log.info("outbound.policy", note, { queueId: message.id, domain: job.domain });

    let hosts = dest.hosts;
    let sts: StsPolicy | null = null;
    if ((dest.source === "mx" || dest.source === "implicit-mx") && this.opts.mtaSts) {
      sts = await this.opts.mtaSts.policyFor(job.domain);
      if (sts?.mode === "enforce") {
        const allowed = hosts.filter((h) => policyAllows(sts as StsPolicy, h.name));
        if (allowed.length === 0) {
          return all(recipients, "temporary", "4.7.5", `MTA-STS policy of ${job.domain} allows none of its MX hosts (${hosts.map((h) => h.name).join(", ")})`);
        }
        hosts = allowed;
      }
    }

    const failures: string[] = [];
    for (const host of hosts) {
      const policy = await this.hostPolicy(host, dest.source, sts);
      if (typeof policy === "string") {
        failures.push(`${host.name}: ${policy}`);
        continue;
      }
      for (const address of host.addresses) {
        const r = await this.attempt(job, traits, host, address, policy);
        if (r.kind === "done") return r.outcomes;
        failures.push(`${host.name}[${address}]: ${r.reason}`);
        this.opts.log.info("outbound.error", `${host.name}[${address}]: ${r.reason}`, {
          queueId: message.id,
          domain: job.domain,
          host: host.name,
          ip: address,
        });
      }
    }
    return all(recipients, "temporary", "4.4.1", failures.join("; ") || `no usable host for ${job.domain}`);
  }

  /** TLS policy for a host: DANE beats MTA-STS beats the default (RFC 8461 §2: DANE takes precedence). */
  private async hostPolicy(host: RouteHost, source: string, sts: StsPolicy | null): Promise<HostPolicy | string> {
    if (source === "smarthost") {
      const mode = this.opts.smarthost?.tls ?? "starttls";
      if (mode === "none") return { tls: "none", name: "smarthost-plain" };
      return { tls: mode === "implicit" ? "implicit" : "required", verify: pkix, name: "smarthost" };
    }
    if (this.opts.dane && host.authenticated) {
      let tlsa: { records: TlsaRecord[]; authenticated: boolean } | null = null;
      try {
        tlsa = await this.opts.resolver.tlsa(`_${host.port}._tcp.${host.name}`);
      } catch (err) {
        // RFC 7672 §2.2: a failed TLSA lookup of a secure host means we cannot know: don't use it.
        if (!(err instanceof DnsError && err.kind === "nxdomain")) return `TLSA lookup failed (${(err as Error).message})`;
      }
      if (tlsa?.authenticated && tlsa.records.length > 0) {
        const records = tlsa.records;
        if (usableTlsa(records).length === 0) return { tls: "required", name: "dane-unusable" };
        return {
          tls: "required",
          name: "dane",
          verify: (_s, socket) => daneVerify(records, peerChain(socket), host.name),
        };
      }
    }
    if (sts?.mode === "enforce") return { tls: "required", verify: pkix, name: "mta-sts" };
    if (sts?.mode === "testing") return { tls: "opportunistic", name: "mta-sts-testing" };
    return { tls: this.opts.defaultTls, name: this.opts.defaultTls };
  }

  private async attempt(
    job: DeliveryJob,
    traits: MessageTraits,
    host: RouteHost,
    address: string,
    policy: HostPolicy,
  ): Promise<Attempt> {
    const key = `${address}|${host.port}|${host.name}|${policy.name}`;
    let conn = this.pool.take(key);
    if (!conn) {
      const options: SmtpClientOptions = {
        host: address,
        port: host.port,
        servername: host.name,
        localHostname: this.opts.hostname,
        tls: policy.tls,
        timeouts: { connect: this.opts.connectTimeoutMs },
      };
      if (this.opts.ca) options.ca = this.opts.ca;
      const bind = address.includes(":") ? this.opts.bindAddress?.v6 : this.opts.bindAddress?.v4;
      if (bind) options.localAddress = bind;
      if (policy.verify) options.verifyCertificate = policy.verify;
      const sh = this.opts.smarthost;
      if (policy.name.startsWith("smarthost") && sh?.user) options.auth = { user: sh.user, pass: sh.password };
      try {
        conn = await this.opts.connect(options);
      } catch (err) {
        return { kind: "next", reason: describe(err), reply: err instanceof ClientError ? err.reply : null };
      }
      this.opts.log.info("outbound.connect", `connected to ${host.name}[${address}]:${host.port}`, {
        queueId: job.message.id,
        host: host.name,
        ip: address,
        port: host.port,
        tls: conn.tls ? `${conn.tls.protocol} ${conn.tls.cipher}` : "none",
        verified: conn.tls?.authorized ?? false,
        policy: policy.name,
      });
    }
    // RFC 5321 §4.5.3.1.8: a server need accept only 100 recipients per transaction; send more as
    // several transactions over the same connection.
    const outcomes: RecipientOutcome[] = [];
    for (let i = 0; i < job.recipients.length; i += MAX_RCPTS_PER_TRANSACTION) {
      const part: DeliveryJob = { ...job, recipients: job.recipients.slice(i, i + MAX_RCPTS_PER_TRANSACTION) };
      const rest = job.recipients.slice(i);
      let r: Attempt;
      try {
        r = await this.send(conn, part, traits, host, address);
      } catch (err) {
        conn.destroy();
        if (err instanceof ClientError && (err.kind === "size" || err.kind === "smtputf8")) {
          const status = err.kind === "size" ? "5.3.4" : "5.6.7";
          return { kind: "done", outcomes: all(job.recipients, "permanent", status, `${host.name}[${address}]: ${err.message}`, host.name) };
        }
        if (i === 0) return { kind: "next", reason: describe(err), reply: err instanceof ClientError ? err.reply : null };
        outcomes.push(...all(rest, "temporary", "4.4.2", `${host.name}[${address}]: ${describe(err)}`, host.name));
        return { kind: "done", outcomes };
      }
      if (r.kind === "next") {
        this.pool.give(key, conn);
        if (i === 0) return r;
        outcomes.push(...all(rest, "temporary", "4.4.2", `${host.name}[${address}]: ${r.reason}`, host.name));
        return { kind: "done", outcomes };
      }
      outcomes.push(...r.outcomes);
    }
    this.pool.give(key, conn);
    return { kind: "done", outcomes };
  }

  private async send(
    conn: SmtpConnection,
    job: DeliveryJob,
    traits: MessageTraits,
    host: RouteHost,
    address: string,
  ): Promise<Attempt> {
    const { message, recipients } = job;
    const smtputf8 =
      traits.utf8Header || /[^\x00-\x7f]/.test(message.sender) || recipients.some((r) => /[^\x00-\x7f]/.test(r.address));
    const result = await conn.send(
      {
        from: message.sender,
        recipients: recipients.map((r) => ({
          address: r.address,
          ...(r.notify ? { notify: r.notify } : {}),
          ...(r.orcpt ? { orcpt: r.orcpt } : {}),
        })),
        size: message.size,
        eightBit: traits.eightBit,
        smtputf8,
        ...(message.dsn.ret ? { ret: message.dsn.ret } : {}),
        ...(message.dsn.envid ? { envid: message.dsn.envid } : {}),
      },
      () => this.sourceFor(job),
    );
    const where = `${host.name}[${address}]`;
    if (result.mail.code >= 400) {
      // RFC 5321 §5.1: a temporary refusal of the whole transaction → try the next host.
      if (result.mail.code < 500) return { kind: "next", reason: `MAIL FROM: ${result.mail.text}`, reply: result.mail };
      return { kind: "done", outcomes: recipients.map((r) => fromReply(r, result.mail, where, host.name)) };
    }
    const dsn = conn.extensions.has("DSN");
    const outcomes = recipients.map((r, i) => {
      const rr = result.recipients[i];
      if (!rr?.accepted) return fromReply(r, rr?.reply ?? result.mail, where, host.name);
      const final = result.data ?? rr.reply;
      const o = fromReply(r, final, where, host.name);
      // RFC 3461 §4.1: a relay to a server without DSN reports "relayed" for NOTIFY=SUCCESS.
      if (o.kind === "delivered" && !dsn) (o as RecipientOutcome & { relayed?: boolean }).relayed = true;
      return o;
    });
    return { kind: "done", outcomes };
  }

  /**
   * Scans the message once (8-bit, UTF-8 header, Received count). A message up to SMALL_MESSAGE bytes
   * is read whole and kept for the send, so it costs one read of its file; a bigger one streams twice.
   */
  private async messageTraits(job: DeliveryJob): Promise<MessageTraits> {
    const key = job.message.id;
    const known = this.traits.get(key);
    if (known) return known.traits;
    let body: Buffer | null = null;
    if (job.message.size <= SMALL_MESSAGE) body = await this.opts.store.blobs.read(job.message.blobId);
    const parts = body ? [job.message.prefix, body] : this.source(job);
    const traits = await scanMessage(parts);
    this.traits.set(key, { traits, body });
    return traits;
  }

  /** in-memory pieces when messageTraits kept the bytes (the client writes them at once), else a stream */
  private sourceFor(job: DeliveryJob): Readable | Buffer[] {
    const body = this.traits.get(job.message.id)?.body;
    if (body) return job.message.prefix.length > 0 ? [job.message.prefix, body] : [body];
    return Readable.from(this.source(job));
  }

  /** the bytes to send: the queue prefix, then the blob (from memory when messageTraits kept it) */
  private source(job: DeliveryJob): AsyncIterable<Buffer> {
    const body = this.traits.get(job.message.id)?.body;
    if (body) return (async function* () {
      if (job.message.prefix.length > 0) yield job.message.prefix;
      yield body;
    })();
    return messageSource(job.message.prefix, () => this.opts.store.blobs.createReadStream(job.message.blobId));
  }
}

/** PKIX: a chain to a trusted CA and a certificate naming the host (MTA-STS §4.2, smarthosts). */
function pkix(session: TlsSession): string | null {
  return session.authorized ? null : `certificate not trusted: ${session.authorizationError ?? "unknown"}`;
}

function describe(err: unknown): string {
  if (err instanceof ClientError) return err.reply ? `${err.message} (${err.reply.text})` : err.message;
  return (err as Error)?.message ?? String(err);
}

function replyStatus(reply: ClientReply): string {
  if (reply.enhanced && reply.enhanced[0] === String(reply.code)[0]) return reply.enhanced;
  if (reply.code >= 500) return "5.0.0";
  if (reply.code >= 400) return "4.0.0";
  return "2.0.0";
}

function fromReply(r: QueueRecipient, reply: ClientReply, where: string, remoteMta: string): RecipientOutcome {
  const kind = reply.code < 400 ? "delivered" : reply.code < 500 ? "temporary" : "permanent";
  return {
    recipientId: r.id,
    kind,
    status: replyStatus(reply),
    reply: `${where}: ${reply.code} ${reply.enhanced ? `${reply.enhanced} ` : ""}${reply.text}`,
    remoteMta,
    diagnostic: `smtp; ${reply.code} ${reply.enhanced ? `${reply.enhanced} ` : ""}${reply.text}`,
  };
}

function all(
  recipients: QueueRecipient[],
  kind: RecipientOutcome["kind"],
  status: string,
  reply: string,
  remoteMta?: string,
): RecipientOutcome[] {
  return recipients.map((r) => ({
    recipientId: r.id,
    kind,
    status,
    reply,
    ...(remoteMta ? { remoteMta } : {}),
  }));
}
