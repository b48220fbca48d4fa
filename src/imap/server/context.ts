// What an IMAP session needs from the server.
import type { AccountLookup } from "../../auth/account-lookup.js";
import type { ScramOptions } from "../../auth/sasl/scram-sha-256.js";
import type { AuthThrottle } from "../../auth/throttle.js";
import type { Config } from "../../config/types.js";
import type { Metrics } from "../../http/metrics.js";
import type { MailStore } from "../../store/types.js";
import type { RecentTracker } from "./recent.js";

export interface ImapDeps {
  config: Config;
  store: MailStore;
  metrics: Metrics;
  throttle: AuthThrottle;
  accounts: AccountLookup;
  scram: ScramOptions;
  recent: RecentTracker;
  isShuttingDown(): boolean;
}
