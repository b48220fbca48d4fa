// SASLprep (RFC 4013), the string preparation that SCRAM (RFC 5802 §2.2) and PLAIN (RFC 4616 §2)
// apply to passwords, so "ﬁ" and "fi" are the same password on every client. Implements the mapping
// (non-ASCII spaces → SPACE, "commonly mapped to nothing" removed), NFKC, and the prohibited-output
// checks that matter in practice (controls, private use, non-characters, surrogates).

// RFC 3454 C.1.2 non-ASCII space characters.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// RFC 3454 B.1 commonly mapped to nothing.
// biome-ignore lint/suspicious/noMisleadingCharacterClass: each combining code point is removed on its own, by design
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
// RFC 3454 C.2.1/C.2.2 controls, C.3 private use, C.4 non-characters, C.8 display-changing.
const PROHIBITED =
  /[\u0000-\u001F\u007F-\u009F\u06DD\u070F\u180E\u200E\u200F\u2028\u2029\u202A-\u202E\u2061-\u2063\u206A-\u206F\uFFF9-\uFFFC\uE000-\uF8FF\uFDD0-\uFDEF\uFFFE\uFFFF]/u;

export class SaslprepError extends Error {}

export function saslprep(input: string): string {
  const mapped = input.replace(NON_ASCII_SPACE, " ").replace(MAPPED_TO_NOTHING, "");
  const normalized = mapped.normalize("NFKC");
  if (PROHIBITED.test(normalized)) throw new SaslprepError("the password contains a prohibited character");
  return normalized;
}
