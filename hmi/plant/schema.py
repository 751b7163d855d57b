"""The plant database's schema (PostgreSQL 16+), in numbered steps applied once, as people query it (docs/plant.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlantMigration:
    """One schema step, run in one transaction and noted in plant_schema."""

    version: int
    description: str
    sql: str


# parts and regions are partitioned by month of captured_at (partitions are made by the replication before it
# writes a month's first part); a DEFAULT partition catches anything outside them, so no insert ever fails.
_V1 = """
CREATE TABLE stations (
    station_id   text PRIMARY KEY,
    name         text        NOT NULL,
    line         text        NOT NULL,
    timezone     text        NOT NULL DEFAULT 'UTC',
    software     text        NOT NULL DEFAULT '',
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    local_high_seq bigint    NOT NULL DEFAULT 0   -- the newest part number in the station's own records, at last_seen
);

CREATE TABLE replication_watermarks (
    station_id text        NOT NULL REFERENCES stations (station_id),
    stream     text        NOT NULL,          -- part_changes, audit, alarm_events, threshold_sets
    last_id    bigint      NOT NULL,          -- the newest local row id of that stream now in the plant database
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, stream)
);

CREATE TABLE parts (
    station_id        text        NOT NULL,
    seq               bigint      NOT NULL,
    line              text        NOT NULL,
    shift             text        NOT NULL DEFAULT '',   -- the station's shift name at captured_at
    shift_start       timestamptz,                       -- when that shift began (one shift = station, shift_start)
    part_id           text,
    lot_id            text,
    captured_at       timestamptz NOT NULL,
    decided_at        timestamptz,
    recipe            text        NOT NULL,
    model_name        text,
    model_sha256      text,
    threshold_version integer,
    backend           text,
    camera_source     text,
    exposure_us       double precision,
    gain_db           double precision,
    score             double precision,
    confidence        double precision,
    infer_ms          double precision,
    latency_ms        double precision,
    auto_verdict      text        NOT NULL CHECK (auto_verdict IN ('OK', 'NG', 'HOLD', 'NOT_INSPECTED')),
    verdict           text        NOT NULL CHECK (verdict IN ('OK', 'NG', 'HOLD', 'NOT_INSPECTED')),
    reason            text        NOT NULL DEFAULT '',
    reviewed_by       text,
    reviewed_at       timestamptz,
    review_note       text,
    defect_type       text,
    defect_code       integer,
    plc_status        text        NOT NULL,
    replicated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, seq, captured_at)
) PARTITION BY RANGE (captured_at);
CREATE TABLE parts_default PARTITION OF parts DEFAULT;
CREATE INDEX parts_time ON parts (captured_at);
CREATE INDEX parts_line_time ON parts (line, captured_at);

CREATE TABLE regions (
    station_id  text        NOT NULL,
    seq         bigint      NOT NULL,
    idx         integer     NOT NULL,
    captured_at timestamptz NOT NULL,
    x           integer     NOT NULL,
    y           integer     NOT NULL,
    w           integer     NOT NULL,
    h           integer     NOT NULL,
    area_px     integer     NOT NULL,
    peak_score  double precision,
    label       text        NOT NULL,
    confidence  double precision,
    PRIMARY KEY (station_id, seq, idx, captured_at)
) PARTITION BY RANGE (captured_at);
CREATE TABLE regions_default PARTITION OF regions DEFAULT;

CREATE TABLE audit (
    station_id text        NOT NULL,
    id         bigint      NOT NULL,          -- the station's own audit row id: the chain's order
    at         timestamptz NOT NULL,
    "user"     text        NOT NULL,
    action     text        NOT NULL,
    subject    text        NOT NULL DEFAULT '',
    old_value  text,
    new_value  text,
    reason     text        NOT NULL DEFAULT '',
    at_text    text        NOT NULL,          -- `at` exactly as the station hashed it
    prev_hash  text        NOT NULL,
    hash       text        NOT NULL,
    PRIMARY KEY (station_id, id)
);
CREATE INDEX audit_at ON audit (at);

CREATE TABLE alarm_events (
    station_id text        NOT NULL,
    id         bigint      NOT NULL,
    at         timestamptz NOT NULL,
    code       text        NOT NULL,
    event      text        NOT NULL,
    priority   integer     NOT NULL,
    message    text        NOT NULL DEFAULT '',
    "user"     text,
    PRIMARY KEY (station_id, id)
);
CREATE INDEX alarm_events_at ON alarm_events (at);

CREATE TABLE threshold_sets (
    station_id text        NOT NULL,
    recipe     text        NOT NULL,
    version    integer     NOT NULL,
    "values"   jsonb       NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL,
    reason     text        NOT NULL,
    PRIMARY KEY (station_id, recipe, version)
);

CREATE TABLE models (
    station_id   text        NOT NULL,
    model_sha256 text        NOT NULL,
    model_name   text        NOT NULL,
    first_used   timestamptz NOT NULL,
    last_used    timestamptz NOT NULL,
    PRIMARY KEY (station_id, model_sha256)
);
"""

# Each station's lag as it last reported it (hmi plant status), and parts found by station and time.
_V2 = """
ALTER TABLE stations ADD COLUMN local_high_at timestamptz;            -- captured_at of local_high_seq
ALTER TABLE stations ADD COLUMN behind bigint NOT NULL DEFAULT 0;     -- its parts not yet sent, at last_seen
ALTER TABLE stations ADD COLUMN parts_in_plant bigint NOT NULL DEFAULT 0;  -- its rows in parts (counted as inserted)
CREATE INDEX parts_station_time ON parts (station_id, captured_at);
"""

# Append only: a released step is never edited, a change is a new step.
PLANT_MIGRATIONS: tuple[PlantMigration, ...] = (
    PlantMigration(1, "stations, watermarks, parts and regions by month, audit, alarm events, threshold sets, models",
                   _V1),
    PlantMigration(2, "each station's lag as last reported; parts found by station and time", _V2),
)

PLANT_SCHEMA_VERSION = PLANT_MIGRATIONS[-1].version
