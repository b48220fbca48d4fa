// The server-side TLS context shared by every TLS listener (implicit TLS and STARTTLS/STLS).
// TLS 1.2 is the floor (RFC 8314 §4.1 and RFC 8996 retire 1.0 and 1.1).
import { type SecureContext, createSecureContext } from "node:tls";
import type { TlsMaterial } from "./certificates.js";

export function serverSecureContext(material: TlsMaterial): SecureContext {
  return createSecureContext({
    cert: material.cert,
    key: material.key,
    minVersion: "TLSv1.2",
    honorCipherOrder: true,
  });
}

/** What a Received header or a log line says about a TLS session (RFC 8314 §4.3). */
export interface TlsInfo {
  protocol: string;
  cipher: string;
  bits: number | null;
}
