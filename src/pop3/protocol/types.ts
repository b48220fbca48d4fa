// Typed POP3 commands (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH) as the parser
// produces them. Message numbers are 1-based as on the wire; whether one exists is the session's
// business, not the parser's.

export type Pop3Command =
  | { readonly name: "USER"; readonly user: string }
  /** RFC 1939 §7: the rest of the line, spaces included, is the password */
  | { readonly name: "PASS"; readonly password: string }
  | { readonly name: "QUIT" }
  | { readonly name: "STAT" }
  | { readonly name: "LIST"; readonly msg: number | null }
  | { readonly name: "RETR"; readonly msg: number }
  | { readonly name: "DELE"; readonly msg: number }
  | { readonly name: "NOOP" }
  | { readonly name: "RSET" }
  | { readonly name: "TOP"; readonly msg: number; readonly lines: number }
  | { readonly name: "UIDL"; readonly msg: number | null }
  | { readonly name: "CAPA" }
  | { readonly name: "STLS" }
  /**
   * mechanism null: "AUTH" alone, which lists the mechanisms (a pre-RFC 5034 convention that
   * Outlook and others still probe with, answered by Dovecot too). initialResponse: the raw
   * argument ("=" for an empty one), decoded by the session with parseSaslResponse.
   */
  | { readonly name: "AUTH"; readonly mechanism: string | null; readonly initialResponse: string | null };

export type Pop3CommandName = Pop3Command["name"];

export type ParseResult =
  | { readonly ok: true; readonly command: Pop3Command }
  | {
      readonly ok: false;
      /** "unknown": no such command (or one we do not offer, e.g. APOP); "syntax": bad arguments */
      readonly kind: "unknown" | "syntax";
      /** the text for "-ERR <text>", safe to send (no CR/LF, bounded) */
      readonly text: string;
    };
