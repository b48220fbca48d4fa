// The SaslCredentialLookup over the store, shared by SMTP AUTH, IMAP and POP3. Unknown and
// disabled accounts cost the same scrypt work as a wrong password (a dummy hash with the default
// cost parameters is verified instead), so response time does not reveal which addresses exist.

import { randomBytes } from "node:crypto";
import { normalizeAddress } from "../store/address.js";
import type { Account, MailStore } from "../store/types.js";
import { hashPassword, verifyPassword } from "./password.js";
import type { SaslCredentialLookup, SaslIdentity, ScramAccount } from "./sasl/types.js";

/** computed once per process, with the same cost as real hashes (hashPassword's default) */
let dummyHash: Promise<string> | null = null;

function getDummyHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(18).toString("base64"));
  return dummyHash;
}

export class AccountLookup implements SaslCredentialLookup {
  constructor(private readonly store: MailStore) {
    // start the dummy hash now, so the first unknown user does not pay for it
    getDummyHash().catch(() => undefined);
  }

  /** authcid: the full address, normalised as the store does (case-insensitive). */
  async verifyPlain(authcid: string, password: string): Promise<SaslIdentity | null> {
    const account = await this.find(authcid);
    if (account === null) {
      await verifyPassword(password, await getDummyHash());
      return null;
    }
    return (await verifyPassword(password, account.passwordHash)) ? { username: account.address } : null;
  }

  async scramCredentials(authcid: string): Promise<ScramAccount | null> {
    const account = await this.find(authcid);
    if (account === null) return null;
    return { identity: { username: account.address }, credentials: account.scram };
  }

  /** the enabled account of an address (normalised as the store's directory does), else null */
  private async find(authcid: string): Promise<Account | null> {
    let address: string;
    try {
      address = normalizeAddress(authcid);
    } catch {
      return null; // not an address: no account can have it
    }
    const account = await this.store.getAccount(address);
    return account === null || account.disabled ? null : account;
  }
}
