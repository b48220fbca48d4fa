// Authentication-Results (RFC 8601): composing the field Postamt adds to received mail, and reading
// one back (its authserv-id, for removing forged copies, §5; and the whole field, for tests). Pure.
//
// Grammar (RFC 8601 §2.2), for reference:
//   authres-payload = [CFWS] authserv-id [ CFWS authres-version ] ( no-result / 1*resinfo ) [CFWS] CRLF
//   resinfo   = [CFWS] ";" methodspec [ CFWS reasonspec ] [ CFWS 1*propspec ]
//   methodspec = [CFWS] method [CFWS] "=" [CFWS] result
//   propspec  = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
//   pvalue    = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS]
// where value is an RFC 2045 token or quoted-string.

/** One method's outcome: `method=result (comment) ptype.prop=value … (note)`. */
export interface ResInfo {
  /** "spf", "dkim", "dmarc", "arc", "iprev" */
  method: string;
  /** a result keyword: "pass", "fail", … */
  result: string;
  /** the human reason, written as a comment right after the result */
  comment?: string;
  /** properties in order, e.g. ["smtp.mailfrom", "alice@example.org"] */
  props?: ReadonlyArray<readonly [string, string]>;
  /** a comment after the properties (e.g. the name iprev verified) */
  note?: string;
}

/** RFC 2045 tspecials; with SP and CTLs, what a token may not contain. */
const TSPECIALS = '()<>@,;:\\"/[]?=';

function isTokenChar(c: string): boolean {
  const code = c.charCodeAt(0);
  // non-ASCII is accepted as token material (RFC 6532 headers carry UTF-8 as is)
  if (code > 0x7f) return true;
  return code > 0x20 && code < 0x7f && !TSPECIALS.includes(c);
}

export function isToken(s: string): boolean {
  if (s === "") return false;
  for (const c of s) if (!isTokenChar(c)) return false;
  return true;
}

/** Control characters cannot appear in a header field, not even escaped (a CR or LF would end it). */
function clean(s: string): string {
  return s
    .replace(/[\x00-\x1f\x7f]+/g, " ")
    .replace(/ {2,}/g, " ")
    .trim();
}

/** A `value` (RFC 2045): the token itself when it is one, else a quoted-string. */
export function quoteValue(s: string): string {
  const v = clean(s);
  if (isToken(v)) return v;
  return `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

const DOT_ATOM =
  /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+)*$/;
const DOMAIN =
  /^[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\-\u0080-\uffff]*[A-Za-z0-9\u0080-\uffff])?(?:\.[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\-\u0080-\uffff]*[A-Za-z0-9\u0080-\uffff])?)*\.?$/;

/**
 * A pvalue: a token, or `local-part@domain` / `@domain` as they are (RFC 8601 §2.2 allows an address
 * unquoted although "@" is a tspecial), else a quoted-string.
 */
export function formatPvalue(s: string): string {
  const v = clean(s);
  if (isToken(v)) return v;
  const at = v.lastIndexOf("@");
  if (at >= 0) {
    const local = v.slice(0, at);
    const domain = v.slice(at + 1);
    // "=" is atext, but a reader splitting "prop=value" pairs would stumble on it: quote it
    if (DOMAIN.test(domain) && (local === "" || (DOT_ATOM.test(local) && !local.includes("=")))) return v;
  }
  return quoteValue(v);
}

/** Comments can carry text from the sender's DNS (an SPF record's bad mechanism): keep lines sane. */
export const MAX_COMMENT = 200;

/**
 * A comment: "(" text ")" with "(", ")" and "\" escaped as quoted-pairs (RFC 5322 §3.2.2), cut to
 * MAX_COMMENT characters.
 */
export function formatComment(text: string): string {
  let t = clean(text);
  if (t.length > MAX_COMMENT) t = `${t.slice(0, MAX_COMMENT - 3)}...`;
  return `(${t.replace(/[()\\]/g, (c) => `\\${c}`)})`;
}

/** The pieces of one resinfo, each of which stays on one line unless it is a comment. */
function pieces(r: ResInfo): string[] {
  const out = [`${r.method}=${r.result}`];
  if (r.comment) out.push(formatComment(r.comment));
  for (const [name, value] of r.props ?? []) out.push(`${name}=${formatPvalue(value)}`);
  if (r.note) out.push(formatComment(r.note));
  return out;
}

/** One resinfo on a single line (without the ";" that precedes it). */
export function formatResinfo(r: ResInfo): string {
  return pieces(r).join(" ");
}

/** Words a piece may be folded between: comments at their spaces (FWS is allowed in a comment), others never. */
function words(piece: string): string[] {
  return piece.startsWith("(") ? piece.split(" ") : [piece];
}

export const AUTH_RESULTS_FIELD = "Authentication-Results";

/**
 * The whole field, ready to prefix to a message:
 *
 *   Authentication-Results: mx.example.org;
 *   \tspf=pass smtp.mailfrom=alice@example.com;
 *   \tdkim=pass header.d=example.com …
 *
 * Each resinfo starts a line; a line longer than maxLine (default 78, RFC 5322 §2.1.1) is folded with
 * CRLF TAB between pieces, or between the words of a comment. A single word longer than the limit
 * stays whole (RFC 5322 allows 998). No results at all gives "; none" (RFC 8601 §2.2 no-result).
 */
export function composeAuthResults(authservId: string, results: readonly ResInfo[], maxLine = 78): string {
  const lines: string[] = [`${AUTH_RESULTS_FIELD}: ${quoteValue(authservId)};`];
  if (results.length === 0) {
    lines[0] += " none";
    return `${lines[0]}\r\n`;
  }
  results.forEach((r, i) => {
    const ws = pieces(r).flatMap(words);
    if (i < results.length - 1) ws[ws.length - 1] += ";";
    let line = "\t";
    for (const w of ws) {
      if (line === "\t") line += w;
      else if (line.length + 1 + w.length > maxLine) {
        lines.push(line);
        line = `\t${w}`;
      } else line += ` ${w}`;
    }
    lines.push(line);
  });
  return `${lines.join("\r\n")}\r\n`;
}

// ---- reading ----

interface Lexeme {
  kind: "atom" | "quoted" | "special" | "comment";
  /** unescaped, unfolded */
  text: string;
  /** index just past it in the value */
  end: number;
}

/**
 * Splits a field value (folding CRLFs allowed) into atoms (RFC 2045 tokens), quoted-strings (unescaped),
 * specials and comments (nested, unescaped). Returns null when a comment or quoted-string is not closed.
 * Stops after `limit` lexemes other than comments.
 */
function lex(value: string, limit = Number.POSITIVE_INFINITY): Lexeme[] | null {
  const out: Lexeme[] = [];
  let count = 0;
  let i = 0;
  const n = value.length;
  while (i < n && count < limit) {
    const c = value[i]!;
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++;
    } else if (c === "(") {
      let depth = 0;
      let text = "";
      for (;;) {
        if (i >= n) return null;
        const d = value[i]!;
        if (d === "\\" && i + 1 < n) {
          text += value[i + 1];
          i += 2;
          continue;
        }
        if (d === "\\") return null;
        i++;
        if (d === "(") {
          if (depth > 0) text += d;
          depth++;
        } else if (d === ")") {
          depth--;
          if (depth === 0) break;
          text += d;
        } else text += d;
      }
      // unfolded, and a fold inside it reads as the space it replaced
      out.push({ kind: "comment", text: text.replace(/\r?\n/g, "").replace(/[ \t]+/g, " "), end: i });
    } else if (c === '"') {
      let text = "";
      i++;
      for (;;) {
        if (i >= n) return null;
        const d = value[i]!;
        if (d === "\\") {
          if (i + 1 >= n) return null;
          text += value[i + 1];
          i += 2;
          continue;
        }
        i++;
        if (d === '"') break;
        // folding inside a quoted-string: the CRLF goes, the WSP stays (RFC 5322 §3.2.2)
        if (d !== "\r" && d !== "\n") text += d;
      }
      out.push({ kind: "quoted", text, end: i });
      count++;
    } else if (isTokenChar(c)) {
      let j = i + 1;
      while (j < n && isTokenChar(value[j]!)) j++;
      out.push({ kind: "atom", text: value.slice(i, j), end: j });
      count++;
      i = j;
    } else {
      out.push({ kind: "special", text: c, end: i + 1 });
      count++;
      i++;
    }
  }
  return out;
}

/** What a field value says about its authserv-id. */
export type AuthservIdReading =
  /** the first value after CFWS (lower case, a trailing dot dropped) */
  | { kind: "id"; id: string }
  /** the value does not start with one (";" first, or nothing) */
  | { kind: "none" }
  /** cannot tell: a comment or quoted-string is not closed, or (partial) the value may go on */
  | { kind: "unknown" };

/**
 * The authserv-id an Authentication-Results field value claims: the first value after CFWS.
 * `partial`: the value is only a prefix of the field, so an id running to its very end may be cut.
 */
export function readAuthservId(value: string, partial = false): AuthservIdReading {
  const lx = lex(value, 1);
  if (!lx) return { kind: "unknown" };
  const first = lx.find((l) => l.kind !== "comment");
  if (!first) return partial ? { kind: "unknown" } : { kind: "none" };
  if (first.kind !== "atom" && first.kind !== "quoted") return { kind: "none" };
  if (partial && first.end >= value.length) return { kind: "unknown" };
  const id = first.text.trim().toLowerCase().replace(/\.$/, "");
  return id ? { kind: "id", id } : { kind: "none" };
}

export interface ParsedResInfo {
  method: string;
  version?: string;
  result: string;
  reason?: string;
  /** "ptype.property" (lower case) → value, in order */
  props: Array<[string, string]>;
  comments: string[];
}

export interface ParsedAuthResults {
  authservId: string;
  version?: string;
  results: ParsedResInfo[];
}

/**
 * Parses a field value by the RFC 8601 §2.2 grammar (the part after "Authentication-Results:").
 * Returns null when it does not follow the grammar. `; none` parses as no results.
 */
export function parseAuthResults(value: string): ParsedAuthResults | null {
  const all = lex(value);
  if (!all) return null;
  const lx = all.filter((l) => l.kind !== "comment");
  let p = 0;
  const peek = (): Lexeme | undefined => lx[p];
  const special = (ch: string): boolean => {
    const l = peek();
    if (l?.kind === "special" && l.text === ch) {
      p++;
      return true;
    }
    return false;
  };
  const atom = (): string | null => {
    const l = peek();
    if (l?.kind !== "atom") return null;
    p++;
    return l.text;
  };
  const pvalue = (): string | null => {
    const l = peek();
    if (l?.kind !== "atom" && l?.kind !== "quoted") return null;
    p++;
    return l.text;
  };

  const id = pvalue();
  if (id === null) return null;
  const out: ParsedAuthResults = { authservId: id, results: [] };
  const v = peek();
  if (v?.kind === "atom" && /^\d+$/.test(v.text)) {
    out.version = v.text;
    p++;
  }
  // comments are kept per resinfo: find them again by position in the unfiltered list
  const commentsBetween = (from: Lexeme | undefined, to: Lexeme | undefined): string[] => {
    const a = from ? all.indexOf(from) : 0;
    const b = to ? all.indexOf(to) : all.length;
    return all.slice(a, b).flatMap((l) => (l.kind === "comment" ? [l.text] : []));
  };
  if (p === lx.length) return null;
  while (p < lx.length) {
    if (!special(";")) return null;
    const start = peek();
    const method = atom();
    if (method === null) return null;
    if (out.results.length === 0 && method.toLowerCase() === "none" && p === lx.length) return out;
    const r: ParsedResInfo = { method: method.toLowerCase(), result: "", props: [], comments: [] };
    if (special("/")) {
      const ver = atom();
      if (ver === null) return null;
      r.version = ver;
    }
    if (!special("=")) return null;
    const result = atom();
    if (result === null) return null;
    r.result = result.toLowerCase();
    if (peek()?.kind === "atom" && peek()!.text.toLowerCase() === "reason") {
      p++;
      if (!special("=")) return null;
      const reason = pvalue();
      if (reason === null) return null;
      r.reason = reason;
    }
    while (p < lx.length && !(peek()?.kind === "special" && peek()!.text === ";")) {
      let name = atom();
      if (name === null) return null;
      // "ptype . property" with CFWS around the dot lexes as several atoms ("." is a token character)
      while (peek()?.kind === "atom" && (name.endsWith(".") || peek()!.text.startsWith("."))) name += atom();
      if (!/^[^.]+\.[^.]/.test(name)) return null;
      if (!special("=")) return null;
      let pv: string;
      if (special("@")) {
        const d = atom();
        if (d === null) return null;
        pv = `@${d}`;
      } else {
        const first = pvalue();
        if (first === null) return null;
        pv = first;
        if (special("@")) {
          const d = atom();
          if (d === null) return null;
          pv = `${first}@${d}`;
        }
      }
      r.props.push([name.toLowerCase(), pv]);
    }
    r.comments = commentsBetween(start, peek());
    out.results.push(r);
  }
  return out;
}
