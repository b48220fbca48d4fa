// AUTHENTICATE (RFC 9051 §6.2.2, SASL-IR RFC 4959) and LOGIN (§6.2.3).

import { decodeBase64Strict } from "../../../auth/sasl/base64.js";
import { ParseError, type Reader, utf8 } from "../tokenizer.js";
import type { Command } from "../types.js";

/** "AUTHENTICATE" SP auth-type [SP initial-resp]; initial-resp = base64 / "=" */
export function authenticate(r: Reader, tag: string): Command {
  r.sp("before the mechanism");
  const mechanism = r.keyword("a SASL mechanism name");
  if (r.atEnd()) return { tag, name: "AUTHENTICATE", mechanism };
  r.sp("before the initial response");
  const text = r.astring("an initial response").toString("latin1");
  if (text === "=") return { tag, name: "AUTHENTICATE", mechanism, initialResponse: Buffer.alloc(0) };
  const initialResponse = decodeBase64Strict(text);
  if (initialResponse === null) throw new ParseError("initial response is not valid base64");
  return { tag, name: "AUTHENTICATE", mechanism, initialResponse };
}

/** "LOGIN" SP userid SP password (both astring, decoded as UTF-8: a password must not be guessed at). */
export function login(r: Reader, tag: string): Command {
  r.sp("before the user name");
  const userid = utf8(r.astring("a user name"), "user name");
  r.sp("before the password");
  const password = utf8(r.astring("a password"), "password");
  return { tag, name: "LOGIN", userid, password };
}
