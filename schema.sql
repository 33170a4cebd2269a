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
    through_seq INTEGER NOT NULL  -- rows with seq <= through_seq may be deleted while this row exists
);
CREATE TRIGGER audit_prune_gate_bound BEFORE INSERT ON audit_prune_gate
WHEN NEW.through_seq >= (SELECT COALESCE(MAX(seq), 0) FROM audit_events)
BEGIN
    SELECT RAISE(ABORT, 'audit prune must keep the newest row');
END;
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > (SELECT COALESCE(MAX(through_seq), 0) FROM audit_prune_gate)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

-- migration: 4 sharing by email: recipients, confirmation pages, deliveries
-- A share sent by email is one link per recipient under one share id, so
-- that each recipient has a code of their own (audited, counted and revoked
-- alone) and the share can still be revoked at once.
ALTER TABLE links ADD COLUMN share_id TEXT;                          -- 'shr_…' for a recipient's link of a share sent by email; NULL for plain links
ALTER TABLE links ADD COLUMN recipient TEXT NOT NULL DEFAULT '';     -- normalised e-mail address of that recipient; '' for plain links
ALTER TABLE links ADD COLUMN confirm INTEGER NOT NULL DEFAULT 0;     -- 1: a browser GET gets a confirmation page and only its POST mints
ALTER TABLE links ADD COLUMN direct INTEGER NOT NULL DEFAULT 1;      -- 1: clients that do not ask for text/html are redirected without confirming
ALTER TABLE links ADD COLUMN notify TEXT NOT NULL DEFAULT '';        -- sharer's address told about the first open; '' for none
ALTER TABLE links ADD COLUMN notify_mode TEXT NOT NULL DEFAULT '';   -- 'first' (one message per first open) or 'digest'; '' when notify is ''
ALTER TABLE links ADD COLUMN first_open_at INTEGER;                  -- UTC Unix ms of the first minted URL; set once, never cleared
CREATE INDEX links_share ON links (share_id);

-- Outgoing mail, one row per message to send (a digest sends several rows
-- of one share as one message). A share message needs the recipient's code
-- until it is sent: it is kept here only sealed with AES-256-GCM under the
-- mail key (which the database never holds) and erased once the message is
-- sent or has finally failed.
CREATE TABLE deliveries (
    id              TEXT    PRIMARY KEY,          -- public id ("dlv_…")
    link_id         TEXT    NOT NULL DEFAULT '',  -- 'share': the recipient's link; 'notify': the link that was opened
    share_id        TEXT    NOT NULL DEFAULT '',  -- the share the message belongs to
    recipient       TEXT    NOT NULL,             -- normalised address the message goes to
    kind            TEXT    NOT NULL,             -- 'share' (the link to a recipient) or 'notify' (a first open, to the sharer)
    mode            TEXT    NOT NULL DEFAULT '',  -- 'notify' rows: 'first' or 'digest'; '' for 'share'
    state           TEXT    NOT NULL,             -- 'queued', 'sending', 'sent' or 'failed'
    attempts        INTEGER NOT NULL DEFAULT 0,   -- SMTP transactions tried so far
    next_attempt_at INTEGER NOT NULL,             -- UTC Unix ms; queued: when to try; sending: when the attempt is presumed lost
    last_error      TEXT    NOT NULL DEFAULT '',  -- the SMTP server's answer (or the connection error) of the last failed attempt
    sealed_code     BLOB,                         -- 'share' rows: nonce || AES-256-GCM(code); NULL once sent or failed, and for 'notify'
    payload         TEXT    NOT NULL DEFAULT '',  -- JSON template data (names, note, times); never a secret
    message_id      TEXT    NOT NULL,             -- Message-ID header, the same on every attempt
    created_at      INTEGER NOT NULL,             -- UTC Unix ms
    sent_at         INTEGER                       -- UTC Unix ms when the server accepted it; NULL until then
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_share ON deliveries (share_id, created_at);

-- migration: 5 the actor and outcome filters index only their rare values
-- Nearly every row is a public access (actor 'client') that minted a URL
-- (outcome 'minted'). Indexing those two values cost every access two more
-- B-tree inserts in the commit that the redirect waits for, and bought
-- nothing: newest first, a scan of the table meets such rows at once. The
-- indexes now keep only the other values; internal/audit's filters add the
-- matching "actor <> 'client'" / "outcome <> 'minted'" term so that SQLite
-- can use them. On a large log this step takes a while (one table scan).
DROP INDEX audit_events_actor;
DROP INDEX audit_events_outcome;
CREATE INDEX audit_events_actor   ON audit_events (actor, seq)   WHERE actor <> 'client';
CREATE INDEX audit_events_outcome ON audit_events (outcome, seq) WHERE outcome <> 'minted';

-- migration: 6 console sign-ins live in the database
-- They were held in memory: a restart signed everyone out, and a second
-- instance behind the same address knew nobody. The session id itself
-- lives only in the browser's cookie; rows are keyed by its SHA-256.
CREATE TABLE console_sessions (
    id_hash    BLOB    PRIMARY KEY,  -- SHA-256 of the session id
    token_id   TEXT    NOT NULL,     -- the API token signed in with (re-read on every request)
    csrf       TEXT    NOT NULL,     -- the session's form token
    expires_at INTEGER NOT NULL      -- UTC Unix ms
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- migration: 7 grants: who may share what
-- A grant lets a person (a token's name) or every holder of a role create
-- links to objects of one bucket under one key prefix, for the actions it
-- names, within its ceilings. Sharers create links only inside a grant;
-- admins keep their reach. Grants are revoked, never deleted, so the audit
-- log's references stay meaningful. key_prefix may contain "{person}",
-- replaced by the creating person's name ("home/{person}/").
CREATE TABLE grants (
    id                TEXT    PRIMARY KEY,        -- "grt_…"
    person            TEXT,                       -- a token's name; NULL when role is set
    role              TEXT,                       -- admin, sharer or auditor; NULL when person is set
    bucket            TEXT    NOT NULL,
    key_prefix        TEXT    NOT NULL DEFAULT '', -- '' is the whole bucket
    actions           TEXT    NOT NULL,           -- comma-separated: download, upload, email
    max_lifetime_ms   INTEGER,                    -- ceiling on a link's lifetime; NULL: the server's
    max_uses          INTEGER,                    -- ceiling on a link's use cap; NULL: the server's
    max_presign_ttl_ms INTEGER,                   -- ceiling on each URL's lifetime; NULL: the server's
    recipient_domains TEXT    NOT NULL DEFAULT '', -- comma-separated mail domains for email shares; '' any
    created_at        INTEGER NOT NULL,           -- UTC Unix ms
    created_by        TEXT    NOT NULL,
    reason            TEXT    NOT NULL DEFAULT '',
    revoked_at        INTEGER,                    -- UTC Unix ms; NULL while in force
    revoked_by        TEXT,
    revoke_reason     TEXT,
    CHECK ((person IS NULL) <> (role IS NULL))
);
CREATE INDEX grants_person ON grants (person) WHERE revoked_at IS NULL;
CREATE INDEX grants_role ON grants (role) WHERE revoked_at IS NULL;
-- The grant a link was created under, and the key prefix it gave (with
-- {person} replaced): the open path signs with that grant's scoped STS
-- session. NULL for links made by admins and before grants, which are
-- signed with the role's own session.
ALTER TABLE links ADD COLUMN grant_id TEXT;
ALTER TABLE links ADD COLUMN grant_prefix TEXT;
CREATE INDEX links_grant ON links (grant_id) WHERE grant_id IS NOT NULL;

-- migration: 8 the audit log's recipient filter
-- GET /api/v1/audit?recipient= selects the rows of the links sent to one
-- address (links.recipient). Plain links ('') stay out of the index;
-- internal/audit's filter repeats "recipient <> ''" so that SQLite uses it.
CREATE INDEX links_recipient ON links (recipient) WHERE recipient <> '';

-- migration: 9 upload links as an inbox: arrivals
-- One row per upload an upload link let through. The presign records it
-- 'pending' with the name the uploader's file had; the upload page's
-- POST /u/{code}/done, after the PUT succeeded, makes it 'arrived' once a
-- HEAD of the object (signed with the link's own session) shows it there
-- with the size announced. The sharer lists them (GET
-- /api/v1/links/{id}/arrivals): the generated key is otherwise only in the
-- audit log, which sharers cannot read.
CREATE TABLE arrivals (
    id         TEXT    PRIMARY KEY,          -- public id ("arr_…")
    link_id    TEXT    NOT NULL,             -- the upload link it came through
    object_key TEXT    NOT NULL,             -- the key the upload was signed for
    filename   TEXT    NOT NULL DEFAULT '',  -- the uploader's file name, cleaned (no path, no control characters, ≤ 255 bytes); '' unknown
    bytes      INTEGER NOT NULL,             -- size in bytes announced at the presign and checked by the HEAD
    client_ip  TEXT    NOT NULL DEFAULT '',  -- uploader's address under the audit log's privacy mode
    state      TEXT    NOT NULL,             -- 'pending' (URL minted) or 'arrived' (object seen)
    created_at INTEGER NOT NULL,             -- UTC Unix ms of the presign
    arrived_at INTEGER                       -- UTC Unix ms of the confirmed arrival; NULL while pending
);
CREATE INDEX arrivals_link ON arrivals (link_id, created_at);

-- migration: 10 people's names and addresses, recipient verification
-- A person is a token's name (the actor of the audit log); their display
-- name and address, used in the mail sent on their behalf, live on the same
-- row: one token per person, and rotation keeps the row.
ALTER TABLE api_tokens ADD COLUMN display_name TEXT NOT NULL DEFAULT ''; -- shown in mail ("Alice Example via sharesvc"); '' for the name
ALTER TABLE api_tokens ADD COLUMN email TEXT NOT NULL DEFAULT '';        -- the person's address, Reply-To of their shares; '' for none
-- A share link with verify_recipient set mints only in a browser that has
-- proved it reads the recipient's mail: a one-time code is sent there.
ALTER TABLE links ADD COLUMN verify_recipient INTEGER NOT NULL DEFAULT 0; -- 1: mint only after the recipient entered a mailed code
CREATE TABLE recipient_codes (
    link_id    TEXT    PRIMARY KEY,  -- the recipient's link; one pending code at a time
    code_hash  BLOB    NOT NULL,     -- HMAC-SHA256 of link id || 0 || code under a key derived from the mail key (plain SHA-256 in older rows: they no longer verify); the code is only mailed, sealed
    expires_at INTEGER NOT NULL,     -- UTC Unix ms
    attempts   INTEGER NOT NULL DEFAULT 0, -- wrong entries of this code so far
    sent_at    INTEGER NOT NULL,     -- UTC Unix ms of the last send (rate limit)
    window_at  INTEGER NOT NULL,     -- UTC Unix ms when the current send-count window began
    sends      INTEGER NOT NULL DEFAULT 1, -- codes sent since window_at
    locked_at  INTEGER               -- UTC Unix ms when too many wrong entries locked the link's verification; NULL while open
);
CREATE TABLE recipient_verifications (
    id_hash    BLOB    PRIMARY KEY,  -- SHA-256 of the random id in the browser's cookie
    link_id    TEXT    NOT NULL,     -- the link (and so the recipient) it vouches for
    expires_at INTEGER NOT NULL      -- UTC Unix ms
);

-- migration: 11 the size of a download link's object
-- The HEAD made when a download link is created sees the object's size; it
-- is kept so that the recipient's confirmation page can say how large the
-- file is before they fetch it. NULL for upload links and older links.
ALTER TABLE links ADD COLUMN object_bytes INTEGER;

-- migration: 12 grants by group
-- A grant may name a group of the organisation's identity provider instead
-- of a person or a role: it applies to everyone the provider puts in that
-- group. SQLite cannot change a CHECK, so the table is rebuilt with exactly
-- one of person, role and group_name set.
CREATE TABLE grants_new (
    id                TEXT    PRIMARY KEY,
    person            TEXT,                       -- a person's name; NULL when role or group_name is set
    role              TEXT,                       -- admin, sharer or auditor; NULL when person or group_name is set
    bucket            TEXT    NOT NULL,
    key_prefix        TEXT    NOT NULL DEFAULT '',
    actions           TEXT    NOT NULL,
    max_lifetime_ms   INTEGER,
    max_uses          INTEGER,
    max_presign_ttl_ms INTEGER,
    recipient_domains TEXT    NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    created_by        TEXT    NOT NULL,
    reason            TEXT    NOT NULL DEFAULT '',
    revoked_at        INTEGER,
    revoked_by        TEXT,
    revoke_reason     TEXT,
    group_name        TEXT,                       -- a provider group; NULL when person or role is set (last: where PostgreSQL's ALTER puts it)
    CHECK ((CASE WHEN person IS NULL THEN 0 ELSE 1 END) + (CASE WHEN role IS NULL THEN 0 ELSE 1 END)
         + (CASE WHEN group_name IS NULL THEN 0 ELSE 1 END) = 1)
);
INSERT INTO grants_new (id, person, role, bucket, key_prefix, actions, max_lifetime_ms, max_uses, max_presign_ttl_ms,
        recipient_domains, created_at, created_by, reason, revoked_at, revoked_by, revoke_reason)
    SELECT id, person, role, bucket, key_prefix, actions, max_lifetime_ms, max_uses, max_presign_ttl_ms,
        recipient_domains, created_at, created_by, reason, revoked_at, revoked_by, revoke_reason FROM grants;
DROP TABLE grants;
ALTER TABLE grants_new RENAME TO grants;
CREATE INDEX grants_person ON grants (person) WHERE revoked_at IS NULL;
CREATE INDEX grants_role ON grants (role) WHERE revoked_at IS NULL;
CREATE INDEX grants_group ON grants (group_name) WHERE revoked_at IS NULL;

-- migration: 13 people from the organisation's identity provider
-- Someone who signs in through OpenID Connect is a person keyed by the
-- provider's issuer and subject. Their name in sharesvc (the audit log's
-- actor, the owner of their links, a grant's person) is chosen at the first
-- sign-in and never changes; email, display name and groups are refreshed
-- at each sign-in and session check, and the role follows the configured
-- group mappings unless an admin overrode it.
CREATE TABLE people (
    id            TEXT    PRIMARY KEY,          -- "psn_…"
    issuer        TEXT    NOT NULL,             -- the provider's issuer URL
    subject       TEXT    NOT NULL,             -- the provider's "sub"
    name          TEXT    NOT NULL UNIQUE,      -- sharesvc name: actor, links' owner, grants' person
    email         TEXT    NOT NULL DEFAULT '',  -- verified address from the provider; '' none
    display_name  TEXT    NOT NULL DEFAULT '',
    groups        TEXT    NOT NULL DEFAULT '[]', -- JSON array of the provider's groups at the last check
    role          TEXT    NOT NULL,             -- the role the group mappings gave at the last check
    role_override TEXT,                         -- the role an admin set; NULL: follow the groups
    created_at    INTEGER NOT NULL,             -- UTC Unix ms
    seen_at       INTEGER NOT NULL,             -- UTC Unix ms of the last sign-in or successful check
    disabled_at   INTEGER,                      -- UTC Unix ms: offboarded, or unknown to the provider; NULL while active
    UNIQUE (issuer, subject)
);
-- A sign-in under way: stored when the browser leaves for the provider and
-- deleted by the callback that consumes it, so each state is used once.
CREATE TABLE oidc_logins (
    state_hash    BLOB    PRIMARY KEY,          -- SHA-256 of the state (the state itself is in the browser's cookie)
    nonce         TEXT    NOT NULL,             -- expected in the ID token
    pkce_verifier TEXT    NOT NULL,             -- PKCE code verifier
    return_to     TEXT    NOT NULL DEFAULT '',  -- console path to return to
    expires_at    INTEGER NOT NULL              -- UTC Unix ms
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);
ALTER TABLE console_sessions ADD COLUMN person_id TEXT;       -- a provider sign-in's person; NULL for token sign-ins (token_id is '' otherwise)
ALTER TABLE console_sessions ADD COLUMN checked_at INTEGER;   -- UTC Unix ms of the last check of the person with the provider
ALTER TABLE console_sessions ADD COLUMN refresh_token TEXT;   -- the provider's refresh token for those checks, sealed; NULL none
-- Tokens people mint for their own scripts: owned by the person, acting
-- with the person's current role, revoked with them.
ALTER TABLE api_tokens ADD COLUMN owner TEXT;                 -- the person's name; NULL for tokens an admin or the CLI made
CREATE INDEX api_tokens_owner ON api_tokens (owner) WHERE owner IS NOT NULL;
