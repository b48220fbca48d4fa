// What a POP3 session needs from the server.
import type { AccountLookup } from "../../auth/account-lookup.js";
import type { ScramOptions } from "../../auth/sasl/scram-sha-256.js";
import type { AuthThrottle } from "../../auth/throttle.js";
import type { Config } from "../../config/types.js";
import type { MailStore } from "../../store/types.js";
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
  /**
   * RFC 2449 §6.7 EXPIRE: "NEVER" (Postamt never deletes mail on its own) or the minimum days a
   * message is kept after it was retrieved.
   */
  expire: "NEVER" | number;
  isShuttingDown(): boolean;
}
