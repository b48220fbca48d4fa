// Inbound message authentication (DESIGN.md §5 step 3): SPF (RFC 7208), DKIM (RFC 6376, RFC 8463),
// ARC (RFC 8617), iprev (RFC 8601 §3) and DMARC (RFC 7489), composed into one Authentication-Results
// field (RFC 8601) and a disposition. mailauth does the protocol work; this module decides what its
// results mean for Postamt, and fixes what mailauth 4.13.3 gets wrong or leaves open:
//
// - DMARC alignment is computed here: mailauth's getAlignment is handed `{ strict }` as a truthy
//   object and falls back to relaxed matching anyway, so adkim=s / aspf=s were never enforced.
// - A DKIM body hash mismatch is "fail" (RFC 6376 §6.1.3 PERMFAIL; RFC 8601 §2.7.1), not mailauth's
//   "neutral"; rsa-sha1 never passes (RFC 8301 §3.1: "policy"); signatures mailauth skips as malformed
//   are reported as "permerror" instead of vanishing.
// - DMARC "fail" becomes "temperror" when an identifier that would have aligned had a temporary
//   error (RFC 7489 §6.6.2: the policy cannot be applied then). temperror never rejects.
// - From: with several addresses: each distinct domain is checked and the strictest policy among
//   the failing ones applies (RFC 7489 §6.6.1, last paragraph). Several From: fields: the same, and
//   the DMARC result is reported as "permerror" (RFC 5322 §3.6 allows one). No From: domain at all:
//   DMARC "none" (§6.6.1: ignored by DMARC); protectLocalDomains then has nothing to protect.
// - pct= (§6.6.4): a failing message not sampled gets the next milder policy (reject → quarantine,
//   quarantine → none).
// - ARC (RFC 8617 §7.2.1 local policy override): only when the chain passes, the newest ARC-Seal is
//   by a domain in `trustedArcSealers`, and that sealer's ARC-Authentication-Results say dmarc=pass,
//   a DMARC failure (and the local-domain rule) is not enforced. Anyone can ARC-seal a forgery with
//   their own domain, so an untrusted chain is only mentioned in the reason.
// - DKIM cannot detect replay: a validly signed message resent from anywhere still passes DKIM and
//   therefore DMARC. That is a property of DKIM (RFC 6376 §8.6), not of this code.
//
// DKIM is verified over the bytes given. Removing Authentication-Results fields that claim our
// authserv-id (header-filter.ts, RFC 8601 §5) breaks a signature that covers such a field; give the
// message as received to verify those too (a sender signing a field in our name is suspect anyway).
import { createRequire } from "node:module";
import { isIP } from "node:net";
import { domainToASCII } from "node:url";
import { type ARCData, arc, type DNSResolver, dkimVerify, dmarc, spf } from "mailauth";
import { nodeStyleResolver } from "../dns/node-style.js";
import type { DnsResolver } from "../dns/types.js";
import { composeAuthResults, formatResinfo, type ResInfo } from "./auth-results.js";
import { checkIprev, type IprevResult } from "./iprev.js";

export type { IprevResult } from "./iprev.js";

// ---- mailauth's run-time shapes ----

/**
 * The parts of mailauth 4.13.3's dkimVerify result used here, as lib/dkim/dkim-verifier.js builds
 * them; its bundled typings differ (`algo`, `signature`, Buffer header lines, non-enumerable fields).
 */
interface DkimVerifyOutput {
  /** every address of every From: field */
  headerFrom: string[];
  results: DkimSignatureOutput[];
  headers?: { parsed: Array<{ key: string | null; line: Buffer }> };
  arc?: ArcChainData;
}

interface DkimSignatureOutput {
  signingDomain?: string;
  selector?: string;
  /** the b= value */
  signature?: string;
  algo?: string;
  status: { result: string; comment?: string };
}

interface ArcChainData {
  chain: unknown;
  lastEntry?: { "arc-seal"?: { parsed?: { d?: { value?: unknown } } } };
  error?: Error;
}

interface ArcOutput {
  status: { result: string; comment?: string };
  i?: number | false;
  /** the newest ARC-Authentication-Results, parsed */
  authenticationResults?: { dmarc?: { result?: string } };
}

interface DmarcOutput {
  status: { result: string };
  /** p, or sp when the record came from the organizational domain */
  policy?: string;
  p?: string;
  sp?: string;
  pct?: number;
  alignment?: { spf?: { strict?: boolean }; dkim?: { strict?: boolean } };
}

interface MailauthTools {
  /** relaxed alignment (organizational domains, public suffix list) when called without `strict` */
  getAlignment(fromDomain: string, domains: string[]): { domain: string } | false;
  parseDkimHeaders(line: Buffer | string): { parsed?: Record<string, { value?: unknown } | undefined> };
}

// lib/tools.js has no typings; it is mailauth's own (so the same public suffix list as its DMARC code)
const tools = createRequire(import.meta.url)("mailauth/lib/tools.js") as MailauthTools;

// ---- public types ----

export type SpfResultName = "pass" | "fail" | "softfail" | "neutral" | "none" | "temperror" | "permerror";

export interface SpfOutcome {
  result: SpfResultName;
  /** the domain checked (MAIL FROM domain, or HELO for <>) */
  domain: string;
  /** "spf=pass smtp.mailfrom=…" resinfo for the A-R header */
  info: string;
  /** human explanation */
  comment: string;
  /** which identity was checked (RFC 7208 §2.3, §2.4) */
  identity?: "mailfrom" | "helo";
  /** the address checked: MAIL FROM, or postmaster@HELO for <> */
  sender?: string;
}

export interface InboundAuthInput {
  /** the whole message as received (header + body), streamed */
  message: NodeJS.ReadableStream | Buffer;
  ip: string;
  helo: string | null;
  /** "" = <> */
  mailFrom: string;
  /** authserv-id = our hostname */
  hostname: string;
  resolver: DnsResolver;
  /** SPF computed at MAIL FROM; when absent it is computed here */
  spf?: SpfOutcome;
  /**
   * SPF of the HELO identity (RFC 7208 §2.3 recommends checking it separately), reported as a
   * second spf result with smtp.helo; not used for DMARC, which takes the MAIL FROM result.
   */
  heloSpf?: SpfOutcome;
  /** reverse DNS computed at connect; when absent it is computed here */
  iprev?: IprevResult;
  isLocalDomain(domain: string): Promise<boolean>;
  /** honour p=reject / p=quarantine (else disposition stays "none") */
  dmarcEnforce: boolean;
  /** From: in a local domain must pass DMARC (aligned SPF or DKIM) even without a DMARC record */
  protectLocalDomains: boolean;
  /** for tests: replaces Math.random in the pct= sampling of RFC 7489 §6.6.4 */
  random?: () => number;
  /** ARC sealers (d= of the ARC-Seal) whose dmarc=pass may override a DMARC failure (RFC 8617 §7.2.1) */
  trustedArcSealers?: readonly string[];
  /** for tests: the time DKIM signature expiry (x=) is judged at */
  now?: Date;
}

export interface DkimOutcome {
  /** d= */
  domain: string;
  /** s= */
  selector: string;
  result: string;
  /** d= aligns with the From: domain (in the record's adkim mode; relaxed without a record) */
  aligned: boolean;
  /** a= */
  algorithm: string;
  /** why not pass, when known */
  comment: string;
}

export type DmarcResultName = "pass" | "fail" | "none" | "temperror" | "permerror";
export type DmarcPolicy = "" | "none" | "quarantine" | "reject";

export interface InboundAuthResult {
  /** the whole "Authentication-Results: <hostname>;\r\n\t…\r\n" field, ready to prefix to the stored message */
  header: string;
  spf: SpfOutcome;
  /** one per DKIM-Signature field, in header order; empty when unsigned */
  dkim: DkimOutcome[];
  arc: { result: string /** d= of the newest ARC-Seal */; sealer?: string };
  iprev: IprevResult;
  dmarc: {
    result: DmarcResultName;
    /** RFC5322.From domain ("" when there is none) */
    domain: string;
    /** published policy in force ("" without a record) */
    policy: DmarcPolicy;
    spfAligned: boolean;
    dkimAligned: boolean;
  };
  /** what Postamt should do */
  disposition: "none" | "quarantine" | "reject";
  /** one line for logs and the 550 text when rejected */
  reason: string;
}

// ---- small helpers ----

/** A domain as an A-label, lower case, no trailing dot; null if it is none (address literals, junk). */
function asciiDomain(d: string): string | null {
  const t = d.trim().replace(/\.$/, "").toLowerCase();
  if (t === "" || t.startsWith("[") || isIP(t)) return null;
  const a = /[^\x00-\x7f]/.test(t) ? domainToASCII(t) : t;
  if (
    !a ||
    !/^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/.test(a)
  )
    return null;
  return a;
}

function relaxedAligned(a: string, b: string): boolean {
  return tools.getAlignment(a, [b]) !== false;
}

/** RFC 7489 §3.1: strict = identical domains; relaxed = same organizational domain. */
function aligned(identifier: string, fromDomain: string, strict: boolean): boolean {
  const id = asciiDomain(identifier);
  if (!id) return false;
  return strict ? id === fromDomain : relaxedAligned(id, fromDomain);
}

function mailauthResolver(r: DnsResolver): DNSResolver {
  // nodeStyleResolver returns node's dns.promises.resolve shapes, which is what mailauth's type names
  return nodeStyleResolver(r) as DNSResolver;
}

const SPF_RESULTS: readonly SpfResultName[] = [
  "pass",
  "fail",
  "softfail",
  "neutral",
  "none",
  "temperror",
  "permerror",
];

// ---- SPF ----

function spfOutcome(
  result: SpfResultName,
  domain: string,
  identity: "mailfrom" | "helo",
  sender: string,
  comment: string,
): SpfOutcome {
  const prop: [string, string] = identity === "helo" ? ["smtp.helo", domain] : ["smtp.mailfrom", sender];
  return {
    result,
    domain,
    identity,
    sender,
    comment,
    info: formatResinfo({ method: "spf", result, props: [prop] }),
  };
}

/**
 * SPF at MAIL FROM time (RFC 7208 §2.4; for the null sender the HELO identity, §2.3: the check is of
 * "postmaster@<HELO>"). Uses mailauth's spf() with nodeStyleResolver(resolver); mailauth enforces the
 * 10-lookup and 2-void-lookup limits (§4.6.4). Never rejects.
 */
export async function checkSpf(opts: {
  ip: string;
  helo: string | null;
  mailFrom: string;
  hostname: string;
  resolver: DnsResolver;
}): Promise<SpfOutcome> {
  const { ip, helo, mailFrom, hostname, resolver } = opts;
  let identity: "mailfrom" | "helo";
  let domain: string | null;
  let sender: string;
  if (mailFrom === "") {
    identity = "helo";
    domain = helo ? asciiDomain(helo) : null;
    sender = `postmaster@${domain ?? helo ?? ""}`;
    if (!domain) {
      return spfOutcome("none", helo ?? "", identity, sender, "no HELO domain to check for the null sender");
    }
  } else {
    identity = "mailfrom";
    const at = mailFrom.lastIndexOf("@");
    const local = at >= 0 ? mailFrom.slice(0, at) : "postmaster";
    const raw = at >= 0 ? mailFrom.slice(at + 1) : mailFrom;
    domain = asciiDomain(raw);
    sender = `${local}@${domain ?? raw}`;
    if (!domain) {
      return spfOutcome("none", raw, identity, sender, `${raw} is not a domain name SPF can check`);
    }
  }
  // %{h} expands to the HELO name; an address literal is written in brackets, as mailauth does
  const heloArg = helo ? (isIP(helo) ? `[${helo}]` : helo) : undefined;
  try {
    const r = await spf({ sender, ip, helo: heloArg, mta: hostname, resolver: mailauthResolver(resolver) });
    const result = (SPF_RESULTS as readonly string[]).includes(r.status.result)
      ? (r.status.result as SpfResultName)
      : "temperror";
    return spfOutcome(result, domain, identity, sender, r.status.comment ?? "");
  } catch (err) {
    // mailauth turns DNS failures into results; anything thrown is unexpected, and temporary
    return spfOutcome("temperror", domain, identity, sender, `SPF check failed: ${(err as Error).message}`);
  }
}

// ---- DKIM ----

function tagValue(parsed: Record<string, { value?: unknown } | undefined> | undefined, tag: string): string {
  const v = parsed?.[tag]?.value;
  return v === undefined || v === null ? "" : String(v);
}

/** A signature's outcome with its b= value (for header.b). */
interface SignatureVerdict extends DkimOutcome {
  b: string;
}

/**
 * One outcome per DKIM-Signature field, in header order. mailauth verifies the well-formed ones (its
 * results follow header order) and silently skips the rest; those are matched back by their b= value.
 */
function dkimOutcomes(out: DkimVerifyOutput, fromDomain: string | null, strict: boolean): SignatureVerdict[] {
  const verified = out.results.filter((r) => r.signingDomain !== undefined);
  const fields = (out.headers?.parsed ?? []).filter((h) => h.key === "dkim-signature");
  const outcomes: SignatureVerdict[] = [];
  let next = 0;
  for (const field of fields) {
    const parsed = tools.parseDkimHeaders(field.line).parsed;
    const b = tagValue(parsed, "b");
    const r = verified[next];
    if (r && (r.signature ?? "") === b) {
      next++;
      outcomes.push(fromMailauth(r, fromDomain, strict));
      continue;
    }
    const domain = tagValue(parsed, "d").toLowerCase();
    outcomes.push({
      domain,
      selector: tagValue(parsed, "s"),
      result: "permerror",
      aligned: fromDomain !== null && aligned(domain, fromDomain, strict),
      algorithm: tagValue(parsed, "a").toLowerCase(),
      comment: "malformed or unsupported signature",
      b,
    });
  }
  return outcomes;
}

function fromMailauth(r: DkimSignatureOutput, fromDomain: string | null, strict: boolean): SignatureVerdict {
  const domain = (r.signingDomain ?? "").toLowerCase();
  const algorithm = (r.algo ?? "").toLowerCase();
  let result = r.status.result;
  let comment = r.status.comment ?? "";
  if (result === "neutral" && comment === "body hash did not verify") result = "fail";
  if (result === "pass" && algorithm.endsWith("-sha1")) {
    result = "policy";
    comment = "rsa-sha1 is not accepted (RFC 8301)";
  }
  if (result === "policy" && !comment) comment = "key too short";
  return {
    domain,
    selector: r.selector ?? "",
    result,
    aligned: fromDomain !== null && aligned(domain, fromDomain, strict),
    algorithm,
    comment,
    b: r.signature ?? "",
  };
}

// ---- From: ----

interface AuthorDomains {
  /** number of From: fields */
  fields: number;
  /** distinct A-label domains of their addresses, in order */
  domains: string[];
}

function authorDomains(out: DkimVerifyOutput): AuthorDomains {
  const fields = (out.headers?.parsed ?? []).filter((h) => h.key === "from").length;
  const domains: string[] = [];
  for (const address of out.headerFrom) {
    const at = address.lastIndexOf("@");
    const d = at >= 0 ? asciiDomain(address.slice(at + 1)) : null;
    if (d && !domains.includes(d)) domains.push(d);
  }
  return { fields, domains };
}

// ---- DMARC ----

/** Bound on the DNS work one message's From: can cause. */
const MAX_AUTHOR_DOMAINS = 5;

interface DomainVerdict {
  domain: string;
  result: DmarcResultName;
  /** the policy in force after sp=; "" without a record */
  policy: DmarcPolicy;
  pct: number;
  strictDkim: boolean;
  spfAligned: boolean;
  dkimAligned: boolean;
  /** "p=REJECT sp=NONE", for the A-R comment */
  summary: string;
}

function policyName(p: string | undefined): "none" | "quarantine" | "reject" {
  const v = (p ?? "").trim().toLowerCase();
  // RFC 7489 §6.6.3 step 6: an invalid p= is treated as p=none
  return v === "quarantine" || v === "reject" ? v : "none";
}

async function evaluateDomain(
  domain: string,
  spfResult: SpfOutcome,
  dkim: Array<{ domain: string; result: string }>,
  resolver: DNSResolver,
): Promise<DomainVerdict> {
  // mailauth's dmarc() finds the record (falling back to the organizational domain, §6.6.3); the
  // alignment it computes is not used (see the top of this file)
  // DmarcOutput: the typings make policy and pct always present; they are not without p= / pct=
  const r = (await dmarc({ headerFrom: domain, spfDomains: [], dkimDomains: [], resolver })) as
    | DmarcOutput
    | false;
  const found = r !== false && r.status.result !== "none" && r.status.result !== "temperror";
  const strictSpf = found && r.alignment?.spf?.strict === true;
  const strictDkim = found && r.alignment?.dkim?.strict === true;
  const spfAligned = spfResult.result === "pass" && aligned(spfResult.domain, domain, strictSpf);
  const dkimAligned = dkim.some((d) => d.result === "pass" && aligned(d.domain, domain, strictDkim));
  const base = { domain, strictDkim, spfAligned, dkimAligned };
  if (r === false || r.status.result === "none") {
    return { ...base, result: "none", policy: "", pct: 100, summary: "" };
  }
  if (r.status.result === "temperror") {
    return { ...base, result: "temperror", policy: "", pct: 100, summary: "DNS error" };
  }
  const policy = policyName(r.policy);
  const pct = typeof r.pct === "number" ? Math.min(100, Math.max(0, r.pct)) : 100;
  const summary = [
    `p=${policyName(r.p).toUpperCase()}`,
    r.sp && r.sp !== r.p ? `sp=${policyName(r.sp).toUpperCase()}` : "",
    pct < 100 ? `pct=${pct}` : "",
  ]
    .filter(Boolean)
    .join(" ");
  let result: DmarcResultName = spfAligned || dkimAligned ? "pass" : "fail";
  if (result === "fail") {
    // §6.6.2: a temporary error on an identifier that would have aligned leaves the outcome open
    const spfTemp = spfResult.result === "temperror" && aligned(spfResult.domain, domain, strictSpf);
    const dkimTemp = dkim.some((d) => d.result === "temperror" && aligned(d.domain, domain, strictDkim));
    if (spfTemp || dkimTemp) result = "temperror";
  }
  return { ...base, result, policy, pct, summary };
}

const SEVERITY: Record<DmarcPolicy, number> = { "": 0, none: 1, quarantine: 2, reject: 3 };
const RESULT_RANK: Record<DmarcResultName, number> = {
  pass: 0,
  none: 1,
  temperror: 2,
  permerror: 3,
  fail: 4,
};

/** The verdict that decides: the failing one with the strictest policy, else the worst result. */
function decisive(verdicts: DomainVerdict[]): DomainVerdict {
  return verdicts.reduce((a, b) => {
    if (RESULT_RANK[b.result] !== RESULT_RANK[a.result])
      return RESULT_RANK[b.result] > RESULT_RANK[a.result] ? b : a;
    return SEVERITY[b.policy] > SEVERITY[a.policy] ? b : a;
  });
}

// ---- ARC ----

function sealerOf(data: ArcChainData | undefined): string | undefined {
  const d = data?.lastEntry?.["arc-seal"]?.parsed?.d?.value;
  // it ends up in the reason (and so in an SMTP reply): only a domain name will do
  return (typeof d === "string" && asciiDomain(d)) || undefined;
}

// ---- the whole check ----

export async function authenticateInbound(input: InboundAuthInput): Promise<InboundAuthResult> {
  const resolver = mailauthResolver(input.resolver);
  // an IPv4 client on a dual-stack socket is reported as the IPv4 address it is
  const ip = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(input.ip.trim())?.[1] ?? input.ip.trim();

  const [spfResult, iprev, verified] = await Promise.all([
    input.spf ??
      checkSpf({
        ip: input.ip,
        helo: input.helo,
        mailFrom: input.mailFrom,
        hostname: input.hostname,
        resolver: input.resolver,
      }),
    input.iprev ?? checkIprev(input.ip, input.resolver),
    // any readable works (mailauth pipes it); its typings only name node's Readable class
    dkimVerify(input.message as Buffer, {
      resolver,
      sender: input.mailFrom || undefined,
      curTime: input.now,
    }),
  ]);
  // see DkimVerifyOutput: mailauth's typings do not describe what 4.13.3 returns
  const dkimOut = verified as unknown as DkimVerifyOutput;

  // the chain data goes back to mailauth as it came; ArcOutput: the fields read here
  const arcOut = (
    dkimOut.arc ? await arc(dkimOut.arc as ARCData, { resolver }) : { status: { result: "none" } }
  ) as ArcOutput;
  const arcResult = ["pass", "fail", "none"].includes(arcOut.status.result) ? arcOut.status.result : "fail";
  const sealer = arcResult === "none" ? undefined : sealerOf(dkimOut.arc);

  // DMARC, per author domain
  const authors = authorDomains(dkimOut);
  const checked = authors.domains.slice(0, MAX_AUTHOR_DOMAINS);
  // the signatures' results first (alignment of each is filled in once the From: record is known)
  const rawDkim = dkimOutcomes(dkimOut, null, false);
  const verdicts = await Promise.all(checked.map((d) => evaluateDomain(d, spfResult, rawDkim, resolver)));
  const primary = verdicts.length ? decisive(verdicts) : null;
  const dkim = primary ? dkimOutcomes(dkimOut, primary.domain, primary.strictDkim) : rawDkim;

  let dmarcResult: DmarcResultName = primary?.result ?? "none";
  const notes: string[] = [];
  if (authors.fields > 1) {
    dmarcResult = "permerror";
    notes.push(`${authors.fields} From: fields (RFC 5322 allows one)`);
  } else if (authors.domains.length > MAX_AUTHOR_DOMAINS) {
    dmarcResult = "permerror";
    notes.push(`From: names ${authors.domains.length} domains; the first ${MAX_AUTHOR_DOMAINS} were checked`);
  } else if (authors.domains.length > 1) {
    notes.push(`From: names ${authors.domains.length} domains`);
  }

  // RFC 8617 §7.2.1 override: a trusted sealer that saw DMARC pass
  const trusted = new Set((input.trustedArcSealers ?? []).map((d) => d.toLowerCase().replace(/\.$/, "")));
  const arcOverride =
    arcResult === "pass" &&
    sealer !== undefined &&
    trusted.has(sealer) &&
    arcOut.authenticationResults?.dmarc?.result?.toLowerCase() === "pass";

  // disposition: the DMARC policy …
  let disposition: InboundAuthResult["disposition"] = "none";
  let reason: string;
  const failing = verdicts.filter((v) => v.result === "fail");
  if (!primary) {
    reason = "no RFC5322.From domain; DMARC not applied (RFC 7489 §6.6.1)";
  } else if (failing.length > 0) {
    const v = primary; // the failing verdict with the strictest policy
    let applied: DmarcPolicy = v.policy;
    let sampled = "";
    if ((applied === "reject" || applied === "quarantine") && v.pct < 100) {
      const draw = (input.random ?? Math.random)() * 100;
      if (draw >= v.pct) {
        applied = applied === "reject" ? "quarantine" : "none";
        sampled = ` (pct=${v.pct}: not sampled, so ${applied})`;
      }
    }
    reason = `DMARC policy of ${v.domain} is ${v.policy}; the message failed DMARC${sampled}`;
    if (applied === "reject" || applied === "quarantine") {
      if (arcOverride)
        reason += `, but ARC sealer ${sealer} (trusted) saw DMARC pass; accepted (RFC 8617 §7.2.1)`;
      else if (!input.dmarcEnforce) reason += "; not enforced";
      else disposition = applied;
    }
    if (!arcOverride && arcResult === "pass" && sealer)
      reason += ` (valid ARC chain sealed by ${sealer}, not trusted)`;
  } else if (primary.result === "temperror") {
    reason = `DMARC check of ${primary.domain} failed temporarily; not enforced`;
  } else if (primary.result === "none") {
    reason = `no DMARC policy for ${primary.domain}`;
  } else {
    reason = `DMARC pass for ${primary.domain}`;
  }

  // … and the local-domain rule, which needs no record
  if (input.protectLocalDomains && disposition !== "reject") {
    for (const v of verdicts) {
      if (v.spfAligned || v.dkimAligned) continue;
      if (!(await input.isLocalDomain(v.domain))) continue;
      const temp =
        (spfResult.result === "temperror" && aligned(spfResult.domain, v.domain, false)) ||
        rawDkim.some((d) => d.result === "temperror" && aligned(d.domain, v.domain, false));
      if (temp) {
        reason = `${v.domain} is a local domain and its SPF/DKIM check failed temporarily; not enforced`;
      } else if (arcOverride) {
        reason = `${v.domain} is a local domain without aligned SPF or DKIM pass, but ARC sealer ${sealer} (trusted) saw DMARC pass`;
      } else {
        disposition = "reject";
        reason = `${v.domain} is a local domain, but the message has neither an aligned SPF pass nor an aligned DKIM pass`;
        break;
      }
    }
  }
  if (notes.length) reason = `${notes.join("; ")}; ${reason}`;

  // the Authentication-Results field (RFC 8601 §2.2); results in the order spf, dkim, dmarc, arc, iprev
  const results: ResInfo[] = [];
  results.push({
    method: "spf",
    result: spfResult.result,
    comment: spfResult.comment || undefined,
    props: [
      spfResult.identity === "helo" || (spfResult.identity === undefined && input.mailFrom === "")
        ? ["smtp.helo", spfResult.domain]
        : ["smtp.mailfrom", spfResult.sender ?? input.mailFrom],
    ],
  });
  if (input.heloSpf && input.mailFrom !== "") {
    results.push({
      method: "spf",
      result: input.heloSpf.result,
      comment: input.heloSpf.comment || undefined,
      props: [["smtp.helo", input.heloSpf.domain]],
    });
  }
  if (dkim.length === 0) results.push({ method: "dkim", result: "none", comment: "message not signed" });
  for (const d of dkim) {
    const props: Array<[string, string]> = [];
    if (d.domain) props.push(["header.d", d.domain]);
    if (d.selector) props.push(["header.s", d.selector]);
    if (d.algorithm) props.push(["header.a", d.algorithm]);
    // the first 8 characters of b= tell signatures of the same d= apart (RFC 6008)
    if (d.b) props.push(["header.b", d.b.slice(0, 8)]);
    results.push({ method: "dkim", result: d.result, comment: d.comment || undefined, props });
  }
  {
    const dmarcComment = [
      primary?.summary ?? "",
      primary && failing.length ? `dis=${disposition.toUpperCase()}` : "",
    ]
      .filter(Boolean)
      .join(" ");
    const comment = [...notes, dmarcComment].filter(Boolean).join("; ");
    results.push({
      method: "dmarc",
      result: dmarcResult,
      comment: comment || undefined,
      props: primary ? [["header.from", primary.domain]] : [],
    });
  }
  results.push({
    method: "arc",
    result: arcResult,
    comment: arcOut.status.comment || undefined,
    // RFC 8617 §6: the address of the client that relayed the message
    props: arcResult === "none" ? [] : [["smtp.remote-ip", ip]],
  });
  results.push({
    method: "iprev",
    result: iprev.result,
    props: [["policy.iprev", ip]],
    note: iprev.name ?? undefined,
  });

  return {
    header: composeAuthResults(input.hostname, results),
    spf: spfResult,
    dkim: dkim.map(({ domain, selector, result, aligned, algorithm, comment }) => ({
      domain,
      selector,
      result,
      aligned,
      algorithm,
      comment,
    })),
    arc: sealer ? { result: arcResult, sealer } : { result: arcResult },
    iprev,
    dmarc: {
      result: dmarcResult,
      domain: primary?.domain ?? "",
      policy: primary?.policy ?? "",
      spfAligned: primary?.spfAligned ?? false,
      dkimAligned: primary?.dkimAligned ?? false,
    },
    disposition,
    reason,
  };
}
