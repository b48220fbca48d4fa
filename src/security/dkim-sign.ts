// DKIM signing of outgoing mail: one rsa-sha256 (RFC 6376) and one ed25519-sha256 (RFC 8463) signature
// per message, both relaxed/relaxed, with the domain's active keys (dkim-keys.ts).
//
// The message is read once, as a stream: the header section is collected (it is small; capped), the body
// goes through a streaming relaxed canonicalizer into SHA-256 and is never held. The caller prepends the
// returned DKIM-Signature fields to the message it sends.
//
// What is signed is the wire form: a bare LF (a message written by a Unix tool) counts as CRLF, and a
// message that does not end in CRLF is signed as if it did (SMTP DATA adds it), so the signature is the
// same whether or not the caller normalises line ends before sending.
import { createHash, createPrivateKey, type KeyObject, sign as cryptoSign } from "node:crypto";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import { domainToASCII } from "node:url";
import { type DkimAlgorithm, type DkimKey, dkimStatePath, ensureDomainKeys } from "./dkim-keys.js";

/**
 * The header fields signed when present (RFC 6376 §5.4.1's list without Resent-*, which a submission
 * does not have, plus List-*). Each is signed as often as it occurs.
 */
export const DKIM_SIGNED_FIELDS: readonly string[] = [
  "from",
  "sender",
  "reply-to",
  "to",
  "cc",
  "subject",
  "date",
  "message-id",
  "in-reply-to",
  "references",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "list-id",
  "list-help",
  "list-unsubscribe",
  "list-unsubscribe-post",
  "list-subscribe",
  "list-post",
  "list-owner",
  "list-archive",
];

/**
 * Named once more in h= than they occur, so a From added on the way invalidates the signature (RFC 6376
 * §5.4.2 last paragraph, §8.15): a second From could otherwise be shown instead of the signed one.
 */
export const DKIM_OVERSIGNED_FIELDS: readonly string[] = ["from"];

/** Largest header section signed; a "message" with no blank line within this is refused. */
export const MAX_SIGNED_HEADER_BYTES = 2 * 1024 * 1024;

/** A whole message, or one whose first bytes were already read off the stream (prefix) and the rest. */
export type DkimSignInput = Buffer | { prefix?: Buffer; body: Readable };

export interface DkimSigningKey {
  /** the d= tag (lower-case A-labels) */
  domain: string;
  /** the s= tag */
  selector: string;
  algorithm: DkimAlgorithm;
  privateKey: KeyObject;
}

export interface DkimSignatureOptions {
  /** the t= tag; default now */
  now?: Date;
  /** header fields to sign (lower-case); default DKIM_SIGNED_FIELDS */
  fields?: readonly string[];
  /** fields named once more than they occur; default DKIM_OVERSIGNED_FIELDS */
  oversign?: readonly string[];
}

export class DkimSignError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DkimSignError";
  }
}

export function toSigningKey(key: DkimKey): DkimSigningKey {
  return {
    domain: key.domain,
    selector: key.selector,
    algorithm: key.algorithm,
    privateKey: createPrivateKey(key.privateKeyPem),
  };
}

// ---- reading the message ----

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const CHUNK = 64 * 1024;

async function* chunksOf(input: DkimSignInput): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(input)) {
    for (let i = 0; i < input.length; i += CHUNK) yield input.subarray(i, i + CHUNK);
    return;
  }
  if (input.prefix?.length) yield input.prefix;
  for await (const c of input.body as AsyncIterable<Buffer | string>) {
    yield typeof c === "string" ? Buffer.from(c, "latin1") : c;
  }
}

/** Bare LF → CRLF, across chunk boundaries; returns the chunk itself when it needs no change. */
class LineEndNormalizer {
  #lastWasCr = false;

  push(chunk: Buffer): Buffer {
    let bare = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === LF && (i === 0 ? !this.#lastWasCr : chunk[i - 1] !== CR)) bare++;
    }
    const prevCr = this.#lastWasCr;
    if (chunk.length) this.#lastWasCr = chunk[chunk.length - 1] === CR;
    if (bare === 0) return chunk;
    const out = Buffer.allocUnsafe(chunk.length + bare);
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === LF && (i === 0 ? !prevCr : chunk[i - 1] !== CR)) out[o++] = CR;
      out[o++] = b;
    }
    return out;
  }
}

/**
 * RFC 6376 §3.4.4 "relaxed" body canonicalization, streaming, straight into the hash: whitespace at the
 * end of a line is dropped, other runs of SP/HTAB become one SP, empty lines at the end are dropped, and a
 * non-empty body ends with CRLF (an empty one hashes as the empty string). A bare LF ends a line as CRLF
 * does; a bare CR is an ordinary character.
 */
export class RelaxedBodyHash {
  readonly #hash = createHash("sha256");
  readonly #out = Buffer.allocUnsafe(CHUNK);
  #pos = 0;
  #pendingWsp = false;
  #pendingCr = false;
  #lineEmpty = true;
  #emptyLines = 0;

  #flush(): void {
    if (this.#pos) this.#hash.update(this.#out.subarray(0, this.#pos));
    this.#pos = 0;
  }

  #emit(b: number): void {
    if (this.#pos === this.#out.length) this.#flush();
    this.#out[this.#pos++] = b;
  }

  #content(b: number): void {
    if (this.#emptyLines) {
      // empty lines followed by content are kept
      this.#flush();
      this.#hash.update("\r\n".repeat(this.#emptyLines), "latin1");
      this.#emptyLines = 0;
    }
    if (this.#pendingWsp) this.#emit(SP);
    this.#pendingWsp = false;
    this.#lineEmpty = false;
    this.#emit(b);
  }

  #endLine(): void {
    if (this.#lineEmpty) this.#emptyLines++;
    else {
      this.#emit(CR);
      this.#emit(LF);
    }
    this.#pendingWsp = false;
    this.#lineEmpty = true;
  }

  update(chunk: Buffer): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.#pendingCr) {
        this.#pendingCr = false;
        if (b === LF) {
          this.#endLine();
          continue;
        }
        this.#content(CR);
      }
      if (b === CR) this.#pendingCr = true;
      else if (b === LF) this.#endLine();
      else if (b === SP || b === TAB) this.#pendingWsp = true;
      else this.#content(b);
    }
  }

  /** The bh= value. */
  digest(): string {
    if (this.#pendingCr) {
      this.#pendingCr = false;
      this.#content(CR);
    }
    // the last line without CRLF is ended as SMTP will end it; trailing empty lines are dropped
    if (!this.#lineEmpty) this.#endLine();
    this.#flush();
    return this.#hash.digest("base64");
  }
}

interface HeaderField {
  /** lower-case name */
  name: string;
  /** the field as it appears, folding CRLFs included, without the final CRLF (latin1 string) */
  raw: string;
}

/** Splits the header section (CRLF line ends, without the blank line) into fields. */
function parseHeader(header: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let current: HeaderField | null = null;
  const text = header.toString("latin1");
  const lines = text.endsWith("\r\n") ? text.slice(0, -2).split("\r\n") : text ? text.split("\r\n") : [];
  for (const line of lines) {
    if (line.startsWith(" ") || line.startsWith("\t")) {
      if (current) current.raw += `\r\n${line}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) {
      // not a field (an mbox "From " line, garbage): never signed, and its continuations neither
      current = null;
      continue;
    }
    current = {
      name: line
        .slice(0, colon)
        .replace(/[ \t]+$/, "")
        .toLowerCase(),
      raw: line,
    };
    fields.push(current);
  }
  return fields;
}

/**
 * RFC 6376 §3.4.2 "relaxed" header canonicalization: lower-case name, unfolded value, runs of WSP as one
 * SP, no WSP around the colon or at the end.
 */
export function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(":");
  const name = raw
    .slice(0, colon)
    .replace(/[ \t]+$/, "")
    .toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r\n/g, "")
    .replace(/[ \t]+/g, " ")
    .replace(/^ | $/g, "");
  return `${name}:${value}`;
}

/** Reads the message: the header fields, and the body hash (bh=). */
async function readMessage(input: DkimSignInput): Promise<{ fields: HeaderField[]; bodyHash: string }> {
  const normalizer = new LineEndNormalizer();
  const body = new RelaxedBodyHash();
  let header: Buffer | null = Buffer.alloc(0);
  let fields: HeaderField[] | null = null;
  let scanFrom = 0;
  for await (const raw of chunksOf(input)) {
    if (!header) {
      body.update(raw);
      continue;
    }
    header = Buffer.concat([header, normalizer.push(raw)]);
    // the header ends at the first empty line (RFC 5322 §2.1); a message may start with it
    let end = -1;
    let bodyStart = -1;
    if (header.length >= 2 && header[0] === CR && header[1] === LF) {
      end = 0;
      bodyStart = 2;
    } else {
      const at = header.indexOf("\r\n\r\n", scanFrom, "latin1");
      if (at >= 0) {
        end = at + 2;
        bodyStart = at + 4;
      } else scanFrom = Math.max(0, header.length - 3);
    }
    if (end < 0) {
      if (header.length > MAX_SIGNED_HEADER_BYTES) {
        throw new DkimSignError(`no end of the header section within ${MAX_SIGNED_HEADER_BYTES} bytes`);
      }
      continue;
    }
    fields = parseHeader(header.subarray(0, end));
    body.update(header.subarray(bodyStart));
    header = null;
  }
  // no blank line: all header, empty body
  if (header) fields = parseHeader(header);
  return { fields: fields ?? [], bodyHash: body.digest() };
}

// ---- the signature field ----

const MAX_LINE = 76;

/**
 * Lays out a DKIM-Signature field: tags separated by "; ", lines folded before a tag or between the atoms
 * of a long tag (FWS is allowed between h= names and inside base64, RFC 6376 §3.5). The b= tag always
 * starts a line, so its value can be filled in without moving anything before it.
 */
function layout(tags: string[][]): string {
  const lines: string[] = [];
  let line = "DKIM-Signature:";
  tags.forEach((atoms, t) => {
    atoms.forEach((atom, a) => {
      const sep = a === 0 ? " " : "";
      const isB = t === tags.length - 1 && a === 0;
      if (isB || line.length + sep.length + atom.length > MAX_LINE) {
        lines.push(line);
        line = ` ${atom}`;
      } else line += sep + atom;
    });
  });
  lines.push(line);
  return lines.join("\r\n");
}

function listAtoms(tag: string, names: string[]): string[] {
  return names.map((n, i) => `${i === 0 ? `${tag}=` : ""}${n}${i === names.length - 1 ? ";" : ":"}`);
}

function chunked(value: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += size) out.push(value.slice(i, i + size));
  return out;
}

/**
 * The DKIM-Signature header fields (one per key, in the order given, each CRLF-terminated and folded) to
 * prepend to the message.
 */
export async function dkimSignatures(
  input: DkimSignInput,
  keys: readonly DkimSigningKey[],
  opts: DkimSignatureOptions = {},
): Promise<string> {
  const { fields, bodyHash } = await readMessage(input);
  const signed = (opts.fields ?? DKIM_SIGNED_FIELDS).map((f) => f.toLowerCase());
  const oversign = new Set((opts.oversign ?? DKIM_OVERSIGNED_FIELDS).map((f) => f.toLowerCase()));

  // h=: each chosen field as many times as it occurs (+1 when oversigned); the instances are taken from
  // the bottom of the header up (RFC 6376 §5.4.2), and a name with no instance left adds nothing (§5.4).
  const h: string[] = [];
  for (const name of signed) {
    const n = fields.filter((f) => f.name === name).length + (oversign.has(name) ? 1 : 0);
    for (let i = 0; i < n; i++) h.push(name);
  }
  const used = new Map<string, number>();
  const canonical: string[] = [];
  for (const name of h) {
    const instances = fields.filter((f) => f.name === name);
    const k = used.get(name) ?? 0;
    used.set(name, k + 1);
    const field = instances[instances.length - 1 - k];
    if (field) canonical.push(`${relaxedHeader(field.raw)}\r\n`);
  }
  const headerData = canonical.join("");
  const t = Math.floor((opts.now ?? new Date()).getTime() / 1000);

  let out = "";
  for (const key of keys) {
    const tags = [
      ["v=1;"],
      [`a=${key.algorithm}-sha256;`],
      ["c=relaxed/relaxed;"],
      [`d=${key.domain};`],
      [`s=${key.selector};`],
      [`t=${t};`],
      listAtoms("h", h),
      [`bh=${bodyHash};`],
    ];
    // RFC 6376 §3.7: the signature field itself is hashed last, with an empty b= and no trailing CRLF
    const unsigned = layout([...tags, ["b="]]);
    const data = Buffer.from(headerData + relaxedHeader(unsigned), "latin1");
    const b =
      key.algorithm === "rsa"
        ? cryptoSign("sha256", data, key.privateKey)
        : // RFC 8463 §3: Ed25519 (pure) over the SHA-256 hash of the same data
          cryptoSign(null, createHash("sha256").update(data).digest(), key.privateKey);
    const [first, ...rest] = chunked(b.toString("base64"), 72);
    out += `${layout([...tags, [`b=${first}`, ...rest]])}\r\n`;
  }
  return out;
}

// ---- choosing the signing domain ----

function asciiDomain(d: string | null | undefined): string | null {
  if (!d) return null;
  const ascii = domainToASCII(d.trim().replace(/\.$/, "").toLowerCase());
  return ascii || null;
}

/**
 * The d= domain for a message: the From header's domain when it is local, so the signature is aligned for
 * DMARC (RFC 7489 §3.1.1); else the envelope sender's domain when that is local; else null (nothing of
 * ours to sign with).
 */
export function signingDomainFor(
  fromHeaderDomain: string | null | undefined,
  envelopeSenderDomain: string | null | undefined,
  isLocalDomain: (domain: string) => boolean,
): string | null {
  for (const d of [asciiDomain(fromHeaderDomain), asciiDomain(envelopeSenderDomain)]) {
    if (d && isLocalDomain(d)) return d;
  }
  return null;
}

// ---- the signer the delivery path uses ----

export interface DkimSignerOptions {
  dataDir: string;
  /** this server's name (for messages) */
  hostname: string;
  fields?: readonly string[];
  oversign?: readonly string[];
}

interface CachedKeys {
  /** keys.json's identity when read: a rotation replaces the file (rename), which changes it */
  stamp: string;
  keys: DkimSigningKey[];
}

/**
 * Signs with each domain's active RSA and Ed25519 keys, kept in memory; a domain's keys are read again
 * when its keys.json changes (after `postamt domain dkim-rotate`), or after reload().
 */
export class DkimSigner {
  readonly dataDir: string;
  readonly hostname: string;
  readonly #fields: readonly string[] | undefined;
  readonly #oversign: readonly string[] | undefined;
  readonly #cache = new Map<string, CachedKeys>();
  readonly #loading = new Map<string, Promise<DkimSigningKey[]>>();

  constructor(opts: DkimSignerOptions) {
    this.dataDir = opts.dataDir;
    this.hostname = opts.hostname;
    this.#fields = opts.fields;
    this.#oversign = opts.oversign;
  }

  /** Forgets the cached keys of one domain, or of all. */
  reload(domain?: string): void {
    if (domain === undefined) this.#cache.clear();
    else this.#cache.delete(domain.toLowerCase());
  }

  async #stamp(domain: string): Promise<string | null> {
    try {
      const s = await stat(dkimStatePath(this.dataDir, domain));
      return `${s.ino}:${s.mtimeMs}:${s.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  /** The domain's active keys (generated when the domain has none yet), RSA first. */
  async keysFor(domain: string): Promise<DkimSigningKey[]> {
    const d = asciiDomain(domain);
    if (!d) throw new DkimSignError(`"${domain}" is not a domain name`);
    const stamp = await this.#stamp(d);
    const cached = this.#cache.get(d);
    if (cached && stamp !== null && cached.stamp === stamp) return cached.keys;
    const pending = this.#loading.get(d);
    if (pending) return pending;
    const load = (async () => {
      // read after the stamp: if keys.json changes in between, the next call sees a new stamp again
      const active = await ensureDomainKeys(this.dataDir, d);
      const keys = [toSigningKey(active.rsa), toSigningKey(active.ed25519)];
      const now = stamp ?? (await this.#stamp(d));
      if (now !== null) this.#cache.set(d, { stamp: now, keys });
      return keys;
    })();
    this.#loading.set(d, load);
    try {
      return await load;
    } finally {
      this.#loading.delete(d);
    }
  }

  /**
   * The DKIM-Signature fields (rsa-sha256 first, then ed25519-sha256; CRLF-terminated, folded) to put in
   * front of the message, signed for opts.domain (see signingDomainFor).
   */
  async sign(message: DkimSignInput, opts: { domain: string; now?: Date }): Promise<string> {
    const keys = await this.keysFor(opts.domain);
    return dkimSignatures(message, keys, { now: opts.now, fields: this.#fields, oversign: this.#oversign });
  }
}
