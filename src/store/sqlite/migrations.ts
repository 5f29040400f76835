// Schema of the embedded store, versioned with PRAGMA user_version.
// Each entry migrates from version i to i+1 and runs inside one transaction;
// append new entries, never edit shipped ones.
export const migrations: readonly string[] = [
  `
  CREATE TABLE domains (
    name        TEXT PRIMARY KEY,            -- ASCII (punycode), lower case
    created_at  INTEGER NOT NULL             -- unix ms
  ) STRICT;

  CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    address       TEXT NOT NULL UNIQUE,      -- normalised local@domain
    domain        TEXT NOT NULL REFERENCES domains(name) ON DELETE RESTRICT,
    password_hash TEXT NOT NULL,             -- PHC string, see src/auth/password.ts
    apop_secret   TEXT,                      -- separate APOP shared secret, NULL = APOP off
    created_at    INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE aliases (
    address     TEXT NOT NULL,               -- normalised alias address in a local domain
    target      TEXT NOT NULL,               -- normalised local or remote address
    domain      TEXT NOT NULL REFERENCES domains(name) ON DELETE RESTRICT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (address, target)
  ) STRICT;

  CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,             -- 'INBOX' (IMAP folders later)
    uid_validity  INTEGER NOT NULL,
    next_uid      INTEGER NOT NULL DEFAULT 1,
    UNIQUE (user_id, name)
  ) STRICT;

  CREATE TABLE messages (
    id           INTEGER PRIMARY KEY,
    mailbox_id   INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid          INTEGER NOT NULL,           -- per mailbox, ascending (IMAP UID)
    uidl         TEXT NOT NULL UNIQUE,       -- POP3 UIDL: stable, unique, printable
    blob         TEXT NOT NULL,              -- name of the message file in the blob store
    size         INTEGER NOT NULL,           -- octets of the stored (CRLF) message
    flags        INTEGER NOT NULL DEFAULT 0,
    received_at  INTEGER NOT NULL,
    UNIQUE (mailbox_id, uid)
  ) STRICT;
  CREATE INDEX messages_blob ON messages(blob);

  CREATE TABLE dkim_keys (
    id           INTEGER PRIMARY KEY,
    domain       TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
    selector     TEXT NOT NULL,
    algorithm    TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    private_key  TEXT NOT NULL,              -- PKCS#8 PEM
    public_key   TEXT NOT NULL,              -- the p= value of the DNS record (base64)
    created_at   INTEGER NOT NULL,
    retired_at   INTEGER,                    -- no longer signs; still published until removed
    UNIQUE (domain, selector)
  ) STRICT;
  `,
  // v2: the outbound queue. One row per remote recipient of an accepted message; the
  // message file is shared with any local copies. Rows are written in the same
  // transaction as the local deliveries, so acceptance is all or nothing.
  `
  CREATE TABLE queue (
    id               INTEGER PRIMARY KEY,
    queue_id         TEXT NOT NULL,          -- the id given in "250 ok: queued as ID"
    blob             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    mail_from        TEXT NOT NULL,          -- '' = the null reverse-path
    recipient        TEXT NOT NULL,
    origin           TEXT NOT NULL CHECK (origin IN ('mta', 'msa')),
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT
  ) STRICT;
  CREATE INDEX queue_blob ON queue(blob);
  CREATE INDEX queue_next_attempt ON queue(next_attempt_at);
  `,
  // v3: POP-before-SMTP: a POP3 login authorises its client address for submission
  // until expires_at, for that user's own addresses only. Kept across restarts.
  `
  CREATE TABLE pop_before_smtp (
    ip          TEXT PRIMARY KEY,           -- plain IPv4 or IPv6 text
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    logged_in_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT;
  `,
  // v4: keywords (IMAP keywords, tags set by the intake pipeline) per stored message,
  // space-separated.
  `
  ALTER TABLE messages ADD COLUMN keywords TEXT NOT NULL DEFAULT '';
  `,
  // v5: role aliases waiting for their target (RFC 5321 §4.5.1 postmaster, RFC 2142
  // abuse), refused with a temporary error until it exists. Existing domains get the
  // role addresses they lack (a user or alias of that name is never touched): aliases
  // to the instance's first user, or pending ones while there is no user.
  `
  CREATE TABLE pending_aliases (
    address     TEXT PRIMARY KEY,            -- normalised postmaster@ or abuse@ of a local domain
    domain      TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
    awaiting    TEXT,                        -- the user or alias it is meant for; NULL = the first user
    created_at  INTEGER NOT NULL
  ) STRICT;

  CREATE TEMP TABLE missing_roles AS
    SELECT r.local || '@' || d.name AS address, d.name AS domain
      FROM domains d, (SELECT 'postmaster' AS local UNION ALL SELECT 'abuse') r
     WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.address = r.local || '@' || d.name)
       AND NOT EXISTS (SELECT 1 FROM aliases a WHERE a.address = r.local || '@' || d.name);
  INSERT INTO aliases (address, target, domain, created_at)
    SELECT m.address, (SELECT address FROM users ORDER BY id LIMIT 1), m.domain, CAST(unixepoch('subsec') * 1000 AS INTEGER)
      FROM missing_roles m WHERE EXISTS (SELECT 1 FROM users);
  INSERT INTO pending_aliases (address, domain, awaiting, created_at)
    SELECT m.address, m.domain, NULL, CAST(unixepoch('subsec') * 1000 AS INTEGER)
      FROM missing_roles m WHERE NOT EXISTS (SELECT 1 FROM users);
  DROP TABLE missing_roles;
  `,
  // v6: message content up to 100 KB in the database (src/store/sqlite/contents.ts),
  // inserted and deleted in the same transactions as the rows that reference it by
  // name (messages.blob, queue.blob); larger content stays in message files.
  `
  CREATE TABLE message_contents (
    name        TEXT PRIMARY KEY,            -- a message name, as in messages.blob and queue.blob
    content     BLOB NOT NULL
  ) STRICT;
  `,
  // v7: the quarantine (src/store/quarantine.ts): originals the content filters took out of
  // a message's way, with what a release needs; their content is referenced by name like
  // a mailbox copy's (message_contents or a message file). And per stored message, what
  // the antivirus engines scanned it with, so a rescan at retrieval knows when the
  // signatures have changed since ('' = not recorded).
  `
  CREATE TABLE quarantine (
    id             INTEGER PRIMARY KEY,
    quarantine_id  TEXT NOT NULL UNIQUE,        -- shown by kakitome quarantine; the queue id of the message
    blob           TEXT NOT NULL,               -- the original's content, as in messages.blob
    size           INTEGER NOT NULL,
    reason         TEXT NOT NULL CHECK (reason IN ('virus', 'attachment', 'spam')),
    detail         TEXT NOT NULL,               -- what was found: a signature, a file name
    delivered      INTEGER NOT NULL CHECK (delivered IN (0, 1)),  -- 1: a changed copy was delivered
    origin         TEXT NOT NULL CHECK (origin IN ('mta', 'msa')),
    mail_from      TEXT NOT NULL,               -- '' = the null reverse-path
    recipients     TEXT NOT NULL,               -- JSON {"users": [user id...], "remote": [address...]}
    created_at     INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX quarantine_blob ON quarantine(blob);
  CREATE INDEX quarantine_created ON quarantine(created_at);

  ALTER TABLE messages ADD COLUMN scanned_with TEXT NOT NULL DEFAULT '';
  `,
  // v8: the spam classifier's models (src/store/spam.ts): the instance's (scope 0) and
  // each user's, token counts and the two sets of weights as packed arrays (sqlite/spam.ts); and each
  // user's choice of where junk goes. A user's model and choice go with the user.
  `
  CREATE TABLE spam_models (
    scope          INTEGER PRIMARY KEY,         -- 0 = the instance, else users.id
    spam_messages  INTEGER NOT NULL,
    ham_messages   INTEGER NOT NULL,
    tokens         BLOB NOT NULL,               -- 14 octets a feature, column after column: hashes, spam, ham (u32 LE), seen days (u16 LE)
    weights        BLOB NOT NULL,               -- the token weights, 8 octets a non-zero one: indices (u32 LE), then values (f32 LE)
    grams          BLOB NOT NULL,               -- the 4-gram weights, the same way
    version        INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE spam_users (
    user_id         INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    junk            TEXT NOT NULL CHECK (junk IN ('folder', 'inbox', 'digest')),
    digest_sent_at  INTEGER NOT NULL DEFAULT 0
  ) STRICT;

  CREATE TRIGGER spam_models_of_removed_user AFTER DELETE ON users
  BEGIN
    DELETE FROM spam_models WHERE scope = old.id;
  END;
  `,
  // v9: the spam model lost its logistic regression over the tokens (src/filter/spam/model.ts:
  // the counts and the 4-grams alone separate better); its weights go. The 4-gram weights
  // stay: their features are the same 4-grams, now read from more of the message. The
  // version moves so that a running `serve` loads the model again.
  `
  ALTER TABLE spam_models DROP COLUMN weights;
  UPDATE spam_models SET version = version + 1;
  `,
];
