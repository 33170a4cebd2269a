-- sharesvc schema on PostgreSQL: the same ordered migration steps as
-- schema.sql, step for step (same numbers, same descriptions, same tables,
-- columns, indexes and rules; a test checks this against SQLite). Add a step
-- to both files at once; never edit a step that has shipped.
--
-- The translation:
--   INTEGER (times in ms or µs, counts, 0/1 flags)  BIGINT, as SQLite's INTEGER is 64-bit
--   BLOB (hashes, sealed codes)                     bytea
--   TEXT                                            text; COLLATE "C" where order matters:
--       links.object_key (key_prefix filters scan a byte range of it) and links.id
--       (the list cursor compares it), so that both order like SQLite's BINARY
--       whatever the cluster's locale
--   triggers with RAISE(ABORT, …)                   PL/pgSQL functions raising the same
--       messages (SQLSTATE P0001); PostgreSQL's trigger WHEN cannot hold a
--       subquery, so the prune gate's conditions move into the functions, and
--       TRUNCATE, which row triggers do not see, is refused too

-- migration: 1 links, tokens and the audit log
CREATE TABLE links (
    id             text COLLATE "C" PRIMARY KEY,  -- public, non-secret id ("lnk_…")
    code_hash      bytea  NOT NULL UNIQUE,        -- SHA-256 of the secret code; the code itself is never stored
    kind           text   NOT NULL,               -- 'download' or 'upload'
    bucket         text   NOT NULL,               -- S3 bucket
    object_key     text COLLATE "C" NOT NULL,     -- S3 object key (exact bytes, UTF-8)
    created_at     BIGINT NOT NULL,               -- UTC Unix ms
    created_by     text   NOT NULL,               -- token name of the creator
    not_before     BIGINT,                        -- UTC Unix ms; NULL means valid from creation
    expires_at     BIGINT NOT NULL,               -- UTC Unix ms; the link answers 410 from then on
    max_uses       BIGINT,                        -- NULL means unlimited
    uses           BIGINT NOT NULL DEFAULT 0,     -- URLs minted so far, counted atomically
    presign_ttl_ms BIGINT NOT NULL,               -- lifetime of each minted URL, ms
    note           text   NOT NULL DEFAULT '',    -- free text from the creator
    filename       text   NOT NULL DEFAULT '',    -- download name served as Content-Disposition; '' for none
    last_access_at BIGINT,                        -- UTC Unix ms of the last minted URL
    revoked_at     BIGINT,                        -- UTC Unix ms; NULL while not revoked
    revoked_by     text,                          -- token name of the revoker
    revoke_reason  text                           -- why, as given by the revoker
);
CREATE INDEX links_created_by ON links (created_by, created_at);
CREATE INDEX links_created_at ON links (created_at);

CREATE TABLE api_tokens (
    id           text   PRIMARY KEY,              -- public id ("tok_…")
    name         text   NOT NULL UNIQUE,          -- who holds it; recorded as the actor in the audit log
    role         text   NOT NULL,                 -- 'admin', 'sharer' or 'auditor'
    token_hash   bytea  NOT NULL UNIQUE,          -- SHA-256 of the secret token
    created_at   BIGINT NOT NULL,                 -- UTC Unix ms
    created_by   text   NOT NULL,                 -- token name of the creator, or 'cli' for the offline bootstrap
    expires_at   BIGINT,                          -- UTC Unix ms; NULL never expires
    revoked_at   BIGINT,                          -- UTC Unix ms; NULL while valid
    last_used_at BIGINT                           -- UTC Unix ms, updated at most once a minute
);

-- The audit log is append-only: every row commits to the previous one through
-- hash = SHA-256(domain || prev_hash || canonical encoding of the row), see
-- internal/audit. Updates and deletes are refused by the triggers below.
CREATE TABLE audit_events (
    seq            BIGINT PRIMARY KEY,            -- 1, 2, 3… without gaps (written by internal/audit, never generated)
    at             BIGINT NOT NULL,               -- UTC Unix microseconds, when the row was written
    action         text   NOT NULL,               -- 'link.access', 'link.create', 'link.revoke', 'token.create', …
    actor          text   NOT NULL,               -- token name, or 'client' for public requests
    link_id        text   NOT NULL DEFAULT '',    -- public link id, '' when none
    outcome        text   NOT NULL,               -- 'minted', 'denied', 'ok', 'error', 'nothing_minted'
    reason         text   NOT NULL DEFAULT '',    -- 'revoked', 'expired', 'used_up', 'not_found', 'head', …
    client_ip      text   NOT NULL DEFAULT '',    -- client address as configured by the privacy mode
    user_agent     text   NOT NULL DEFAULT '',    -- truncated to 512 bytes
    request_id     text   NOT NULL DEFAULT '',    -- also sent to the client in X-Request-Id
    url_expires_at BIGINT,                        -- UTC Unix ms; for mints, when the URL stops working
    sts_session    text   NOT NULL DEFAULT '',    -- for mints, the STS RoleSessionName that signed the URL
    detail         text   NOT NULL DEFAULT '',    -- JSON object with action-specific facts; never a secret
    prev_hash      bytea  NOT NULL,               -- hash of row seq-1 (32 zero bytes for the first row)
    hash           bytea  NOT NULL                -- SHA-256 chain value of this row
);
CREATE INDEX audit_events_link ON audit_events (link_id, seq);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- migration: 2 upload links, settings and the kill switch
ALTER TABLE links ADD COLUMN max_bytes BIGINT;                      -- upload links: size cap in bytes, enforced by S3 through a signed Content-Length; NULL for none
ALTER TABLE links ADD COLUMN content_type text NOT NULL DEFAULT ''; -- upload links: Content-Type the upload must carry (signed); '' for any
ALTER TABLE links ADD COLUMN key_is_prefix BIGINT NOT NULL DEFAULT 0; -- upload links: 1 when object_key is a prefix and each upload gets a generated name
CREATE INDEX links_bucket_key ON links (bucket, object_key);

-- Service-wide switches. The kill switch is the row name = 'killswitch':
-- while it exists no link mints, checked inside the same transaction as
-- every use, so it bites on the next request on every instance.
CREATE TABLE settings (
    name       text   PRIMARY KEY,   -- e.g. 'killswitch'
    value      text   NOT NULL,      -- JSON or text; for the kill switch, the reason
    updated_at BIGINT NOT NULL,      -- UTC Unix ms
    updated_by text   NOT NULL       -- token name
);

-- migration: 3 audit filters, retention and the prune gate
-- Indexes for the auditors' filters (GET /api/v1/audit), newest first.
CREATE INDEX audit_events_actor   ON audit_events (actor, seq);
CREATE INDEX audit_events_outcome ON audit_events (outcome, seq);
CREATE INDEX audit_events_client  ON audit_events (client_ip, seq);
CREATE INDEX audit_events_at      ON audit_events (at);
CREATE INDEX audit_events_request ON audit_events (request_id); -- match an X-Request-Id to its row

-- Retention: old rows may leave the log only inside the transaction that
-- appends the audited 'audit.prune' event (internal/audit/prune.go). That
-- transaction opens the gate with one row, deletes rows up to through_seq and
-- closes it again; outside it the table is empty and the triggers refuse
-- every delete. The newest row can never be pruned, so the chain keeps a head.
CREATE TABLE audit_prune_gate (
    through_seq BIGINT NOT NULL  -- rows with seq <= through_seq may be deleted while this row exists
);
CREATE FUNCTION audit_prune_gate_bound() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.through_seq >= (SELECT COALESCE(MAX(seq), 0) FROM audit_events) THEN
        RAISE EXCEPTION 'audit prune must keep the newest row';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_prune_gate_bound BEFORE INSERT ON audit_prune_gate
    FOR EACH ROW EXECUTE FUNCTION audit_prune_gate_bound();
DROP TRIGGER audit_events_no_delete ON audit_events;
CREATE FUNCTION audit_events_prune_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq > (SELECT COALESCE(MAX(through_seq), 0) FROM audit_prune_gate) THEN
        RAISE EXCEPTION 'audit_events is append-only';
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_prune_only();

-- migration: 4 sharing by email: recipients, confirmation pages, deliveries
-- A share sent by email is one link per recipient under one share id, so
-- that each recipient has a code of their own (audited, counted and revoked
-- alone) and the share can still be revoked at once.
ALTER TABLE links ADD COLUMN share_id text;                          -- 'shr_…' for a recipient's link of a share sent by email; NULL for plain links
ALTER TABLE links ADD COLUMN recipient text NOT NULL DEFAULT '';     -- normalised e-mail address of that recipient; '' for plain links
ALTER TABLE links ADD COLUMN confirm BIGINT NOT NULL DEFAULT 0;      -- 1: a browser GET gets a confirmation page and only its POST mints
ALTER TABLE links ADD COLUMN direct BIGINT NOT NULL DEFAULT 1;       -- 1: clients that do not ask for text/html are redirected without confirming
ALTER TABLE links ADD COLUMN notify text NOT NULL DEFAULT '';        -- sharer's address told about the first open; '' for none
ALTER TABLE links ADD COLUMN notify_mode text NOT NULL DEFAULT '';   -- 'first' (one message per first open) or 'digest'; '' when notify is ''
ALTER TABLE links ADD COLUMN first_open_at BIGINT;                   -- UTC Unix ms of the first minted URL; set once, never cleared
CREATE INDEX links_share ON links (share_id);

-- Outgoing mail, one row per message to send (a digest sends several rows
-- of one share as one message). A share message needs the recipient's code
-- until it is sent: it is kept here only sealed with AES-256-GCM under the
-- mail key (which the database never holds) and erased once the message is
-- sent or has finally failed.
CREATE TABLE deliveries (
    id              text   PRIMARY KEY,           -- public id ("dlv_…")
    link_id         text   NOT NULL DEFAULT '',   -- 'share': the recipient's link; 'notify': the link that was opened
    share_id        text   NOT NULL DEFAULT '',   -- the share the message belongs to
    recipient       text   NOT NULL,              -- normalised address the message goes to
    kind            text   NOT NULL,              -- 'share' (the link to a recipient) or 'notify' (a first open, to the sharer)
    mode            text   NOT NULL DEFAULT '',   -- 'notify' rows: 'first' or 'digest'; '' for 'share'
    state           text   NOT NULL,              -- 'queued', 'sending', 'sent' or 'failed'
    attempts        BIGINT NOT NULL DEFAULT 0,    -- SMTP transactions tried so far
    next_attempt_at BIGINT NOT NULL,              -- UTC Unix ms; queued: when to try; sending: when the attempt is presumed lost
    last_error      text   NOT NULL DEFAULT '',   -- the SMTP server's answer (or the connection error) of the last failed attempt
    sealed_code     bytea,                        -- 'share' rows: nonce || AES-256-GCM(code); NULL once sent or failed, and for 'notify'
    payload         text   NOT NULL DEFAULT '',   -- JSON template data (names, note, times); never a secret
    message_id      text   NOT NULL,              -- Message-ID header, the same on every attempt
    created_at      BIGINT NOT NULL,              -- UTC Unix ms
    sent_at         BIGINT                        -- UTC Unix ms when the server accepted it; NULL until then
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_share ON deliveries (share_id, created_at);

-- migration: 5 the actor and outcome filters index only their rare values
-- See schema.sql: public accesses that minted are the bulk of the log and
-- gain nothing from these indexes; internal/audit's filters add the matching
-- "actor <> 'client'" / "outcome <> 'minted'" term, which PostgreSQL also
-- needs to use a partial index.
DROP INDEX audit_events_actor;
DROP INDEX audit_events_outcome;
CREATE INDEX audit_events_actor   ON audit_events (actor, seq)   WHERE actor <> 'client';
CREATE INDEX audit_events_outcome ON audit_events (outcome, seq) WHERE outcome <> 'minted';

-- migration: 6 console sign-ins live in the database
-- The session id itself lives only in the browser's cookie; rows are keyed
-- by its SHA-256.
CREATE TABLE console_sessions (
    id_hash    bytea  PRIMARY KEY,  -- SHA-256 of the session id
    token_id   text   NOT NULL,     -- the API token signed in with (re-read on every request)
    csrf       text   NOT NULL,     -- the session's form token
    expires_at BIGINT NOT NULL      -- UTC Unix ms
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- migration: 7 grants: who may share what
-- See schema.sql for what a grant is. Grants are revoked, never deleted.
CREATE TABLE grants (
    id                 text   PRIMARY KEY,        -- "grt_…"
    person             text,                      -- a token's name; NULL when role is set
    role               text,                      -- admin, sharer or auditor; NULL when person is set
    bucket             text   NOT NULL,
    key_prefix         text   NOT NULL DEFAULT '', -- '' is the whole bucket
    actions            text   NOT NULL,           -- comma-separated: download, upload, email
    max_lifetime_ms    BIGINT,                    -- ceiling on a link's lifetime; NULL: the server's
    max_uses           BIGINT,                    -- ceiling on a link's use cap; NULL: the server's
    max_presign_ttl_ms BIGINT,                    -- ceiling on each URL's lifetime; NULL: the server's
    recipient_domains  text   NOT NULL DEFAULT '', -- comma-separated mail domains for email shares; '' any
    created_at         BIGINT NOT NULL,           -- UTC Unix ms
    created_by         text   NOT NULL,
    reason             text   NOT NULL DEFAULT '',
    revoked_at         BIGINT,                    -- UTC Unix ms; NULL while in force
    revoked_by         text,
    revoke_reason      text,
    CHECK ((person IS NULL) <> (role IS NULL))
);
CREATE INDEX grants_person ON grants (person) WHERE revoked_at IS NULL;
CREATE INDEX grants_role ON grants (role) WHERE revoked_at IS NULL;
-- The grant a link was created under, and the key prefix it gave (with
-- {person} replaced). NULL for links made by admins and before grants.
ALTER TABLE links ADD COLUMN grant_id text;
ALTER TABLE links ADD COLUMN grant_prefix text;
CREATE INDEX links_grant ON links (grant_id) WHERE grant_id IS NOT NULL;

-- migration: 8 the audit log's recipient filter
CREATE INDEX links_recipient ON links (recipient) WHERE recipient <> '';

-- migration: 9 upload links as an inbox: arrivals
CREATE TABLE arrivals (
    id         text   PRIMARY KEY,           -- public id ("arr_…")
    link_id    text   NOT NULL,              -- the upload link it came through
    object_key text   NOT NULL,              -- the key the upload was signed for
    filename   text   NOT NULL DEFAULT '',   -- the uploader's file name, cleaned; '' unknown
    bytes      BIGINT NOT NULL,              -- size in bytes announced at the presign and checked by the HEAD
    client_ip  text   NOT NULL DEFAULT '',   -- uploader's address under the audit log's privacy mode
    state      text   NOT NULL,              -- 'pending' (URL minted) or 'arrived' (object seen)
    created_at BIGINT NOT NULL,              -- UTC Unix ms of the presign
    arrived_at BIGINT                        -- UTC Unix ms of the confirmed arrival; NULL while pending
);
CREATE INDEX arrivals_link ON arrivals (link_id, created_at);

-- migration: 10 people's names and addresses, recipient verification
-- See schema.sql.
ALTER TABLE api_tokens ADD COLUMN display_name text NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN email text NOT NULL DEFAULT '';
ALTER TABLE links ADD COLUMN verify_recipient BIGINT NOT NULL DEFAULT 0;
CREATE TABLE recipient_codes (
    link_id    text   PRIMARY KEY,
    code_hash  bytea  NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    sent_at    BIGINT NOT NULL,
    window_at  BIGINT NOT NULL,
    sends      BIGINT NOT NULL DEFAULT 1,
    locked_at  BIGINT
);
CREATE TABLE recipient_verifications (
    id_hash    bytea  PRIMARY KEY,
    link_id    text   NOT NULL,
    expires_at BIGINT NOT NULL
);

-- migration: 11 the size of a download link's object
-- See schema.sql.
ALTER TABLE links ADD COLUMN object_bytes BIGINT;

-- migration: 12 grants by group
-- See schema.sql. PostgreSQL changes the CHECK in place.
ALTER TABLE grants ADD COLUMN group_name text;
ALTER TABLE grants DROP CONSTRAINT grants_check;
ALTER TABLE grants ADD CONSTRAINT grants_one_subject CHECK ((CASE WHEN person IS NULL THEN 0 ELSE 1 END) + (CASE WHEN role IS NULL THEN 0 ELSE 1 END)
    + (CASE WHEN group_name IS NULL THEN 0 ELSE 1 END) = 1);
CREATE INDEX grants_group ON grants (group_name) WHERE revoked_at IS NULL;

-- migration: 13 people from the organisation's identity provider
-- See schema.sql.
CREATE TABLE people (
    id            text   PRIMARY KEY,
    issuer        text   NOT NULL,
    subject       text   NOT NULL,
    name          text   NOT NULL UNIQUE,
    email         text   NOT NULL DEFAULT '',
    display_name  text   NOT NULL DEFAULT '',
    groups        text   NOT NULL DEFAULT '[]',
    role          text   NOT NULL,
    role_override text,
    created_at    BIGINT NOT NULL,
    seen_at       BIGINT NOT NULL,
    disabled_at   BIGINT,
    UNIQUE (issuer, subject)
);
CREATE TABLE oidc_logins (
    state_hash    bytea  PRIMARY KEY,
    nonce         text   NOT NULL,
    pkce_verifier text   NOT NULL,
    return_to     text   NOT NULL DEFAULT '',
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);
ALTER TABLE console_sessions ADD COLUMN person_id text;
ALTER TABLE console_sessions ADD COLUMN checked_at BIGINT;
ALTER TABLE console_sessions ADD COLUMN refresh_token text;
ALTER TABLE api_tokens ADD COLUMN owner text;
CREATE INDEX api_tokens_owner ON api_tokens (owner) WHERE owner IS NOT NULL;
