// Domains, accounts, aliases and recipient resolution.

import {
  domainOf,
  normalizeAddress,
  normalizeAliasAddress,
  normalizeDomain,
  normalizeRemoteAddress,
  splitAddress,
  splitSubaddress,
} from "../address.js";
import {
  type Account,
  type Alias,
  type Domain,
  type NewAccount,
  type RecipientResolution,
  type ScramCredentials,
  StoreError,
} from "../types.js";
import type { Db } from "./db.js";
import { rowid } from "./db.js";
import type { Mailboxes } from "./mailboxes.js";

/** aliases pointing at aliases are followed this deep; deeper targets are ignored */
export const MAX_ALIAS_DEPTH = 10;

interface DomainRow {
  id: number;
  name: string;
  created_at: number;
}

interface AccountRow {
  id: number;
  address: string;
  domain_id: number;
  password_hash: string;
  scram: string;
  quota_bytes: number | null;
  disabled: number;
  created_at: number;
}

interface AliasRow {
  id: number;
  address: string;
  targets: string;
  created_at: number;
}

const ACCOUNT_COLUMNS = "id, address, domain_id, password_hash, scram, quota_bytes, disabled, created_at";

function toDomain(r: DomainRow): Domain {
  return { id: r.id, name: r.name, createdAt: new Date(r.created_at) };
}

function toAccount(r: AccountRow): Account {
  return {
    id: r.id,
    address: r.address,
    domainId: r.domain_id,
    passwordHash: r.password_hash,
    scram: JSON.parse(r.scram) as ScramCredentials,
    quotaBytes: r.quota_bytes,
    disabled: r.disabled !== 0,
    createdAt: new Date(r.created_at),
  };
}

function toAlias(r: AliasRow): Alias {
  return {
    id: r.id,
    address: r.address,
    targets: JSON.parse(r.targets) as string[],
    createdAt: new Date(r.created_at),
  };
}

function checkQuota(quotaBytes: number | null | undefined): number | null {
  if (quotaBytes === undefined || quotaBytes === null) return null;
  if (!Number.isSafeInteger(quotaBytes) || quotaBytes < 0) {
    throw new StoreError("invalid", `invalid quota ${quotaBytes}: a whole number of bytes ≥ 0 or null`);
  }
  return quotaBytes;
}

/** What one resolution collects; accounts in the order first reached. */
class Collector {
  readonly accounts = new Map<number, string>();
  readonly remote = new Set<string>();
  /** addresses already expanded: stops loops and repeated work on diamond-shaped aliases */
  readonly seen = new Set<string>();
}

export class Directory {
  constructor(
    private readonly db: Db,
    private readonly mailboxes: Mailboxes,
  ) {}

  // ---- domains ----

  addDomain(name: string): Domain {
    const domain = normalizeDomain(name);
    return this.db.write(() => {
      if (this.domainRow(domain)) throw new StoreError("exists", `domain ${domain} already exists`);
      const now = Date.now();
      const id = rowid(this.db.prep("INSERT INTO domains (name, created_at) VALUES (?, ?)").run(domain, now));
      return { id, name: domain, createdAt: new Date(now) };
    });
  }

  getDomain(name: string): Domain | null {
    const row = this.domainRow(normalizeDomain(name));
    return row ? toDomain(row) : null;
  }

  listDomains(): Domain[] {
    return this.db
      .prep<DomainRow>("SELECT id, name, created_at FROM domains ORDER BY name")
      .all()
      .map(toDomain);
  }

  removeDomain(name: string, force: boolean): void {
    const domain = normalizeDomain(name);
    this.db.write(() => {
      const row = this.domainRow(domain);
      if (!row) throw new StoreError("not-found", `no domain ${domain}`);
      if (!force) {
        const use = this.db
          .prep<{ accounts: number; aliases: number }>(
            `SELECT (SELECT count(*) FROM accounts WHERE domain_id = @id) AS accounts,
                    (SELECT count(*) FROM aliases WHERE domain_id = @id) AS aliases`,
          )
          .get({ id: row.id })!;
        if (use.accounts > 0 || use.aliases > 0) {
          throw new StoreError(
            "in-use",
            `domain ${domain} still has ${use.accounts} account(s) and ${use.aliases} alias(es)`,
          );
        }
      }
      // cascades to accounts → mailboxes → messages (triggers keep the counters) and aliases
      this.db.prep("DELETE FROM domains WHERE id = ?").run(row.id);
    });
  }

  isLocalDomain(name: string): boolean {
    try {
      return this.domainRow(normalizeDomain(name)) !== undefined;
    } catch (err) {
      if (err instanceof StoreError) return false;
      throw err;
    }
  }

  private domainRow(domain: string): DomainRow | undefined {
    return this.db.prep<DomainRow>("SELECT id, name, created_at FROM domains WHERE name = ?").get(domain);
  }

  // ---- accounts ----

  addAccount(acc: NewAccount): Account {
    const address = normalizeAddress(acc.address);
    const quota = checkQuota(acc.quotaBytes);
    return this.db.write(() => {
      const domain = this.domainRow(splitAddress(address).domain);
      if (!domain) throw new StoreError("no-domain", `domain of ${address} is not a local domain`);
      if (this.accountRow(address) || this.aliasRow(address)) {
        throw new StoreError("exists", `${address} already exists`);
      }
      const now = Date.now();
      const id = rowid(
        this.db
          .prep(
            `INSERT INTO accounts (address, domain_id, password_hash, scram, quota_bytes, created_at)
             VALUES (?, ?, ?, ?, ?, ?)`,
          )
          .run(address, domain.id, acc.passwordHash, JSON.stringify(acc.scram), quota, now),
      );
      this.mailboxes.createDefaults(id);
      return toAccount(
        this.db.prep<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`).get(id)!,
      );
    });
  }

  getAccount(address: string): Account | null {
    let normalized: string;
    try {
      normalized = normalizeAddress(address);
    } catch (err) {
      if (err instanceof StoreError) return null;
      throw err;
    }
    const row = this.accountRow(normalized);
    return row ? toAccount(row) : null;
  }

  getAccountById(id: number): Account | null {
    const row = this.db.prep<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE id = ?`).get(id);
    return row ? toAccount(row) : null;
  }

  listAccounts(domain?: string): Account[] {
    if (domain === undefined) {
      return this.db
        .prep<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts ORDER BY address`)
        .all()
        .map(toAccount);
    }
    return this.db
      .prep<AccountRow>(
        `SELECT ${ACCOUNT_COLUMNS} FROM accounts
         WHERE domain_id = (SELECT id FROM domains WHERE name = ?) ORDER BY address`,
      )
      .all(normalizeDomain(domain))
      .map(toAccount);
  }

  setPassword(address: string, passwordHash: string, scram: ScramCredentials): void {
    const r = this.db
      .prep("UPDATE accounts SET password_hash = ?, scram = ? WHERE address = ?")
      .run(passwordHash, JSON.stringify(scram), normalizeAddress(address));
    if (r.changes === 0) throw new StoreError("not-found", `no account ${address}`);
  }

  setQuota(address: string, quotaBytes: number | null): void {
    const r = this.db
      .prep("UPDATE accounts SET quota_bytes = ? WHERE address = ?")
      .run(checkQuota(quotaBytes), normalizeAddress(address));
    if (r.changes === 0) throw new StoreError("not-found", `no account ${address}`);
  }

  /** returns the id of the removed account */
  removeAccount(address: string): number {
    const normalized = normalizeAddress(address);
    return this.db.write(() => {
      const row = this.accountRow(normalized);
      if (!row) throw new StoreError("not-found", `no account ${normalized}`);
      // cascades to mailboxes → messages → change log; queue rows keep the message (account_id NULL)
      this.db.prep("DELETE FROM accounts WHERE id = ?").run(row.id);
      return row.id;
    });
  }

  private accountRow(address: string): AccountRow | undefined {
    return this.db.prep<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE address = ?`).get(address);
  }

  // ---- aliases ----

  addAlias(address: string, targets: string[]): Alias {
    const normalized = normalizeAliasAddress(address);
    if (targets.length === 0)
      throw new StoreError("invalid", `alias ${normalized} needs at least one target`);
    const clean = [...new Set(targets.map((t) => normalizeRemoteAddress(t)))];
    return this.db.write(() => {
      const domain = this.domainRow(splitAddress(normalized).domain);
      if (!domain) throw new StoreError("no-domain", `domain of ${normalized} is not a local domain`);
      if (this.aliasRow(normalized) || this.accountRow(normalized)) {
        throw new StoreError("exists", `${normalized} already exists`);
      }
      const now = Date.now();
      const id = rowid(
        this.db
          .prep("INSERT INTO aliases (address, domain_id, targets, created_at) VALUES (?, ?, ?, ?)")
          .run(normalized, domain.id, JSON.stringify(clean), now),
      );
      return { id, address: normalized, targets: clean, createdAt: new Date(now) };
    });
  }

  getAlias(address: string): Alias | null {
    const row = this.aliasRow(normalizeAliasAddress(address));
    return row ? toAlias(row) : null;
  }

  listAliases(domain?: string): Alias[] {
    if (domain === undefined) {
      return this.db
        .prep<AliasRow>("SELECT id, address, targets, created_at FROM aliases ORDER BY address")
        .all()
        .map(toAlias);
    }
    return this.db
      .prep<AliasRow>(
        `SELECT id, address, targets, created_at FROM aliases
         WHERE domain_id = (SELECT id FROM domains WHERE name = ?) ORDER BY address`,
      )
      .all(normalizeDomain(domain))
      .map(toAlias);
  }

  removeAlias(address: string): void {
    const normalized = normalizeAliasAddress(address);
    const r = this.db.prep("DELETE FROM aliases WHERE address = ?").run(normalized);
    if (r.changes === 0) throw new StoreError("not-found", `no alias ${normalized}`);
  }

  private aliasRow(address: string): AliasRow | undefined {
    return this.db
      .prep<AliasRow>("SELECT id, address, targets, created_at FROM aliases WHERE address = ?")
      .get(address);
  }

  // ---- recipient resolution ----

  /**
   * Order for one address: the account; else the alias (targets followed recursively); else for
   * "local+tag" the account or alias of "local"; else the domain's catch-all "@domain".
   */
  resolveRecipient(address: string): RecipientResolution | null {
    let normalized: string;
    try {
      normalized = normalizeAddress(address);
    } catch (err) {
      if (err instanceof StoreError) return null;
      throw err;
    }
    if (!this.isLocalDomain(splitAddress(normalized).domain)) return null;
    const out = new Collector();
    const how = this.resolveLocal(normalized, out, 0);
    if (out.accounts.size === 0 && out.remote.size === 0) return null;
    return {
      kind: "local",
      accountIds: [...out.accounts.keys()],
      addresses: [...out.accounts.values()],
      remote: [...out.remote],
      catchAll: how === "catch-all",
    };
  }

  /** null when nothing at all answers for the address */
  private resolveLocal(address: string, out: Collector, depth: number): "direct" | "catch-all" | null {
    if (this.resolveExact(address, out, depth)) return "direct";
    const { local, domain } = splitAddress(address);
    const sub = splitSubaddress(local);
    if (sub && this.resolveExact(`${sub.base}@${domain}`, out, depth)) return "direct";
    return this.resolveExact(`@${domain}`, out, depth) ? "catch-all" : null;
  }

  private resolveExact(address: string, out: Collector, depth: number): boolean {
    const account = this.accountRow(address);
    if (account) {
      out.accounts.set(account.id, account.address);
      return true;
    }
    const alias = this.aliasRow(address);
    if (!alias) return false;
    // a loop or a diamond: everything behind it is collected already (or being collected)
    if (out.seen.has(address) || depth >= MAX_ALIAS_DEPTH) return true;
    out.seen.add(address);
    for (const target of JSON.parse(alias.targets) as string[]) this.resolveTarget(target, out, depth + 1);
    return true;
  }

  private resolveTarget(target: string, out: Collector, depth: number): void {
    if (!this.isLocalDomain(domainOf(target))) {
      out.remote.add(target);
      return;
    }
    let normalized: string;
    try {
      normalized = normalizeAddress(target);
    } catch (err) {
      if (err instanceof StoreError) return;
      throw err;
    }
    this.resolveLocal(normalized, out, depth);
  }
}
