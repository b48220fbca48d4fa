// Modified UTF-7 for mailbox names (RFC 3501 §5.1.3, RFC 9051 Appendix A.1): printable US-ASCII
// stands for itself except "&" ("&-"); anything else is UTF-16BE in base64 with "," for "/", no
// padding, between "&" and "-". The decoder is strict: it accepts exactly what encodeMutf7
// produces (no 8-bit or control octets, no encoded printable ASCII, no empty or adjacent shifts,
// zero padding bits, paired surrogates), so every accepted name has one spelling.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

const AMP = 0x26;

const isPrintable = (c: number): boolean => c >= 0x20 && c <= 0x7e;

/** Encode a (well-formed) Unicode string. */
export function encodeMutf7(name: string): string {
  let out = "";
  let i = 0;
  const n = name.length;
  while (i < n) {
    let j = i;
    while (j < n && isPrintable(name.charCodeAt(j)) && name.charCodeAt(j) !== AMP) j++;
    if (j > i) out += name.slice(i, j);
    if (j >= n) break;
    if (name.charCodeAt(j) === AMP) {
      out += "&-";
      i = j + 1;
      continue;
    }
    // a run of characters that cannot stand for themselves
    let k = j;
    while (k < n && !isPrintable(name.charCodeAt(k))) k++;
    out += "&";
    let bits = 0;
    let nbits = 0;
    for (let u = j; u < k; u++) {
      bits = (bits << 16) | name.charCodeAt(u);
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        out += ALPHABET[(bits >> nbits) & 63];
      }
      bits &= (1 << nbits) - 1;
    }
    if (nbits > 0) out += ALPHABET[(bits << (6 - nbits)) & 63];
    out += "-";
    i = k;
  }
  return out;
}

/** Decode a modified UTF-7 name; null when it is not in canonical modified UTF-7. */
export function decodeMutf7(text: string): string | null {
  let out = "";
  let i = 0;
  const n = text.length;
  /** index just after the last base64 run: another run may not start there (superfluous shift) */
  let shiftEnd = -1;
  while (i < n) {
    let j = i;
    while (j < n && text.charCodeAt(j) !== AMP) {
      if (!isPrintable(text.charCodeAt(j))) return null;
      j++;
    }
    if (j > i) out += text.slice(i, j);
    if (j >= n) break;
    const dash = text.indexOf("-", j + 1);
    if (dash === -1) return null;
    if (dash === j + 1) {
      out += "&";
      i = dash + 1;
      continue;
    }
    if (j === shiftEnd) return null;
    let bits = 0;
    let nbits = 0;
    let high = 0; // a pending high surrogate
    for (let p = j + 1; p < dash; p++) {
      const c = text.charCodeAt(p);
      const v = c < 128 ? VALUE[c]! : -1;
      if (v < 0) return null;
      bits = (bits << 6) | v;
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        const unit = (bits >> nbits) & 0xffff;
        bits &= (1 << nbits) - 1;
        if (high !== 0) {
          if (unit < 0xdc00 || unit > 0xdfff) return null;
          out += String.fromCharCode(high, unit);
          high = 0;
        } else if (unit >= 0xd800 && unit <= 0xdbff) {
          high = unit;
        } else if ((unit >= 0xdc00 && unit <= 0xdfff) || isPrintable(unit)) {
          return null;
        } else {
          out += String.fromCharCode(unit);
        }
      }
    }
    // leftover: fewer than 6 bits, all zero; no unit left half-done or unpaired
    if (nbits >= 6 || bits !== 0 || high !== 0) return null;
    shiftEnd = dash + 1;
    i = dash + 1;
  }
  return out;
}
