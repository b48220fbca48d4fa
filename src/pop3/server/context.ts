// What a POP3 session needs from the server.
import type { AccountLookup } from "../../auth/account-lookup.js";
import type { ScramOptions } from "../../auth/sasl/scram-sha-256.js";
import type { AuthThrottle } from "../../auth/throttle.js";
import type { Config } from "../../config/types.js";
import type { MailStore } from "../../store/types.js";
import type { LoginDelays } from "./login-delay.js";
import type { MaildropLocks } from "./maildrop-lock.js";
import type { SizeCache } from "./size-cache.js";

export interface Pop3Deps {
  config: Config;
  store: MailStore;
  throttle: AuthThrottle;
  accounts: AccountLookup;
  scram: ScramOptions;
  /** one POP3 session per account at a time (shared by the pop3 and pop3s listeners) */
  locks: MaildropLocks;
  /** CRLF-form sizes of messages stored with bare LFs, learned while sending them */
  sizes: SizeCache;
  /** each account's last successful login, for LOGIN-DELAY (shared like the locks) */
  loginDelays: LoginDelays;
  isShuttingDown(): boolean;
}
