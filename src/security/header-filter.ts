// RFC 8601 §5: before a message is stored, an MTA must remove (or rename) Authentication-Results
// fields that claim its own authserv-id, or a sender could hand the recipient's MUA a "dkim=pass" that
// looks like ours. This is a pure, resumable filter over the top-level header section: every other byte,
// including the body and ARC-Authentication-Results (covered by ARC seals), passes through unchanged.
//
// It works field by field rather than buffering the whole header: a field is held only until it is
// known to be kept (its name is not Authentication-Results) or until it is complete (an A-R field, whose
// authserv-id then decides). So padding the header cannot smuggle a forged field past the filter, and
// memory is bounded by maxHeaderBytes per held field, not by the header's size.
import { readAuthservId } from "./auth-results.js";

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const COLON = 0x3a;

const FIELD_NAME = "authentication-results";
const MIN_HELD = 64;

/** What happens to the bytes of the field being read. */
type Mode =
  /** no field yet (start of message) */
  | "none"
  /** before the colon: name unknown; held */
  | "name"
  /** an Authentication-Results field: held until complete */
  | "held"
  /** passed through as it arrives */
  | "keep"
  /** discarded as it arrives */
  | "drop";

export class AuthResultsFilter {
  readonly #id: string;
  readonly #max: number;
  #removed = 0;
  /** past the header section: everything passes */
  #body = false;
  /** the next byte starts a line */
  #lineStart = true;
  /** a CR seen at the start of a line and held: CRLF there ends the header, anything else does not */
  #crAtLineStart = false;
  #mode: Mode = "none";
  /** the held bytes of the current field ("name" and "held" modes) */
  #held: Buffer[] = [];
  #heldLen = 0;

  constructor(opts: { authservId: string; maxHeaderBytes: number }) {
    this.#id = opts.authservId.trim().toLowerCase().replace(/\.$/, "");
    // room for at least the field name and its colon, whatever the caller asks
    this.#max = Math.max(MIN_HELD, opts.maxHeaderBytes);
  }

  /** how many fields were removed */
  get removed(): number {
    return this.#removed;
  }

  /** returns bytes to pass on (may be empty while a field is held) */
  push(chunk: Buffer): Buffer {
    if (this.#body) return chunk;
    const out: Buffer[] = [];
    let i = 0;
    // bytes [from, i) of this chunk belong to the current field and have not been routed yet
    let from = 0;
    const route = (to: number): void => {
      if (to > from) this.#take(chunk.subarray(from, to), out);
      from = to;
    };
    while (i < chunk.length) {
      const b = chunk[i]!;
      if (this.#crAtLineStart) {
        this.#crAtLineStart = false;
        if (b === LF) {
          // CRLF on its own: the header ends; the held CR and this LF go out with the body
          this.#endHeader(out);
          out.push(Buffer.from([CR]), chunk.subarray(i));
          return concat(out);
        }
        // a line that starts with a bare CR is no field (RFC 5322 has no bare CR): keep it
        this.#startField(out, "keep");
        out.push(Buffer.from([CR]));
        this.#lineStart = false;
        from = i;
        continue;
      }
      if (this.#lineStart) {
        if (b === LF) {
          route(i);
          this.#endHeader(out);
          out.push(chunk.subarray(i));
          return concat(out);
        }
        if (b === CR) {
          route(i);
          this.#crAtLineStart = true;
          i++;
          from = i;
          continue;
        }
        this.#lineStart = false;
        if (b !== SP && b !== TAB) {
          // a new field: the previous one is complete
          route(i);
          this.#startField(out, "name");
        } else if (this.#mode === "none") {
          // a continuation line with nothing before it: not part of any field we could judge
          this.#mode = "keep";
        }
      }
      // a line without a colon stays in "name" mode: if the next line is a continuation, the colon
      // may still come (invalid, but lenient parsers unfold first and would see the field); if not,
      // it was no field at all (an mbox "From " line, garbage) and is released when the next starts
      if (b === LF) this.#lineStart = true;
      else if (b === COLON && this.#mode === "name") {
        route(i + 1);
        if (this.#mode === "name") this.#judgeName(out);
      }
      i++;
    }
    route(i);
    return concat(out);
  }

  /** end of message: flush whatever is held */
  end(): Buffer {
    const out: Buffer[] = [];
    if (!this.#body) {
      this.#finishField(out);
      if (this.#crAtLineStart) out.push(Buffer.from([CR]));
      this.#crAtLineStart = false;
      this.#body = true;
    }
    return concat(out);
  }

  // ---- field handling ----

  /** Routes bytes of the current field according to its mode. */
  #take(bytes: Buffer, out: Buffer[]): void {
    switch (this.#mode) {
      case "none":
      case "keep":
        out.push(bytes);
        return;
      case "drop":
        return;
      case "name":
      case "held":
        this.#held.push(bytes);
        this.#heldLen += bytes.length;
        if (this.#heldLen > this.#max) this.#overflow(out);
        return;
    }
  }

  #startField(out: Buffer[], mode: Mode): void {
    this.#finishField(out);
    this.#mode = mode;
  }

  /** The current field is complete: decide on what is held. */
  #finishField(out: Buffer[]): void {
    if (this.#mode === "held") this.#decide(out, true);
    else if (this.#mode === "name") this.#release(out);
    this.#mode = "none";
  }

  #endHeader(out: Buffer[]): void {
    this.#finishField(out);
    this.#body = true;
  }

  /** The colon of the first line was just held: is this an Authentication-Results field? */
  #judgeName(out: Buffer[]): void {
    const text = Buffer.concat(this.#held).toString("latin1");
    // obs-optional (RFC 5322 §4.5.3): WSP may precede the colon (and folds, to a lenient reader)
    const name = text.slice(0, -1).replace(/[ \t\r\n]+$/, "");
    if (name.toLowerCase() === FIELD_NAME) this.#mode = "held";
    else {
      this.#release(out);
      this.#mode = "keep";
    }
  }

  /**
   * Judges a held Authentication-Results field by its authserv-id. `complete`: the whole field is
   * held; else only a prefix (the field outgrew maxHeaderBytes).
   */
  #decide(out: Buffer[], complete: boolean): void {
    const text = this.#heldText(complete);
    const reading = readAuthservId(text.slice(text.indexOf(":") + 1), !complete);
    // "unknown" (an unclosed comment or quoted-string, or an id still hidden after maxHeaderBytes) is
    // removed: it might be ours to a lenient reader, and dropping someone else's field costs nothing
    const drop = reading.kind === "unknown" || (reading.kind === "id" && reading.id === this.#id);
    if (drop) {
      this.#removed++;
      this.#held = [];
      this.#heldLen = 0;
      this.#mode = "drop";
    } else {
      this.#release(out);
      this.#mode = "keep";
    }
  }

  #overflow(out: Buffer[]): void {
    if (this.#mode === "held") {
      this.#decide(out, false);
      return;
    }
    // still no colon: "Authentication-Results" padded with WSP before its colon (obs-optional) is
    // removed like a field whose id cannot be read; any other name is no concern of ours
    const text = this.#heldText(false);
    if (/^authentication-results[ \t\r\n]*$/i.test(text)) {
      this.#removed++;
      this.#held = [];
      this.#heldLen = 0;
      this.#mode = "drop";
    } else {
      this.#release(out);
      this.#mode = "keep";
    }
  }

  /**
   * The held bytes as text; for a judgement on a prefix exactly the first maxHeaderBytes, so that
   * the outcome does not depend on how the input was split into chunks.
   */
  #heldText(complete: boolean): string {
    const all = Buffer.concat(this.#held);
    return (complete ? all : all.subarray(0, this.#max)).toString("latin1");
  }

  #release(out: Buffer[]): void {
    out.push(...this.#held);
    this.#held = [];
    this.#heldLen = 0;
  }
}

function concat(parts: Buffer[]): Buffer {
  if (parts.length === 1) return parts[0]!;
  return Buffer.concat(parts);
}

/** Filters a whole message in one go (tests, small messages). */
export function filterAuthResults(
  message: Buffer,
  opts: { authservId: string; maxHeaderBytes: number },
): { message: Buffer; removed: number } {
  const f = new AuthResultsFilter(opts);
  const out = Buffer.concat([f.push(message), f.end()]);
  return { message: out, removed: f.removed };
}
