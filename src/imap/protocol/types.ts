// Shared types of the pure IMAP request side: what the receiver frames, and the typed commands and
// ASTs the parsers produce. Names follow RFC 9051 §9 where a production has one.

// ---------------------------------------------------------------- framing

/**
 * A literal's value inside a framed command. `streamed` is a placeholder: its bytes went to the
 * session as "literal-chunk" events and are not kept (APPEND message data, see receiver.ts).
 */
export type Literal =
  | { readonly kind: "inline"; readonly data: Buffer; readonly binary: boolean }
  | { readonly kind: "streamed"; readonly size: number; readonly binary: boolean };

/**
 * One command as the receiver framed it: `lines[0]` starts with the tag; `lines[i]` is followed by
 * `literals[i]` (its "{n}" / "{n+}" / "~{n}" announcement and CRLF removed). Always
 * `lines.length === literals.length + 1`; no line contains CR or LF.
 */
export interface Frame {
  readonly lines: readonly Buffer[];
  readonly literals: readonly Literal[];
}

// ---------------------------------------------------------------- shared values

/** "*" is the largest number in use (RFC 9051 §9 seq-number). */
export type SeqNumber = number | "*";
/** Both ends included, in either order ("4:2" = "2:4"). */
export interface SeqRange {
  readonly from: SeqNumber;
  readonly to: SeqNumber;
}
/** A parsed sequence-set, or "$": the saved result of the last SEARCH (RFC 5182). */
export type SequenceSet =
  | { readonly kind: "set"; readonly ranges: readonly SeqRange[] }
  | { readonly kind: "saved" };

/** A calendar day (SEARCH dates): month 1–12. */
export interface ImapDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

/** A date-time (APPEND): the instant, plus the zone it was written in (minutes east of UTC). */
export interface ImapDateTime {
  readonly time: number;
  readonly zone: number;
}

/** System flags in canonical spelling ("\Seen"), other "\" flags and keywords as sent. */
export type Flag = string;

export type StatusItem =
  | "MESSAGES"
  | "UIDNEXT"
  | "UIDVALIDITY"
  | "UNSEEN"
  | "DELETED"
  | "SIZE"
  | "RECENT"
  | "HIGHESTMODSEQ"
  | "APPENDLIMIT";

// ---------------------------------------------------------------- FETCH

export type SectionText = "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";

/** A section-spec: `part` is [] for the whole message; `fields` only with HEADER.FIELDS[.NOT]. */
export interface Section {
  readonly part: readonly number[];
  readonly text?: SectionText;
  readonly fields?: readonly string[];
}

/** "<offset.length>" (RFC 9051 §6.4.5). */
export interface Partial {
  readonly offset: number;
  readonly length: number;
}

export type SimpleFetchAtt =
  | "ENVELOPE"
  | "FLAGS"
  | "INTERNALDATE"
  | "RFC822.SIZE"
  | "UID"
  | "MODSEQ"
  | "BODYSTRUCTURE"
  /** BODY without a section: the non-extensible BODYSTRUCTURE */
  | "BODY"
  | "RFC822"
  | "RFC822.HEADER"
  | "RFC822.TEXT";

export type FetchItem =
  | { readonly type: SimpleFetchAtt }
  /** BODY[section]<partial> and BODY.PEEK[…] */
  | { readonly type: "BODY[]"; readonly peek: boolean; readonly section: Section; readonly partial?: Partial }
  /** BINARY[part]<partial> and BINARY.PEEK[…] (RFC 3516) */
  | {
      readonly type: "BINARY[]";
      readonly peek: boolean;
      readonly part: readonly number[];
      readonly partial?: Partial;
    }
  | { readonly type: "BINARY.SIZE[]"; readonly part: readonly number[] };

// ---------------------------------------------------------------- SEARCH

/**
 * SEARCH criteria, normalised for evaluation: ANSWERED…UNSEEN, RECENT/OLD, KEYWORD/UNKEYWORD
 * become `flag`; FROM/TO/CC/BCC/SUBJECT/HEADER become `header` (field name lower-cased); NEW is
 * `and(\Recent, not \Seen)`; a parenthesised list and the top-level list are `and`.
 */
export type SearchKey =
  | { readonly key: "all" }
  | { readonly key: "flag"; readonly flag: Flag; readonly set: boolean }
  /** value "" matches every message that has the field (RFC 9051 §6.4.4 HEADER) */
  | { readonly key: "header"; readonly field: string; readonly value: string }
  | { readonly key: "body" | "text"; readonly value: string }
  /** internal: the INTERNALDATE (BEFORE/ON/SINCE); sent: the Date: header (SENT*) */
  | {
      readonly key: "date";
      readonly of: "internal" | "sent";
      readonly op: "before" | "on" | "since";
      readonly date: ImapDate;
    }
  | { readonly key: "size"; readonly op: "larger" | "smaller"; readonly size: number }
  /** seq: a bare sequence-set; uid: UID set. Either may be "$" (RFC 5182). */
  | { readonly key: "seq" | "uid"; readonly set: SequenceSet }
  /** RFC 7162 §3.1.5; `entry` is the optional per-flag metadata item */
  | {
      readonly key: "modseq";
      readonly modSeq: number;
      readonly entry?: { readonly flag: Flag; readonly type: "priv" | "shared" | "all" };
    }
  /** RFC 5032 WITHIN: internal date older/younger than `seconds` */
  | { readonly key: "older" | "younger"; readonly seconds: number }
  | { readonly key: "not"; readonly operand: SearchKey }
  | { readonly key: "or"; readonly left: SearchKey; readonly right: SearchKey }
  | { readonly key: "and"; readonly keys: readonly SearchKey[] };

/** RFC 4731 / RFC 5182 result options. */
export type SearchReturn = "MIN" | "MAX" | "ALL" | "COUNT" | "SAVE";

export type SortKey =
  | "ARRIVAL"
  | "CC"
  | "DATE"
  | "FROM"
  | "SIZE"
  | "SUBJECT"
  | "TO"
  | "DISPLAYFROM"
  | "DISPLAYTO";

export interface SortCriterion {
  readonly key: SortKey;
  readonly reverse: boolean;
}

// ---------------------------------------------------------------- mailbox commands

/** SELECT/EXAMINE (QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])), RFC 7162 §3.2.5. */
export interface QresyncParams {
  readonly uidValidity: number;
  readonly modSeq: number;
  readonly knownUids?: SequenceSet;
  readonly seqMatch?: { readonly seqs: SequenceSet; readonly uids: SequenceSet };
}

/** LIST selection options (RFC 5258 §3.1, RFC 6154 §5.1). */
export interface ListSelection {
  readonly subscribed: boolean;
  readonly remote: boolean;
  readonly recursiveMatch: boolean;
  readonly specialUse: boolean;
}

/** LIST return options (RFC 5258 §3.2, RFC 5819, RFC 6154 §5.1). */
export interface ListReturn {
  readonly subscribed: boolean;
  readonly children: boolean;
  readonly specialUse: boolean;
  readonly status?: readonly StatusItem[];
}

/** One message of APPEND (MULTIAPPEND, RFC 3502: several). */
export interface AppendMessage {
  readonly flags: readonly Flag[];
  readonly date?: ImapDateTime;
  /** inline (small, e.g. from a test) or streamed (the session already received its bytes) */
  readonly literal: Literal;
  /** sent as `UTF8 (literal8)` (RFC 6855 §4) */
  readonly utf8: boolean;
}

// ---------------------------------------------------------------- commands

/** A command without arguments. */
interface Bare<N extends string> {
  readonly tag: string;
  readonly name: N;
}
/** A command that names one mailbox. */
interface OneMailbox<N extends string> extends Bare<N> {
  readonly mailbox: string;
}
interface SelectCommand<N extends "SELECT" | "EXAMINE"> extends OneMailbox<N> {
  readonly condstore: boolean;
  readonly qresync?: QresyncParams;
}
interface CopyCommand<N extends "COPY" | "MOVE"> extends OneMailbox<N> {
  readonly uid: boolean;
  readonly set: SequenceSet;
}

/**
 * Every command parseCommand knows: a discriminated union with one member per name (so
 * `Extract<Command, { name: "FETCH" }>` works); UID commands carry `uid: true`.
 */
export type Command =
  | Bare<"CAPABILITY">
  | Bare<"NOOP">
  | Bare<"LOGOUT">
  | Bare<"STARTTLS">
  | Bare<"CHECK">
  | Bare<"CLOSE">
  | Bare<"UNSELECT">
  | Bare<"IDLE">
  | Bare<"NAMESPACE">
  /** initialResponse: decoded SASL-IR (RFC 4959); an empty Buffer for "=" */
  | (Bare<"AUTHENTICATE"> & { readonly mechanism: string; readonly initialResponse?: Buffer })
  | (Bare<"LOGIN"> & { readonly userid: string; readonly password: string })
  /** capability names upper-cased */
  | (Bare<"ENABLE"> & { readonly capabilities: readonly string[] })
  | SelectCommand<"SELECT">
  | SelectCommand<"EXAMINE">
  /** specialUse: the USE (…) attributes of RFC 6154 §3, canonical spelling */
  | (OneMailbox<"CREATE"> & { readonly specialUse: readonly string[] })
  | OneMailbox<"DELETE">
  | OneMailbox<"SUBSCRIBE">
  | OneMailbox<"UNSUBSCRIBE">
  | (Bare<"RENAME"> & { readonly from: string; readonly to: string })
  /** extended: selection options, several patterns or RETURN were used (RFC 5258 §3) */
  | (Bare<"LIST"> & {
      readonly reference: string;
      readonly patterns: readonly string[];
      readonly selection: ListSelection;
      readonly returns: ListReturn;
      readonly extended: boolean;
    })
  | (Bare<"LSUB"> & { readonly reference: string; readonly pattern: string })
  | (OneMailbox<"STATUS"> & { readonly items: readonly StatusItem[] })
  | (OneMailbox<"APPEND"> & { readonly messages: readonly AppendMessage[] })
  /** EXPUNGE (uid false) or UID EXPUNGE set (RFC 4315 §2.1) */
  | (Bare<"EXPUNGE"> & ({ readonly uid: false } | { readonly uid: true; readonly set: SequenceSet }))
  /** returns: absent without RETURN; [] for "RETURN ()" (RFC 4731 §3.1: like ALL, as ESEARCH) */
  | (Bare<"SEARCH"> & {
      readonly uid: boolean;
      readonly returns?: readonly SearchReturn[];
      readonly charset?: string;
      readonly criteria: SearchKey;
    })
  | (Bare<"FETCH"> & {
      readonly uid: boolean;
      readonly set: SequenceSet;
      readonly items: readonly FetchItem[];
      readonly changedSince?: number;
      readonly vanished: boolean;
    })
  | (Bare<"STORE"> & {
      readonly uid: boolean;
      readonly set: SequenceSet;
      readonly unchangedSince?: number;
      readonly op: "set" | "add" | "remove";
      readonly silent: boolean;
      readonly flags: readonly Flag[];
    })
  | CopyCommand<"COPY">
  | CopyCommand<"MOVE">
  | (Bare<"SORT"> & {
      readonly uid: boolean;
      readonly criteria: readonly SortCriterion[];
      readonly charset: string;
      readonly search: SearchKey;
    })
  /** algorithm upper-cased, any atom: the session refuses what it does not implement */
  | (Bare<"THREAD"> & {
      readonly uid: boolean;
      readonly algorithm: string;
      readonly charset: string;
      readonly search: SearchKey;
    })
  /** RFC 2971: null for "ID NIL" */
  | (Bare<"ID"> & {
      readonly params: readonly { readonly field: string; readonly value: string | null }[] | null;
    })
  | (Bare<"GETQUOTA"> & { readonly root: string })
  | OneMailbox<"GETQUOTAROOT">
  /** resource names upper-cased (RFC 9208 §4.1.3) */
  | (Bare<"SETQUOTA"> & {
      readonly root: string;
      readonly limits: readonly { readonly resource: string; readonly limit: number }[];
    });

export type CommandName = Command["name"];

/** Per-session facts that change how arguments are read. */
export interface ParseContext {
  /** UTF8=ACCEPT or IMAP4rev2 is enabled: mailbox names are UTF-8, not modified UTF-7. */
  readonly utf8?: boolean;
}

export type ParseResult =
  | { readonly ok: true; readonly command: Command }
  /**
   * Answer `tag status [code] text` (tag null: untagged "* BAD"). status is BAD for syntax errors;
   * NO with a response code where the syntax was fine but a value is refused (BADCHARSET).
   */
  | {
      readonly ok: false;
      readonly tag: string | null;
      readonly status: "BAD" | "NO";
      readonly code?: string;
      readonly text: string;
    };
