// FETCH data items (RFC 9051 §6.4.5 and §9 fetch-att; BINARY of RFC 3516; MODSEQ of RFC 7162):
// macros, BODY[section]<partial>, BODY.PEEK, BINARY[.PEEK][part]<partial>, BINARY.SIZE[part].

import { isAstringAtom, ParseError, type Reader } from "./tokenizer.js";
import type { FetchItem, Partial, Section, SectionText, SimpleFetchAtt } from "./types.js";

const SIMPLE = new Set<string>([
  "ENVELOPE",
  "FLAGS",
  "INTERNALDATE",
  "RFC822.SIZE",
  "UID",
  "MODSEQ",
  "BODYSTRUCTURE",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
]);

/** Shared, frozen: commands are read-only values. */
const ITEMS = new Map<string, FetchItem>(
  [...SIMPLE, "BODY"].map((t) => [t, Object.freeze({ type: t as SimpleFetchAtt })]),
);
const item = (type: SimpleFetchAtt): FetchItem => ITEMS.get(type)!;

/** The macros of RFC 9051 §6.4.5, expanded. */
export const FETCH_MACROS: Readonly<Record<"ALL" | "FAST" | "FULL", readonly FetchItem[]>> = {
  FAST: [item("FLAGS"), item("INTERNALDATE"), item("RFC822.SIZE")],
  ALL: [item("FLAGS"), item("INTERNALDATE"), item("RFC822.SIZE"), item("ENVELOPE")],
  FULL: [item("FLAGS"), item("INTERNALDATE"), item("RFC822.SIZE"), item("ENVELOPE"), item("BODY")],
};

const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const DOT = 0x2e;
const LT = 0x3c;
const GT = 0x3e;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** "ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")" */
export function fetchItems(r: Reader): FetchItem[] {
  if (r.peek() === 0x28) return r.list(() => fetchAtt(r), "the fetch item list", true);
  if (r.eatKeyword("ALL")) return [...FETCH_MACROS.ALL];
  if (r.eatKeyword("FAST")) return [...FETCH_MACROS.FAST];
  if (r.eatKeyword("FULL")) return [...FETCH_MACROS.FULL];
  return [fetchAtt(r)];
}

/** One fetch-att. */
export function fetchAtt(r: Reader): FetchItem {
  const name = r.label();
  if (name === "") throw new ParseError(`expected a fetch item at "${r.excerpt()}"`);
  const bracket = r.peek() === LBRACKET;
  if (SIMPLE.has(name)) {
    if (bracket) throw new ParseError(`${name} takes no section`);
    return item(name as SimpleFetchAtt);
  }
  switch (name) {
    case "BODY":
    case "BODY.PEEK": {
      if (!bracket) {
        if (name === "BODY") return item("BODY");
        throw new ParseError("BODY.PEEK needs a section");
      }
      const section = sectionSpec(r);
      const partial = partialSpec(r);
      const peek = name === "BODY.PEEK";
      return partial ? { type: "BODY[]", peek, section, partial } : { type: "BODY[]", peek, section };
    }
    case "BINARY":
    case "BINARY.PEEK": {
      if (!bracket) throw new ParseError(`${name} needs a section`);
      const part = sectionBinary(r);
      const partial = partialSpec(r);
      const peek = name === "BINARY.PEEK";
      return partial ? { type: "BINARY[]", peek, part, partial } : { type: "BINARY[]", peek, part };
    }
    case "BINARY.SIZE":
      if (!bracket) throw new ParseError("BINARY.SIZE needs a section");
      return { type: "BINARY.SIZE[]", part: sectionBinary(r) };
    default:
      throw new ParseError(`unknown fetch item ${name}`);
  }
}

/** nz-number *("." nz-number), stopping before a "." that is not followed by a digit. */
function partNumbers(r: Reader): { part: number[]; dot: boolean } {
  const part: number[] = [];
  for (;;) {
    part.push(r.nzNumber("a part number"));
    if (!r.eat(DOT)) return { part, dot: false };
    if (!isDigit(r.peek())) return { part, dot: true };
  }
}

/** section = "[" [section-spec] "]" */
export function sectionSpec(r: Reader): Section {
  r.expect(LBRACKET, '"["');
  if (r.eat(RBRACKET)) return { part: [] };
  let part: number[] = [];
  if (isDigit(r.peek())) {
    const p = partNumbers(r);
    part = p.part;
    if (!p.dot) {
      r.expect(RBRACKET, '"]" after the part number');
      return { part };
    }
  }
  const text = r.label() as SectionText;
  let section: Section;
  switch (text) {
    case "HEADER":
    case "TEXT":
      section = { part, text };
      break;
    case "MIME":
      if (part.length === 0) throw new ParseError("MIME needs a part number");
      section = { part, text };
      break;
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT": {
      r.sp(`after ${text}`);
      const what =
        text === "HEADER.FIELDS"
          ? "header field name in HEADER.FIELDS"
          : "header field name in HEADER.FIELDS.NOT";
      const fields = r.list(() => r.fieldName(what), "the header field list", true);
      section = { part, text, fields };
      break;
    }
    default:
      throw new ParseError(r.atEnd() ? "unterminated section" : `invalid section ${text || r.excerpt()}`);
  }
  r.expect(RBRACKET, '"]" to end the section');
  return section;
}

/** section-binary = "[" [section-part] "]" */
function sectionBinary(r: Reader): number[] {
  r.expect(LBRACKET, '"["');
  if (r.eat(RBRACKET)) return [];
  if (!isDigit(r.peek())) throw new ParseError("a BINARY section is part numbers only");
  const p = partNumbers(r);
  if (p.dot) throw new ParseError("a BINARY section is part numbers only");
  r.expect(RBRACKET, '"]" to end the section');
  return p.part;
}

/** partial = "<" number64 "." nz-number64 ">" */
function partialSpec(r: Reader): Partial | undefined {
  if (!r.eat(LT)) return undefined;
  const offset = r.number64("the partial offset");
  r.expect(DOT, '"." in the partial range');
  const length = r.nzNumber64("the partial length");
  r.expect(GT, '">" to end the partial range');
  return { offset, length };
}

/** A header field name as an astring: an atom when it is one, else quoted. */
function fieldAstring(f: string): string {
  return isAstringAtom(f) ? f : `"${f.replace(/["\\]/g, "\\$&")}"`;
}

/** The section as written in a FETCH response: "1.HEADER.FIELDS (From To)" (inside the brackets). */
export function formatSection(s: Section): string {
  const parts = s.part.join(".");
  if (!s.text) return parts;
  const text = s.fields ? `${s.text} (${s.fields.map(fieldAstring).join(" ")})` : s.text;
  return parts ? `${parts}.${text}` : text;
}
