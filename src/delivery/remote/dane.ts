// DANE for SMTP (RFC 7672): when an MX host's address records and its TLSA records at
// _<port>._tcp.<host> are DNSSEC-authenticated, TLS is mandatory and the certificate must match a TLSA
// record. Only usages DANE-TA(2) and DANE-EE(3) apply to SMTP (§3.1.3); PKIX usages are unusable.
import { createHash, X509Certificate } from "node:crypto";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import type { TlsaRecord } from "../../dns/types.js";

/** RFC 7672 §3.1.3: records with usage 2 or 3, selector 0/1, matching type 0/1/2. */
export function usableTlsa(records: TlsaRecord[]): TlsaRecord[] {
  return records.filter(
    (r) => (r.usage === 2 || r.usage === 3) && (r.selector === 0 || r.selector === 1) && r.matchingType <= 2,
  );
}

/** Whether one certificate (DER) matches one TLSA record (RFC 6698 §2.1.2–2.1.3). */
export function tlsaMatches(rec: TlsaRecord, der: Buffer): boolean {
  let data: Buffer;
  if (rec.selector === 0) data = der;
  else data = new X509Certificate(der).publicKey.export({ type: "spki", format: "der" });
  let digest: Buffer;
  if (rec.matchingType === 0) digest = data;
  else if (rec.matchingType === 1) digest = createHash("sha256").update(data).digest();
  else if (rec.matchingType === 2) digest = createHash("sha512").update(data).digest();
  else return false;
  return digest.equals(rec.data);
}

/** The peer's chain as sent, leaf first (node links issuers; a self-signed root points to itself). */
export function peerChain(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let cert = socket.getPeerCertificate(true) as DetailedPeerCertificate | null;
  const seen = new Set<string>();
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(cert.raw);
    cert = cert.issuerCertificate ?? null;
  }
  return out;
}

/**
 * Checks the chain against usable TLSA records; returns null when authenticated, else the reason.
 * DANE-EE(3): the leaf matches; no name or date checks (§3.1.1). DANE-TA(2): some certificate of the
 * chain matches, the leaf is signed through the chain up to it, and the leaf names the MX host
 * (§3.2.2–3.2.3).
 */
export function daneVerify(records: TlsaRecord[], chain: Buffer[], mxHost: string): string | null {
  const usable = usableTlsa(records);
  if (chain.length === 0) return "no certificate presented";
  const leaf = chain[0] as Buffer;
  for (const r of usable) {
    if (r.usage === 3 && tlsaMatches(r, leaf)) return null;
  }
  for (const r of usable) {
    if (r.usage !== 2) continue;
    const ta = chain.findIndex((c) => tlsaMatches(r, c));
    if (ta < 0) continue;
    try {
      const certs = chain.slice(0, ta + 1).map((c) => new X509Certificate(c));
      let signed = true;
      for (let i = 0; i < certs.length - 1; i++) {
        if (!(certs[i] as X509Certificate).verify((certs[i + 1] as X509Certificate).publicKey)) signed = false;
      }
      const now = Date.now();
      const dated = certs.every((c) => Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo));
      const named = (certs[0] as X509Certificate).checkHost(mxHost) !== undefined;
      if (signed && dated && named) return null;
    } catch {
      /* unparsable certificate: try the next record */
    }
  }
  return usable.length === 0
    ? "no usable TLSA records"
    : `certificate does not match the TLSA records of ${mxHost}`;
}
