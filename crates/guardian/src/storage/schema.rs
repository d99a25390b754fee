//! The schema of the features' records, one migration each, in the order `storage::MIGRATIONS`
//! applies them. The text of a released migration never changes: a database written by an
//! earlier build is brought up to date by the ones it lacks. The features read and write these
//! tables through their own queries; storage owns only their creation.

/// Migration 2: the outbox, every message to deliver, its attempts and how it ended.
pub(super) const OUTBOX: &str = "
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    delivery_id     TEXT    NOT NULL UNIQUE,
    contact         TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    topic           TEXT    NOT NULL,
    alert_id        INTEGER,
    message         TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    gave_up_at      INTEGER
);
CREATE UNIQUE INDEX outbox_once ON outbox(contact, topic, alert_id) WHERE alert_id IS NOT NULL;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX outbox_by_alert ON outbox(alert_id);
";

/// Migration 5: incidents, their contracts, alerts, actions, tasks, checklist and the
/// append-only, hash-chained timeline; outbox rows may belong to an incident.
pub(super) const INCIDENTS: &str = "
CREATE TABLE incidents (
    id         INTEGER PRIMARY KEY,
    level      INTEGER NOT NULL CHECK (level BETWEEN 1 AND 3),
    title      TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    commander  TEXT,
    opened_by  TEXT    NOT NULL,
    opened_at  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    head_hash  TEXT
);
CREATE TABLE incident_contracts (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    contract    TEXT    NOT NULL,
    PRIMARY KEY (incident_id, contract)
);
CREATE TABLE incident_alerts (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    alert_id    INTEGER NOT NULL REFERENCES alerts(id),
    PRIMARY KEY (incident_id, alert_id)
);
CREATE TABLE incident_actions (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    action_id   INTEGER NOT NULL REFERENCES actions(id),
    PRIMARY KEY (incident_id, action_id)
);
CREATE TABLE incident_tasks (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    task        TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    done_by     TEXT,
    done_at     INTEGER,
    PRIMARY KEY (incident_id, task)
);
CREATE TABLE incident_checklist (
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    item        TEXT    NOT NULL,
    ticked_by   TEXT    NOT NULL,
    evidence    TEXT    NOT NULL,
    ticked_at   INTEGER NOT NULL,
    PRIMARY KEY (incident_id, item)
);
CREATE TABLE timeline (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE INDEX timeline_by_incident ON timeline(incident_id, id);
CREATE TRIGGER timeline_no_update BEFORE UPDATE ON timeline
BEGIN SELECT RAISE(ABORT, 'the incident timeline is append-only: record a correction as a new entry'); END;
CREATE TRIGGER timeline_no_delete BEFORE DELETE ON timeline
BEGIN SELECT RAISE(ABORT, 'the incident timeline is append-only: entries cannot be deleted'); END;
ALTER TABLE outbox ADD COLUMN incident_id INTEGER;
ALTER TABLE outbox ADD COLUMN incident_logged INTEGER NOT NULL DEFAULT 0;
";

/// Migration 5 on PostgreSQL, after the tables: the timeline's append-only rule, enforced by
/// the database as on SQLite (and against `TRUNCATE`, which SQLite does not have).
pub(super) const INCIDENTS_POSTGRES: &str = "
CREATE FUNCTION timeline_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'the incident timeline is append-only: record a correction as a new entry';
    END IF;
    RAISE EXCEPTION 'the incident timeline is append-only: entries cannot be deleted';
END $$;
CREATE TRIGGER timeline_no_update BEFORE UPDATE ON timeline
    FOR EACH ROW EXECUTE FUNCTION timeline_append_only();
CREATE TRIGGER timeline_no_delete BEFORE DELETE ON timeline
    FOR EACH ROW EXECUTE FUNCTION timeline_append_only();
CREATE TRIGGER timeline_no_truncate BEFORE TRUNCATE ON timeline
    FOR EACH STATEMENT EXECUTE FUNCTION timeline_append_only();
";

/// Migration 7: the bounty desk's tables. The triage columns (confirmed severity and impact,
/// duplicate, reward) stay empty until the team's side fills them.
pub(super) const BOUNTY_REPORTS: &str = "
CREATE TABLE bounty_reports (
    id                 INTEGER PRIMARY KEY,
    title              TEXT    NOT NULL,
    severity           TEXT    NOT NULL,
    impact             TEXT    NOT NULL,
    contracts          TEXT    NOT NULL,
    description        TEXT    NOT NULL,
    poc_age            BLOB,
    contact            TEXT    NOT NULL,
    payout_address     TEXT,
    token_sha256       TEXT    NOT NULL UNIQUE,
    status             TEXT    NOT NULL,
    submitted_at       INTEGER NOT NULL,
    confirmed_severity TEXT,
    confirmed_impact   TEXT,
    duplicate_of       INTEGER REFERENCES bounty_reports(id),
    reward_usd         INTEGER,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX bounty_reports_by_status ON bounty_reports(status);
CREATE TABLE bounty_events (
    id          INTEGER PRIMARY KEY,
    report_id   INTEGER NOT NULL REFERENCES bounty_reports(id),
    kind        TEXT    NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    author      TEXT    NOT NULL,
    message     TEXT,
    public      INTEGER NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX bounty_events_by_report ON bounty_events(report_id, id);
";

/// Migration 8: the team's API tokens.
pub(super) const BOUNTY_TOKENS: &str = "
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    token_hash TEXT    NOT NULL UNIQUE,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
";

/// Migration 9: what the triage records on a report (each transition's time, the close reason
/// and evidence, the payment, the incident it opened, the name the researcher agreed to be
/// credited by, and when its acknowledgement clock last raised `bounty-sla`).
pub(super) const BOUNTY_TRIAGE: &str = "
ALTER TABLE bounty_reports ADD COLUMN credit_as       TEXT;
ALTER TABLE bounty_reports ADD COLUMN acknowledged_at INTEGER;
ALTER TABLE bounty_reports ADD COLUMN confirmed_at    INTEGER;
ALTER TABLE bounty_reports ADD COLUMN fixed_at        INTEGER;
ALTER TABLE bounty_reports ADD COLUMN paid_at         INTEGER;
ALTER TABLE bounty_reports ADD COLUMN paid_tx         TEXT;
ALTER TABLE bounty_reports ADD COLUMN close_reason    TEXT;
ALTER TABLE bounty_reports ADD COLUMN close_evidence  TEXT;
ALTER TABLE bounty_reports ADD COLUMN incident_id     INTEGER REFERENCES incidents(id);
ALTER TABLE bounty_reports ADD COLUMN sla_alerted_at  INTEGER;
";

/// Migration 12: a team token's life: when it expires (unset: never), when it was last used,
/// and who revoked it.
pub(crate) const API_TOKEN_LIFE: &str = "
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN revoked_by TEXT;
";

/// Migration 13: each bounty report's public id, the only id its researcher sees (in the
/// answer to the submission, the URL of their report, the e-mails): random, so it does not
/// tell how many reports exist. The team keeps the row's number. New reports get theirs from
/// the system's random source; reports already stored get one here, and a row inserted
/// without one (by hand) gets one from the trigger.
pub(crate) const BOUNTY_PUBLIC_ID: &str = "
ALTER TABLE bounty_reports ADD COLUMN public_id TEXT;
UPDATE bounty_reports SET public_id = lower(hex(randomblob(16))) WHERE public_id IS NULL;
CREATE UNIQUE INDEX bounty_reports_by_public_id ON bounty_reports(public_id);
CREATE TRIGGER bounty_reports_public_id AFTER INSERT ON bounty_reports
WHEN NEW.public_id IS NULL
BEGIN UPDATE bounty_reports SET public_id = lower(hex(randomblob(16))) WHERE id = NEW.id; END;
";

/// Migration 13 on PostgreSQL: a column default gives a row inserted without a public id its
/// random one (PostgreSQL's `gen_random_uuid`, as 32 hex digits).
pub(crate) const BOUNTY_PUBLIC_ID_POSTGRES: &str = "
ALTER TABLE bounty_reports ADD COLUMN public_id TEXT
    DEFAULT replace(gen_random_uuid()::text, '-', '');
UPDATE bounty_reports SET public_id = replace(gen_random_uuid()::text, '-', '') WHERE public_id IS NULL;
CREATE UNIQUE INDEX bounty_reports_by_public_id ON bounty_reports(public_id);
";

/// Migration 14: the duplicate scan's index: each report's set of character trigrams (of its
/// title and description, as `bounty::similar` normalizes them), each trigram encoded as one
/// integer, sorted, as a blob of little-endian 64-bit integers, with their number. The scan
/// counts the trigrams two reports share by merging two such lists instead of reading and
/// splitting both texts. A report stored before this migration has no row until the scan first
/// runs, which indexes it.
pub(crate) const BOUNTY_TRIGRAMS: &str = "
CREATE TABLE bounty_trigram_sets (
    report_id     INTEGER PRIMARY KEY REFERENCES bounty_reports(id),
    trigram_count INTEGER NOT NULL,
    trigrams      BLOB    NOT NULL
);
";

/// Migration 19: the team's browser sessions, each opened with a team token (signed in by
/// pasting it once) and ending when it expires, when it is ended, or when its token is revoked.
/// Only hashes of the session's cookie are kept; `csrf` is the value every change it makes must
/// carry.
/// Migration 22: who owns each open task of an incident.
pub(crate) const TASK_OWNERS: &str = "ALTER TABLE incident_tasks ADD COLUMN owner TEXT;";

pub(crate) const TEAM_SESSIONS: &str = "
CREATE TABLE team_sessions (
    id           INTEGER PRIMARY KEY,
    session_hash TEXT    NOT NULL UNIQUE,
    token_id     INTEGER NOT NULL REFERENCES api_tokens(id),
    csrf         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ended_at     INTEGER
);
";
