"""The records schema as numbered migrations; docs/database.md describes every column."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """One schema step: SQL run in a single transaction that also sets PRAGMA user_version to `version`."""

    version: int
    description: str
    sql: str


# The triggers that make the audit table append-only; `audit.verify` checks they are still in place.
AUDIT_TRIGGERS = {
    "audit_no_update": """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: its rows cannot be changed');
END""",
    "audit_no_delete": """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: its rows cannot be deleted');
END""",
}

_V1 = """
CREATE TABLE inspections (
    seq               INTEGER PRIMARY KEY,
    part_id           TEXT,
    lot_id            TEXT,
    captured_at       TEXT    NOT NULL,
    captured_mono     REAL    NOT NULL,
    decided_at        TEXT,
    recipe            TEXT    NOT NULL,
    model_name        TEXT,
    model_sha256      TEXT,
    threshold_version INTEGER,
    backend           TEXT,
    camera_source     TEXT,
    exposure_us       REAL,
    gain_db           REAL,
    score             REAL,
    infer_ms          REAL,
    auto_verdict      TEXT    NOT NULL CHECK (auto_verdict IN ('OK', 'NG', 'HOLD', 'NOT_INSPECTED')),
    verdict           TEXT    NOT NULL CHECK (verdict IN ('OK', 'NG', 'HOLD', 'NOT_INSPECTED')),
    reason            TEXT    NOT NULL DEFAULT '',
    latency_ms        REAL,
    reviewed_by       TEXT,
    reviewed_at       TEXT,
    review_note       TEXT,
    defect_type       TEXT,
    plc_status        TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (plc_status IN ('pending', 'delivered', 'late', 'not_delivered', 'plc_off')),
    plc_delivered_at  TEXT,
    plc_detail        TEXT,
    image_path        TEXT,
    heatmap_path      TEXT
);
-- Report queries filter on a time range, optionally by recipe or verdict; the trailing verdict
-- column lets counts by verdict be answered from the index alone (6 million rows stay fast).
CREATE INDEX inspections_time ON inspections (captured_at, verdict);
CREATE INDEX inspections_recipe_time ON inspections (recipe, captured_at, verdict);
CREATE INDEX inspections_verdict_time ON inspections (verdict, captured_at);

CREATE TABLE regions (
    seq        INTEGER NOT NULL REFERENCES inspections (seq) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    x          INTEGER NOT NULL,
    y          INTEGER NOT NULL,
    w          INTEGER NOT NULL,
    h          INTEGER NOT NULL,
    area_px    INTEGER NOT NULL,
    peak_score REAL,
    label      TEXT    NOT NULL,
    confidence REAL,
    PRIMARY KEY (seq, idx)
) WITHOUT ROWID;

CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    user      TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL DEFAULT '',
    old_value TEXT,
    new_value TEXT,
    reason    TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at);
{AUDIT_NO_UPDATE};
{AUDIT_NO_DELETE};

CREATE TABLE users (
    name          TEXT    PRIMARY KEY COLLATE NOCASE,
    role          TEXT    NOT NULL CHECK (role IN ('operator', 'technician', 'quality', 'admin')),
    secret_hash   TEXT    NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT,
    created_at    TEXT    NOT NULL,
    created_by    TEXT    NOT NULL,
    changed_at    TEXT,
    last_login_at TEXT
);

CREATE TABLE threshold_sets (
    recipe     TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    "values"   TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    PRIMARY KEY (recipe, version)
);

CREATE TABLE part_sequence (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    high_water  INTEGER NOT NULL,
    reserved_at TEXT    NOT NULL
);
"""

_V1 = _V1.replace("{AUDIT_NO_UPDATE}", AUDIT_TRIGGERS["audit_no_update"]).replace(
    "{AUDIT_NO_DELETE}", AUDIT_TRIGGERS["audit_no_delete"])

# A part's history (its reviews and overrides) is looked up by the audit subject 'part <seq>'.
_V2 = """
CREATE INDEX audit_subject ON audit (subject, id);
"""

# Shift reports: alarms with their times (raise, clear, acknowledge, shelve; written by the store thread
# with the parts), and the parts of one model version found by time (drift baseline, model comparison).
_V3 = """
CREATE TABLE alarm_events (
    id       INTEGER PRIMARY KEY,
    at       TEXT    NOT NULL,
    code     TEXT    NOT NULL,
    event    TEXT    NOT NULL CHECK (event IN ('raised', 'cleared', 'acknowledged', 'shelved')),
    priority INTEGER NOT NULL,
    message  TEXT    NOT NULL DEFAULT '',
    user     TEXT
);
CREATE INDEX alarm_events_at ON alarm_events (at);
CREATE INDEX inspections_model_time ON inspections (model_sha256, captured_at);
"""

# Learning from the operators: every judged part keeps its defect confidence (50 % at the NG limit), and a
# part reported later as a missed defect ("defect found downstream") keeps that report beside its record.
_V4 = """
ALTER TABLE inspections ADD COLUMN confidence REAL;
CREATE TABLE downstream_defects (
    id          INTEGER PRIMARY KEY,
    seq         INTEGER NOT NULL REFERENCES inspections (seq),
    reported_at TEXT    NOT NULL,
    reported_by TEXT    NOT NULL,
    defect_type TEXT    NOT NULL,
    note        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX downstream_defects_seq ON downstream_defects (seq);
"""

# Every part keeps the defect code its result carried to the PLC, by the recipe it was judged with (0: none).
_V5 = """
ALTER TABLE inspections ADD COLUMN defect_code INTEGER;
"""

# The plant's replication (hmi.plant.replication) sends parts again when they change: every insert, and every
# update of a column the plant keeps (review, PLC status; not image paths), notes the part in part_changes, in
# the writer's own transaction. Parts recorded before this step are noted once, so they reach the plant too.
_V6 = """
CREATE TABLE part_changes (
    id  INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TRIGGER part_changes_insert AFTER INSERT ON inspections
BEGIN
    INSERT INTO part_changes (seq) VALUES (NEW.seq);
END;
CREATE TRIGGER part_changes_update AFTER UPDATE OF part_id, lot_id, captured_at, decided_at, recipe, model_name,
    model_sha256, threshold_version, backend, camera_source, exposure_us, gain_db, score, infer_ms, auto_verdict,
    verdict, reason, latency_ms, reviewed_by, reviewed_at, review_note, defect_type, plc_status, confidence,
    defect_code ON inspections
BEGIN
    INSERT INTO part_changes (seq) VALUES (NEW.seq);
END;
INSERT INTO part_changes (seq) SELECT seq FROM inspections ORDER BY seq;
"""

# What decides a verdict is sealed (hmi.store.seals): the station.toml file, each recipe file and the users table,
# each by the SHA-256 of its content as the station last wrote or accepted it, with that content (to show what
# changed). Written only by the store's writer; a change made behind the station's back no longer matches.
_V7 = """
CREATE TABLE seals (
    subject   TEXT    PRIMARY KEY,
    sha256    TEXT    NOT NULL,
    content   TEXT    NOT NULL,
    sealed_at TEXT    NOT NULL,
    sealed_by TEXT    NOT NULL,
    audit_id  INTEGER NOT NULL DEFAULT 0
);
"""

# Append only: a released step is never edited, a change is a new step.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "inspections, regions, audit trail, users, threshold sets, part sequence", _V1),
    Migration(2, "audit entries found by subject", _V2),
    Migration(3, "alarm events; parts found by model version and time", _V3),
    Migration(4, "defect confidence of every part; defects found downstream", _V4),
    Migration(5, "the defect code signalled to the PLC with every part", _V5),
    Migration(6, "a change log of parts for the plant's replication", _V6),
    Migration(7, "seals of the station file, the recipe files and the users table", _V7),
)

SCHEMA_VERSION = MIGRATIONS[-1].version
