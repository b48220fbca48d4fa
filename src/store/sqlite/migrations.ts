// Versioned schema. The version lives in PRAGMA user_version; each migration runs once, in order,
// inside one write transaction (so two processes starting together cannot both apply it). A
// database written by a newer Postamt is refused rather than misread.

import { StoreError } from "../types.js";
import type { Db } from "./db.js";

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "directory, mailboxes, messages, change log, full-text index, queue",
    sql: `
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
-- UIDVALIDITY source: max(unix time, last + 1), so a re-created mailbox never reuses a value
INSERT INTO meta (key, value) VALUES ('last_uidvalidity', 0);

CREATE TABLE domains (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);

CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE,
  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  password_hash TEXT NOT NULL,
  scram TEXT NOT NULL,                    -- JSON ScramCredentials
  quota_bytes INTEGER,                    -- NULL: unlimited
  used_bytes INTEGER NOT NULL DEFAULT 0,  -- kept by the messages triggers
  message_count INTEGER NOT NULL DEFAULT 0,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain_id);

CREATE TABLE aliases (
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE,           -- "local@domain" or "@domain" (catch-all)
  domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
  targets TEXT NOT NULL,                  -- JSON array of addresses
  created_at INTEGER NOT NULL
);
CREATE INDEX aliases_domain ON aliases(domain_id);

CREATE TABLE mailboxes (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  special_use TEXT,
  subscribed INTEGER NOT NULL DEFAULT 1,
  uidvalidity INTEGER NOT NULL,
  uidnext INTEGER NOT NULL DEFAULT 1,
  highestmodseq INTEGER NOT NULL DEFAULT 1,
  message_count INTEGER NOT NULL DEFAULT 0,
  total_size INTEGER NOT NULL DEFAULT 0,
  UNIQUE (account_id, name)
);

CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL,            -- denormalised: quota triggers need it even mid-cascade
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  flags TEXT NOT NULL DEFAULT '[]',       -- JSON array, normalised
  internal_date INTEGER NOT NULL,         -- epoch ms
  size INTEGER NOT NULL,                  -- prefix + blob
  blob_id TEXT NOT NULL,
  prefix BLOB NOT NULL,
  mime TEXT NOT NULL,
  envelope TEXT NOT NULL,
  doc_id INTEGER,                         -- rowid in message_text, shared by every copy of one delivery
  UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_blob ON messages(blob_id);
CREATE INDEX messages_doc ON messages(doc_id) WHERE doc_id IS NOT NULL;

-- contentless: the index alone, the text is not stored twice; rows are shared by copies of a
-- message and deleted with the last copy (trigger below)
CREATE VIRTUAL TABLE message_text USING fts5(
  body, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_after_insert AFTER INSERT ON messages BEGIN
  UPDATE mailboxes SET message_count = message_count + 1, total_size = total_size + NEW.size
    WHERE id = NEW.mailbox_id;
  UPDATE accounts SET message_count = message_count + 1, used_bytes = used_bytes + NEW.size
    WHERE id = NEW.account_id;
END;

CREATE TRIGGER messages_after_delete AFTER DELETE ON messages BEGIN
  UPDATE mailboxes SET message_count = message_count - 1, total_size = total_size - OLD.size
    WHERE id = OLD.mailbox_id;
  UPDATE accounts SET message_count = message_count - 1, used_bytes = used_bytes - OLD.size
    WHERE id = OLD.account_id;
  DELETE FROM message_text WHERE OLD.doc_id IS NOT NULL AND rowid = OLD.doc_id
    AND NOT EXISTS (SELECT 1 FROM messages WHERE doc_id = OLD.doc_id);
END;

CREATE TRIGGER messages_after_move AFTER UPDATE OF mailbox_id ON messages BEGIN
  UPDATE mailboxes SET message_count = message_count - 1, total_size = total_size - OLD.size
    WHERE id = OLD.mailbox_id;
  UPDATE mailboxes SET message_count = message_count + 1, total_size = total_size + NEW.size
    WHERE id = NEW.mailbox_id;
END;

-- Every append, flag change and expunge of a mailbox, keyed by its modseq. Expunges are kept
-- for QRESYNC (RFC 7162 VANISHED (EARLIER)); pruning old rows comes later.
CREATE TABLE changes (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  modseq INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('append', 'flags', 'expunge')),
  uid INTEGER NOT NULL,
  flags TEXT,
  PRIMARY KEY (mailbox_id, modseq)
) WITHOUT ROWID;

CREATE TABLE queue_messages (
  id TEXT PRIMARY KEY,
  sender TEXT NOT NULL,
  blob_id TEXT NOT NULL,
  prefix BLOB NOT NULL,
  size INTEGER NOT NULL,
  dsn TEXT NOT NULL DEFAULT '{}',
  account_id INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX queue_messages_blob ON queue_messages(blob_id);
CREATE INDEX queue_messages_account ON queue_messages(account_id) WHERE account_id IS NOT NULL;

CREATE TABLE queue_recipients (
  id INTEGER PRIMARY KEY,
  message_id TEXT NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  domain TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'deferred')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  last_attempt_at INTEGER,
  last_reply TEXT,
  notify TEXT,                            -- JSON array or NULL
  orcpt TEXT,
  -- a delivery worker leases all due recipients of one destination domain at a time
  lease_owner TEXT,
  lease_until INTEGER
);
CREATE INDEX queue_recipients_message ON queue_recipients(message_id);
-- the scheduler's questions: what is due, and what is waiting for one destination
CREATE INDEX queue_recipients_due ON queue_recipients(next_attempt_at)
  WHERE status IN ('pending', 'deferred');
CREATE INDEX queue_recipients_domain ON queue_recipients(domain, next_attempt_at)
  WHERE status IN ('pending', 'deferred');
`,
  },
  {
    version: 2,
    description: "\\Noselect mailboxes (a deleted mailbox that still has children, RFC 9051 §6.3.5)",
    sql: `ALTER TABLE mailboxes ADD COLUMN noselect INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 3,
    description: "time of each message's first POP3 retrieval (RFC 2449 §6.7 EXPIRE n)",
    sql: `ALTER TABLE messages ADD COLUMN pop3_retrieved_at INTEGER;  -- epoch ms; NULL: never retrieved`,
  },
  {
    version: 4,
    description: "outbound queue engine: DSN fields of the last attempt, delay notices, lease lookup",
    sql: `
ALTER TABLE queue_recipients ADD COLUMN last_status TEXT;        -- RFC 3463 status of the last attempt
ALTER TABLE queue_recipients ADD COLUMN remote_mta TEXT;         -- RFC 3464 Remote-MTA of the last attempt
ALTER TABLE queue_recipients ADD COLUMN diagnostic TEXT;         -- RFC 3464 Diagnostic-Code of the last attempt
ALTER TABLE queue_recipients ADD COLUMN delay_notified_at INTEGER;  -- epoch ms of the "delayed" DSN
-- releaseLeases(owner) at startup
CREATE INDEX queue_recipients_lease ON queue_recipients(lease_owner) WHERE lease_owner IS NOT NULL;
`,
  },
  {
    version: 5,
    description:
      "big mailboxes: flags and modseqs in a narrow table, a covering index, the Date: header for SORT",
    sql: `
-- Flags and MODSEQ, the only per-message state that changes, move out of the wide messages row (MIME
-- tree and envelope, ~1.5 KB): a STORE on 100,000 messages rewrote every row and wrote ~150 MB of
-- WAL; here a row is ~30 bytes, and SELECT reads a mailbox's state as one contiguous key range.
CREATE TABLE message_state (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  flags TEXT NOT NULL DEFAULT '[]',       -- JSON array, normalised
  PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
INSERT INTO message_state (mailbox_id, uid, modseq, flags) SELECT mailbox_id, uid, modseq, flags FROM messages;
ALTER TABLE messages DROP COLUMN flags;
ALTER TABLE messages DROP COLUMN modseq;
CREATE TRIGGER messages_state_after_delete AFTER DELETE ON messages BEGIN
  DELETE FROM message_state WHERE mailbox_id = OLD.mailbox_id AND uid = OLD.uid;
END;

ALTER TABLE messages ADD COLUMN sent_date INTEGER;  -- Date: header as epoch ms (RFC 5256 §2.2); NULL: none
-- what FETCH RFC822.SIZE/INTERNALDATE, SORT and SEARCH TEXT read of every message of a mailbox,
-- without touching the wide rows
CREATE INDEX messages_details ON messages(mailbox_id, uid, internal_date, size, sent_date, doc_id);
-- messages stored before get sent_date when the store opens (parsed in JavaScript: backfillSentDates)
INSERT INTO meta (key, value) VALUES ('sent_date_backfill', 1);
`,
  },
  {
    version: 6,
    description: "inbound policy state: greylisting triplets and DMARC aggregate report data",
    sql: `
CREATE TABLE greylist (
  key TEXT PRIMARY KEY,                 -- "t:network|sender|recipient" or "a:network"
  first_seen INTEGER NOT NULL,          -- epoch ms
  last_seen INTEGER NOT NULL,
  passed INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX greylist_expiry ON greylist(expires_at);
-- RFC 7489 §7.2 aggregate report rows: one count per distinct (day, domain, source, outcome)
CREATE TABLE dmarc_records (
  day TEXT NOT NULL,                    -- UTC YYYY-MM-DD
  domain TEXT NOT NULL,                 -- RFC5322.From domain
  source_ip TEXT NOT NULL,
  policy TEXT NOT NULL,
  disposition TEXT NOT NULL,
  dmarc TEXT NOT NULL,
  spf TEXT NOT NULL,
  spf_domain TEXT NOT NULL,
  dkim TEXT NOT NULL,
  dkim_domain TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (day, domain, source_ip, policy, disposition, dmarc, spf, spf_domain, dkim, dkim_domain)
) WITHOUT ROWID;
`,
  },
  {
    version: 7,
    description: "top-level header sections of messages, so header FETCHes need no blob read",
    sql: `
-- The blob's bytes [0, headerEnd) (the top-level header section, without the trace prefix of the
-- messages row) when at most 16 KiB: FETCH BODY[HEADER], HEADER.FIELDS and RFC822.HEADER come from
-- here instead of a file open/read/close. Blobs are content-addressed and shared by every copy, so
-- one row per blob, written (OR IGNORE) in the delivery's transaction; garbage collection deletes it
-- with the blob. Messages stored before this version have no row and are read from the blob.
-- A rowid table on purpose: WITHOUT ROWID keeps under 1 KB of a row in the b-tree page and chains
-- the rest through overflow pages: looking up a 3 KB header took 3-4 times as long (measured).
CREATE TABLE message_headers (
  blob_id TEXT PRIMARY KEY,
  header BLOB NOT NULL
);
`,
  },
  {
    version: 8,
    description: "small blobs (at most 128 KiB) in the database instead of files",
    sql: `
-- The content of small blobs, written in the transaction of the delivery that references it, so a
-- small message costs its share of one grouped WAL fsync instead of a file fsync plus a directory
-- fsync (src/store/sqlite/hybrid-blobs.ts). id is the sha256 hex of data, like a blob file's name;
-- reads look here before the files. created (epoch ms) gives garbage collection its grace period.
-- A rowid table: large rows in a WITHOUT ROWID table are slow (see message_headers).
CREATE TABLE blob_inline (
  id TEXT PRIMARY KEY,
  data BLOB NOT NULL,
  created INTEGER NOT NULL
);
`,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export function userVersion(db: Db): number {
  return db.raw.pragma("user_version", { simple: true }) as number;
}

function refuseNewer(db: Db, version: number): never {
  throw new StoreError(
    "newer-schema",
    `database ${db.path} has schema version ${version}, but this Postamt supports at most ` +
      `version ${LATEST_SCHEMA_VERSION}; upgrade Postamt to open it`,
  );
}

/** Brings the schema up to date; returns the migrations applied. */
export function migrate(db: Db): Migration[] {
  const before = userVersion(db);
  if (before > LATEST_SCHEMA_VERSION) refuseNewer(db, before);
  if (before === LATEST_SCHEMA_VERSION) return [];
  return db.write(() => {
    // read again under the write lock: another process may have migrated meanwhile
    const current = userVersion(db);
    if (current > LATEST_SCHEMA_VERSION) refuseNewer(db, current);
    const pending = MIGRATIONS.filter((m) => m.version > current);
    for (const m of pending) db.raw.exec(m.sql);
    db.raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION}`);
    return pending;
  });
}
