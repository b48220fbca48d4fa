// What an SMTP session needs from the server, and what distinguishes the three SMTP listeners.
import type { AccountLookup } from "../../auth/account-lookup.js";
import type { ScramOptions } from "../../auth/sasl/scram-sha-256.js";
import type { AuthThrottle } from "../../auth/throttle.js";
import type { Config } from "../../config/types.js";
import type { LocalDeliveryAgent } from "../../delivery/local-delivery.js";
import type { Metrics } from "../../http/metrics.js";
import type { DkimSigner } from "../../security/dkim-sign.js";
import type { MailStore } from "../../store/types.js";
import type { InboundPolicy } from "../../policy/inbound.js";

/** smtp = inbound MX (no AUTH, local recipients only); submission(s) = authenticated users (RFC 6409). */
export type SmtpRole = "smtp" | "submission" | "submissions";

export interface SmtpDeps {
  config: Config;
  store: MailStore;
  metrics: Metrics;
  throttle: AuthThrottle;
  accounts: AccountLookup;
  delivery: LocalDeliveryAgent;
  /** signs what local users send to other domains; null when dkim.sign is off */
  signer: DkimSigner | null;
  scram: ScramOptions;
  /** rates, DNSBL, greylisting, SPF/DKIM/DMARC and the spam scanner */
  policy: InboundPolicy;
  isShuttingDown(): boolean;
}
