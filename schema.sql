-- sharesvc schema: the single source of the database layout.
--
-- The file is a list of ordered migration steps. Each step starts with a line
-- "-- migration: N description" and runs in one transaction; the steps applied
-- are recorded in schema_migrations. Never edit a step that has shipped: add a
-- new one. Times are INTEGER UTC Unix milliseconds unless a column says
-- otherwise. SQL is kept portable (no SQLite-only types) so that a PostgreSQL
-- store can follow; the audit triggers are the SQLite-specific part.

-- migration: 1 links, tokens and the audit log
CREATE TABLE links (
    id             TEXT    PRIMARY KEY,          -- public, non-secret id ("lnk_…")
    code_hash      BLOB    NOT NULL UNIQUE,      -- SHA-256 of the secret code; the code itself is never stored
    kind           TEXT    NOT NULL,             -- 'download' or 'upload'
    bucket         TEXT    NOT NULL,             -- S3 bucket
    object_key     TEXT    NOT NULL,             -- S3 object key (exact bytes, UTF-8)
    created_at     INTEGER NOT NULL,             -- UTC Unix ms
    created_by     TEXT    NOT NULL,             -- token name of the creator
    not_before     INTEGER,                      -- UTC Unix ms; NULL means valid from creation
    expires_at     INTEGER NOT NULL,             -- UTC Unix ms; the link answers 410 from then on
    max_uses       INTEGER,                      -- NULL means unlimited
    uses           INTEGER NOT NULL DEFAULT 0,   -- URLs minted so far, counted atomically
    presign_ttl_ms INTEGER NOT NULL,             -- lifetime of each minted URL, ms
    note           TEXT    NOT NULL DEFAULT '',  -- free text from the creator
    filename       TEXT    NOT NULL DEFAULT '',  -- download name served as Content-Disposition; '' for none
    last_access_at INTEGER,                      -- UTC Unix ms of the last minted URL
    revoked_at     INTEGER,                      -- UTC Unix ms; NULL while not revoked
    revoked_by     TEXT,                         -- token name of the revoker
    revoke_reason  TEXT                          -- why, as given by the revoker
);
CREATE INDEX links_created_by ON links (created_by, created_at);
CREATE INDEX links_created_at ON links (created_at);

CREATE TABLE api_tokens (
    id           TEXT    PRIMARY KEY,            -- public id ("tok_…")
    name         TEXT    NOT NULL UNIQUE,        -- who holds it; recorded as the actor in the audit log
    role         TEXT    NOT NULL,               -- 'admin', 'sharer' or 'auditor'
    token_hash   BLOB    NOT NULL UNIQUE,        -- SHA-256 of the secret token
    created_at   INTEGER NOT NULL,               -- UTC Unix ms
    created_by   TEXT    NOT NULL,               -- token name of the creator, or 'cli' for the offline bootstrap
    expires_at   INTEGER,                        -- UTC Unix ms; NULL never expires
    revoked_at   INTEGER,                        -- UTC Unix ms; NULL while valid
    last_used_at INTEGER                         -- UTC Unix ms, updated at most once a minute
);

-- The audit log is append-only: every row commits to the previous one through
-- hash = SHA-256(domain || prev_hash || canonical encoding of the row), see
-- internal/audit. Updates and deletes are refused by the triggers below.
CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY,          -- 1, 2, 3… without gaps
    at             INTEGER NOT NULL,             -- UTC Unix microseconds, when the row was written
    action         TEXT    NOT NULL,             -- 'link.access', 'link.create', 'link.revoke', 'token.create', …
    actor          TEXT    NOT NULL,             -- token name, or 'client' for public requests
    link_id        TEXT    NOT NULL DEFAULT '',  -- public link id, '' when none
    outcome        TEXT    NOT NULL,             -- 'minted', 'denied', 'ok', 'error', 'nothing_minted'
    reason         TEXT    NOT NULL DEFAULT '',  -- 'revoked', 'expired', 'used_up', 'not_found', 'head', …
    client_ip      TEXT    NOT NULL DEFAULT '',  -- client address as configured by the privacy mode
    user_agent     TEXT    NOT NULL DEFAULT '',  -- truncated to 512 bytes
    request_id     TEXT    NOT NULL DEFAULT '',  -- also sent to the client in X-Request-Id
    url_expires_at INTEGER,                      -- UTC Unix ms; for mints, when the URL stops working
    sts_session    TEXT    NOT NULL DEFAULT '',  -- for mints, the STS RoleSessionName that signed the URL
    detail         TEXT    NOT NULL DEFAULT '',  -- JSON object with action-specific facts; never a secret
    prev_hash      BLOB    NOT NULL,             -- hash of row seq-1 (32 zero bytes for the first row)
    hash           BLOB    NOT NULL              -- SHA-256 chain value of this row
);
CREATE INDEX audit_events_link ON audit_events (link_id, seq);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- migration: 2 upload links, settings and the kill switch
ALTER TABLE links ADD COLUMN max_bytes INTEGER;                      -- upload links: size cap in bytes, enforced by S3 through a signed Content-Length; NULL for none
ALTER TABLE links ADD COLUMN content_type TEXT NOT NULL DEFAULT '';  -- upload links: Content-Type the upload must carry (signed); '' for any
ALTER TABLE links ADD COLUMN key_is_prefix INTEGER NOT NULL DEFAULT 0; -- upload links: 1 when object_key is a prefix and each upload gets a generated name
CREATE INDEX links_bucket_key ON links (bucket, object_key);

-- Service-wide switches. The kill switch is the row name = 'killswitch':
-- while it exists no link mints, checked inside the same transaction as
-- every use, so it bites on the next request on every instance.
CREATE TABLE settings (
    name       TEXT    PRIMARY KEY,   -- e.g. 'killswitch'
    value      TEXT    NOT NULL,      -- JSON or text; for the kill switch, the reason
    updated_at INTEGER NOT NULL,      -- UTC Unix ms
    updated_by TEXT    NOT NULL       -- token name
);
