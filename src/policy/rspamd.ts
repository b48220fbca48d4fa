// The spam-scoring hook: asks rspamd's normal worker about a message (HTTP protocol v2, POST /checkv2)
// and maps its action onto what Postamt does with the message. Without `rspamd.url` the built-in checks
// decide and nothing here is used. Everything rspamd sends back is untrusted text: it is validated, and
// whatever ends up in an SMTP reply or a header field is stripped of line breaks and bounded.
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";

export type RspamdAction =
  | "no action"
  | "greylist"
  | "add header"
  | "rewrite subject"
  | "soft reject"
  | "reject";

export interface RspamdResult {
  action: RspamdAction;
  score: number;
  requiredScore: number;
  /** symbol names, highest score first */
  symbols: string[];
  /** rspamd's own SMTP message for reject, when given (messages.smtp_message) */
  message: string | null;
  /** milter.add_headers rspamd asked for, when given */
  addHeaders: Array<{ name: string; value: string }>;
}

export interface RspamdRequest {
  /** the whole message; a stream is consumed (and destroyed if the check fails) */
  message: NodeJS.ReadableStream | Buffer;
  /** the message's size in bytes, sent as Content-Length; without it a stream goes chunked */
  size?: number;
  /** the SMTP client's address */
  ip: string;
  helo: string | null;
  /** the envelope sender; "" is the null sender */
  mailFrom: string;
  recipients: string[];
  /**
   * rspamd's `Hostname` header: the SMTP client's verified reverse-DNS name (not this server's name),
   * or "" / "unknown" when it has none.
   */
  hostname: string;
  /** the authenticated user, for submission */
  user?: string | null;
  queueId?: string;
}

/** What failed: for logs and for `rspamd.on_error`. */
export type RspamdErrorKind = "timeout" | "connect" | "http" | "protocol" | "read";

export class RspamdError extends Error {
  constructor(
    readonly kind: RspamdErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RspamdError";
  }
}

const ACTIONS: ReadonlySet<string> = new Set<RspamdAction>([
  "no action",
  "greylist",
  "add header",
  "rewrite subject",
  "soft reject",
  "reject",
]);

/** rspamd's answer is a few KB, tens with many symbol options; anything far larger is not rspamd. */
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
const MAX_MESSAGE_CHARS = 300;
const MAX_ADD_HEADERS = 32;
const MAX_HEADER_VALUE_CHARS = 2000;
const MAX_SYMBOLS_CHARS = 1000;

export class RspamdClient {
  readonly #url: URL;
  readonly #timeoutMs: number;

  constructor(opts: { url: string; timeoutMs: number }) {
    const url = new URL(opts.url);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`rspamd url must be http:// or https://, not ${url.protocol}`);
    }
    if (!(opts.timeoutMs > 0)) throw new RangeError("rspamd timeout must be positive");
    // the worker may sit behind a path prefix (a reverse proxy); /checkv2 goes below it
    url.pathname = `${url.pathname.replace(/\/+$/, "")}/checkv2`;
    url.search = "";
    url.hash = "";
    this.#url = url;
    this.#timeoutMs = opts.timeoutMs;
  }

  check(req: RspamdRequest): Promise<RspamdResult> {
    const url = this.#url;
    const timeoutMs = this.#timeoutMs;
    const headers = requestHeaders(req);
    const body = req.message;
    return new Promise<RspamdResult>((resolve, reject) => {
      let done = false;
      let request: http.ClientRequest | null = null;
      const signal = AbortSignal.timeout(timeoutMs);
      const finish = (err: RspamdError | null, result?: RspamdResult) => {
        if (done) return;
        done = true;
        signal.removeEventListener("abort", onAbort);
        if (err) {
          request?.destroy();
          if (!Buffer.isBuffer(body)) {
            if (request) body.unpipe(request);
            // a half-read file stream would otherwise keep its descriptor open
            const d = (body as { destroy?: () => void }).destroy;
            if (typeof d === "function") d.call(body);
          }
          reject(err);
        } else if (result) resolve(result);
      };
      const onAbort = () =>
        finish(new RspamdError("timeout", `rspamd did not answer within ${timeoutMs} ms`));
      signal.addEventListener("abort", onAbort, { once: true });

      const options: http.RequestOptions = {
        method: "POST",
        headers,
        // one connection per scan: no idle keep-alive socket that rspamd may have closed meanwhile
        agent: false,
      };
      try {
        request = (url.protocol === "https:" ? https : http).request(url, options, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              finish(new RspamdError("protocol", `rspamd's answer exceeds ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on("error", (e) =>
            finish(new RspamdError("connect", `rspamd connection failed: ${e.message}`, { cause: e })),
          );
          res.on("close", () => {
            if (!res.complete) finish(new RspamdError("connect", "rspamd closed the connection mid-answer"));
          });
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode !== 200) {
              finish(new RspamdError("http", `rspamd answered HTTP ${res.statusCode}${errorDetail(text)}`));
              return;
            }
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              finish(new RspamdError("protocol", "rspamd's answer is not JSON"));
              return;
            }
            try {
              finish(null, parseRspamdResponse(json));
            } catch (e) {
              finish(e instanceof RspamdError ? e : new RspamdError("protocol", String(e)));
            }
          });
        });
      } catch (e) {
        // node refuses the request outright (a header value it will not send)
        finish(
          new RspamdError("connect", `cannot send to rspamd: ${e instanceof Error ? e.message : String(e)}`),
        );
        return;
      }
      request.on("error", (e: NodeJS.ErrnoException) =>
        finish(new RspamdError("connect", `rspamd at ${url.host}: ${e.code ?? e.message}`, { cause: e })),
      );
      if (Buffer.isBuffer(body)) {
        request.end(body);
      } else {
        body.on("error", (e: Error) =>
          finish(
            new RspamdError("read", `reading the message for rspamd failed: ${e.message}`, { cause: e }),
          ),
        );
        body.pipe(request);
      }
    });
  }
}

/** The request headers of protocol v2; values travel as UTF-8 bytes (SMTPUTF8 addresses). */
export function requestHeaders(req: RspamdRequest): http.OutgoingHttpHeaders {
  const h: http.OutgoingHttpHeaders = {};
  const ip = normalizeIp(req.ip);
  if (ip) h["IP"] = ip;
  const helo = headerSafe(req.helo ?? "");
  if (helo) h["Helo"] = helo;
  // rspamd reads "<>" as the null sender
  h["From"] = headerSafe(req.mailFrom) || "<>";
  const rcpts = req.recipients.map(headerSafe).filter((r) => r !== "");
  // one header per recipient, as rspamd expects (a comma list would be one odd address)
  if (rcpts.length > 0) h["Rcpt"] = rcpts;
  const hostname = headerSafe(req.hostname);
  if (hostname) h["Hostname"] = hostname;
  const user = headerSafe(req.user ?? "");
  if (user) h["User"] = user;
  const queueId = headerSafe(req.queueId ?? "");
  if (queueId) {
    h["Queue-Id"] = queueId;
    h["Log-Tag"] = queueId;
  }
  if (Buffer.isBuffer(req.message)) h["Content-Length"] = req.message.length;
  else if (req.size !== undefined && Number.isSafeInteger(req.size) && req.size >= 0)
    h["Content-Length"] = req.size;
  return h;
}

function normalizeIp(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const plain = v4 ? v4[1]! : ip;
  return isIP(plain) ? plain : "";
}

/** Control characters out, then UTF-8 bytes as a latin1 string: node writes header strings as latin1. */
function headerSafe(s: string): string {
  const clean = s.replace(/[\x00-\x1f\x7f]+/g, " ").trim();
  return Buffer.from(clean, "utf8").toString("latin1");
}

function errorDetail(text: string): string {
  try {
    const j: unknown = JSON.parse(text);
    if (isObject(j) && typeof j["error"] === "string") return `: ${oneLine(j["error"], 200)}`;
  } catch {
    // not JSON: no detail
  }
  return "";
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Any run of control characters (CR, LF, NUL, DEL, C1, Unicode line separators) becomes one space. */
function oneLine(s: string, max: number): string {
  const t = s
    .replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]+/g, " ")
    .replace(/ {2,}/g, " ")
    .trim();
  return t.length > max ? `${t.slice(0, max - 3).trimEnd()}...` : t;
}

function finiteNumber(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new RspamdError("protocol", `rspamd's answer lacks ${what}`);
  return v;
}

/** Validates rspamd's /checkv2 JSON; throws RspamdError("protocol") when it is not one. */
export function parseRspamdResponse(json: unknown): RspamdResult {
  if (!isObject(json)) throw new RspamdError("protocol", "rspamd's answer is not a JSON object");
  if (typeof json["error"] === "string") {
    throw new RspamdError("protocol", `rspamd reported an error: ${oneLine(json["error"], 200)}`);
  }
  const action = json["action"];
  // custom actions, "discard" or "quarantine" mean a configuration Postamt does not know how to honour
  if (typeof action !== "string" || !ACTIONS.has(action)) {
    throw new RspamdError(
      "protocol",
      `rspamd answered an unknown action ${typeof action === "string" ? JSON.stringify(oneLine(action, 40)) : ""}`.trimEnd(),
    );
  }
  const score = finiteNumber(json["score"], "a score");
  const requiredScore = finiteNumber(json["required_score"], "required_score");

  const symbols: Array<{ name: string; score: number }> = [];
  const sym = json["symbols"];
  if (isObject(sym)) {
    for (const [key, v] of Object.entries(sym)) {
      const name = isObject(v) && typeof v["name"] === "string" ? v["name"] : key;
      const s = isObject(v) && typeof v["score"] === "number" && Number.isFinite(v["score"]) ? v["score"] : 0;
      symbols.push({ name, score: s });
    }
  }
  symbols.sort((a, b) => b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  let message: string | null = null;
  const messages = json["messages"];
  if (isObject(messages) && typeof messages["smtp_message"] === "string") {
    message = oneLine(messages["smtp_message"], MAX_MESSAGE_CHARS) || null;
  }

  const addHeaders: Array<{ name: string; value: string }> = [];
  const milter = json["milter"];
  const add = isObject(milter) ? milter["add_headers"] : undefined;
  if (isObject(add)) {
    for (const [name, spec] of Object.entries(add)) {
      if (!/^[\x21-\x39\x3b-\x7e]{1,76}$/.test(name)) continue; // RFC 5322 field name; no ":"
      // a value is a string, {value, order}, or a list of those (the same field several times)
      const items = (Array.isArray(spec) ? spec : [spec])
        .map((it, i) => {
          const value =
            typeof it === "string"
              ? it
              : isObject(it) && typeof it["value"] === "string"
                ? it["value"]
                : null;
          const order = isObject(it) && typeof it["order"] === "number" ? it["order"] : i;
          return value === null ? null : { value, order };
        })
        .filter((it): it is { value: string; order: number } => it !== null)
        .sort((a, b) => a.order - b.order);
      for (const it of items) {
        if (addHeaders.length >= MAX_ADD_HEADERS) break;
        addHeaders.push({ name, value: oneLine(it.value, MAX_HEADER_VALUE_CHARS) });
      }
    }
  }

  return {
    action: action as RspamdAction,
    score,
    requiredScore,
    symbols: symbols.map((s) => s.name),
    message,
    addHeaders,
  };
}

/** what Postamt does with the result: reject → 550 5.7.1 (rspamd's message or "Spam message rejected"); soft reject → 451 4.7.1; greylist → inbox (see below); add header / rewrite subject → deliver to Junk with headers; no action → deliver with headers */
export type RspamdVerdict =
  | { action: "reject"; code: 550; enhanced: "5.7.1"; text: string }
  | { action: "tempfail"; code: 451; enhanced: "4.7.1"; text: string }
  | {
      action: "accept";
      junk: boolean;
      /** header fields to prefix, CRLF-terminated: X-Spam: Yes (when junk), X-Spam-Score: 6.2 / 15, X-Spam-Action: add header, X-Spam-Symbols (folded, bounded) */
      headers: string;
    };

/** The fields Postamt writes itself; rspamd's add_headers of the same names are dropped. */
const OWN_FIELDS = new Set(["x-spam", "x-spam-score", "x-spam-action", "x-spam-symbols"]);

export function rspamdVerdict(r: RspamdResult): RspamdVerdict {
  switch (r.action) {
    case "reject":
      return {
        action: "reject",
        code: 550,
        enhanced: "5.7.1",
        text: smtpText(r.message, "Spam message rejected"),
      };
    case "greylist":
      // Only rspamd's redis-backed greylist module ever lets such a message pass (it answers "soft
      // reject" to the first attempt itself); without it "greylist" is just a score band, and a
      // 451 would refuse the message on every retry. Postamt greylists on its own ([greylist]).
      return { action: "accept", junk: false, headers: spamHeaders(r, false) };
    case "soft reject":
      return {
        action: "tempfail",
        code: 451,
        enhanced: "4.7.1",
        text: smtpText(r.message, "Try again later"),
      };
    case "add header":
    case "rewrite subject":
      return { action: "accept", junk: true, headers: spamHeaders(r, true) };
    case "no action":
      return { action: "accept", junk: false, headers: spamHeaders(r, false) };
  }
}

/** SMTP reply text is one line of printable ASCII. */
function smtpText(message: string | null, fallback: string): string {
  const t = message === null ? "" : oneLine(message, 200).replace(/[^\x20-\x7e]/g, "?");
  return t || fallback;
}

function formatScore(n: number): string {
  return String(Number(n.toFixed(2)));
}

function spamHeaders(r: RspamdResult, junk: boolean): string {
  let out = "";
  if (junk) out += "X-Spam: Yes\r\n";
  out += `X-Spam-Score: ${formatScore(r.score)} / ${formatScore(r.requiredScore)}\r\n`;
  out += `X-Spam-Action: ${r.action}\r\n`;
  const names = boundedSymbols(r.symbols);
  if (names.length > 0) out += foldField("X-Spam-Symbols", names.join(", "));
  for (const h of r.addHeaders) {
    if (OWN_FIELDS.has(h.name.toLowerCase())) continue;
    const value = oneLine(h.value, MAX_HEADER_VALUE_CHARS);
    out += foldField(h.name, value);
  }
  return out;
}

/** Symbol names reduced to their token characters, cut off (with "...") past MAX_SYMBOLS_CHARS. */
function boundedSymbols(symbols: string[]): string[] {
  const out: string[] = [];
  let len = 0;
  for (const s of symbols) {
    const name = s.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 100);
    if (!name) continue;
    if (len + name.length + 2 > MAX_SYMBOLS_CHARS) {
      out.push("...");
      break;
    }
    out.push(name);
    len += name.length + 2;
  }
  return out;
}

/**
 * "Name: value\r\n" folded at spaces so lines stay within 78 characters where the words allow
 * (RFC 5322 §2.2.3); a single word longer than that stays whole, but never past 998.
 */
export function foldField(name: string, value: string): string {
  const words = oneLine(value, MAX_HEADER_VALUE_CHARS)
    .split(" ")
    .filter((w) => w !== "");
  const lines: string[] = [];
  let line = `${name}:`;
  let lineHasWord = false;
  for (const w of words) {
    const word = w.length > 900 ? w.slice(0, 900) : w;
    if (lineHasWord && line.length + 1 + word.length > 78) {
      lines.push(line);
      line = ` ${word}`;
    } else {
      line += ` ${word}`;
    }
    lineHasWord = true;
  }
  lines.push(line);
  return `${lines.join("\r\n")}\r\n`;
}
