"""Every alarm the station raises, declared once: code, priority, status tile, what happened and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hmi.core.alarms import Priority


class Tile(str, Enum):
    """The status-zone tile an alarm colours while it is active (amber, or red for HIGH), left to right."""

    CAMERA = "Camera"
    MODEL = "Model"
    PLC = "PLC"
    DISK = "Disk"


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm as declared here: raise it with `AlarmBoard.raise_(spec, **facts)`.

    `text` says what happened and `action` what to do next; both are `str.format` templates whose
    fields the raiser fills in (`facts`). `tile` is the status tile it colours (None: the alarm zone
    only) and `tile_word` what that tile then says.
    """

    code: str
    priority: Priority
    tile: Tile | None
    text: str
    action: str
    tile_word: str = ""

    def message(self, **facts: object) -> str:
        """The operator's text: what happened — what to do, with `facts` filled in (first letter capital)."""
        text = f"{self.text.format(**facts)} — {self.action.format(**facts)}"
        return text[:1].upper() + text[1:]


# --- camera --------------------------------------------------------------------------------------
CAMERA_LOST = AlarmSpec(
    "CAMERA_LOST", Priority.HIGH, Tile.CAMERA,
    "{problem}: parts are rejected as NOT INSPECTED until it is back",
    "check the camera's cable and power; the station reconnects by itself", "LOST")
LIGHTING_DRIFT = AlarmSpec(
    "LIGHTING_DRIFT", Priority.MEDIUM, Tile.CAMERA,
    "image brightness {mean:.0f} is {drift:+.0f} % from the reference {reference:.0f} (limit ±{limit:.0f} %)",
    "check the lamps and the exposure", "LIGHT DRIFT")

# --- judging ---------------------------------------------------------------------------------------
MODEL = AlarmSpec(
    "MODEL", Priority.HIGH, Tile.MODEL,
    "parts are rejected as NOT INSPECTED: {problem}",
    "check the model and the recipe", "FAILING")
REJECT_RATE = AlarmSpec(
    "REJECT_RATE", Priority.MEDIUM, None,
    "{rate:.0%} of the last {window} parts rejected (limit {limit:.0%})",
    "check the product, the lighting and the camera")
HOLD_FULL = AlarmSpec(
    "HOLD_FULL", Priority.MEDIUM, None,
    "the HOLD list is full ({capacity} parts wait for review): {overflowed} more held parts got the recipe default "
    "{default} at once, unreviewed{lost}",
    "review the waiting parts; if many parts are held, check the product and the recipe's HOLD band")
RECIPE_REQUEST = AlarmSpec(
    "RECIPE_REQUEST", Priority.MEDIUM, None,
    "{problem}: recipe {kept} stays in force",
    "give the requested recipe that PLC number (or make it load), or have the PLC request another")

# --- PLC -------------------------------------------------------------------------------------------
# Declared before PLC_LINK: with both active, the PLC tile says SILENT.
PLC_SILENT = AlarmSpec(
    "PLC_SILENT", Priority.HIGH, Tile.PLC,
    "PLC {host} heartbeat stopped: parts are being rejected",
    "check the PLC program (is the PLC in RUN?)", "SILENT")
PLC_LINK = AlarmSpec(
    "PLC_LINK", Priority.HIGH, Tile.PLC,
    "PLC {address} not answering: parts are being rejected",
    "check the cable and the PLC's power; the station reconnects by itself", "DOWN")
PLC_REFUSED = AlarmSpec(
    "PLC_REFUSED", Priority.HIGH, Tile.PLC,
    "PLC {address} answers but refuses the station's reads or writes of DB {db} ({problem}): parts are being "
    "rejected",
    "enable PUT/GET access in the CPU's protection settings (Protection & Security → Connection mechanisms) and "
    "check plc.db in station.toml (now {db}: that DB downloaded, 80 bytes, optimized block access off); the "
    "station retries by itself", "REFUSED")
PLC_OFF = AlarmSpec(
    "PLC_OFF", Priority.LOW, Tile.PLC,
    "PLC signalling is switched off: parts are NOT being rejected by the line",
    "set plc.mode to s7 in station.toml when the line should act on the verdicts", "OFF")
PLC_SIMULATED = AlarmSpec(
    "PLC_SIMULATED", Priority.LOW, Tile.PLC,
    "the PLC is simulated inside the station (plc.mode = simulated): the line does not act on the verdicts",
    "set plc.mode to s7 (and plc.host) in station.toml when this station runs a real line", "SIMULATED")
INSPECTION_DISABLED = AlarmSpec(
    "INSPECTION_DISABLED", Priority.LOW, Tile.CAMERA,
    "inspection disabled by the PLC (DB {db} byte 78 bit 0 is off): no parts are triggered or judged",
    "enable inspection in the PLC program when parts should be inspected", "DISABLED BY PLC")

# --- records and disk ----------------------------------------------------------------------------
# Declared before DISK_FULL: with both active (the reserve used up), the Disk tile says FAULT.
STORE_WRITE = AlarmSpec(
    "STORE_WRITE", Priority.HIGH, Tile.DISK,
    "records cannot be written to the database ({problem}): no result goes to the PLC, which is told the station "
    "has a fault and rejects every part; {waiting} writes are waiting in memory{lost}",
    "free disk space or call service; the station resumes by itself once the records can be written", "FAULT")
DISK_FULL = AlarmSpec(
    "DISK_FULL", Priority.HIGH, Tile.DISK,
    "the disk holding the records is full ({free_mb} MB free): every part is rejected as NOT INSPECTED and "
    "recorded in the records' reserve ({reserve_mb} MB left)",
    "free disk space (files that are not the station's, old images) or fit a bigger disk; judging resumes by itself "
    "above {resume_mb} MB free", "FULL")
RECORD_REFUSED = AlarmSpec(
    "RECORD_REFUSED", Priority.MEDIUM, Tile.DISK,
    "{problem}; no result was sent to the PLC for it, which rejects the part",
    "call service", "FAULT")
RECORDS_BACKLOG = AlarmSpec(
    "RECORDS_BACKLOG", Priority.HIGH, Tile.DISK,
    "{unrecorded} parts could not be queued for the records (the store is behind): they were rejected as NOT "
    "INSPECTED without a result to the PLC and are recorded once the store catches up{missing}",
    "check the disk and the store alarms; call service if it repeats", "BEHIND")
PART_NUMBERS = AlarmSpec(
    "PART_NUMBERS", Priority.HIGH, Tile.DISK,
    "parts cannot be numbered ({problem}): {count} parts were rejected as NOT INSPECTED without a number, a "
    "record or a result to the PLC",
    "check the disk and the store alarms; call service if it repeats", "FAULT")
IMAGE_WRITE = AlarmSpec(
    "IMAGE_WRITE", Priority.MEDIUM, Tile.DISK,
    "part images cannot be saved in {folder} ({problem}); verdicts and records continue, images are not saved "
    "(next try in {retry_s:.0f} s)",
    "free disk space or check the folder", "FAULT")
DISK_LOW = AlarmSpec(
    "DISK_LOW", Priority.MEDIUM, Tile.DISK,
    "disk space is low: {free_mb} MB free where the records and images are kept ({folder}), alarm below "
    "{limit_mb} MB; images stop being saved below store.image_floor_mb, and on a full disk every part is rejected",
    "delete old files, set a records retention (store.keep_days or store.keep_gb) or fit a bigger disk", "LOW")
RETENTION = AlarmSpec(
    "RETENTION", Priority.MEDIUM, None,
    "records retention is not keeping up: {problem}; the records keep growing",
    "check store.keep_days, store.keep_gb and store.purge_export_dir in station.toml (is there room for the "
    "exports?); call service if it repeats")

# --- the plant: replication, OPC UA, MQTT (the line keeps running: none of these rejects a part) -------
PLANT_DB = AlarmSpec(
    "PLANT_DB", Priority.MEDIUM, None,
    "the plant database {server} cannot take this station's records ({problem}): {behind} parts wait here and are "
    "sent when it is back; the line runs on",
    "tell the plant's IT if it lasts; check [plant] in station.toml if the message names a setting")
OPCUA = AlarmSpec(
    "OPCUA", Priority.MEDIUM, None,
    "the OPC UA server cannot serve ({problem}): the MES and SCADA get no results from this station",
    "check opcua.port and opcua.host in station.toml (is another program using the port?); call service if it "
    "repeats")
OPCUA_INSECURE = AlarmSpec(
    "OPCUA_INSECURE", Priority.LOW, None,
    "OPC UA runs without security (opcua.security = none): anyone on the network can read this station's results",
    "set opcua.security = basic256sha256 in station.toml for production")
MQTT_LINK = AlarmSpec(
    "MQTT_LINK", Priority.MEDIUM, None,
    "the MQTT broker {broker} cannot be reached ({problem}): {buffered} results are kept and sent when it is back",
    "tell the plant's IT if it lasts; the line runs on")
MQTT_DROPPED = AlarmSpec(
    "MQTT_DROPPED", Priority.MEDIUM, None,
    "{dropped} part results were not sent over MQTT: the buffer of {limit} results was full while the broker was "
    "away",
    "bring the broker back or raise mqtt.buffer_limit; the parts are in this station's records")

# --- the station's own threads (raised by the supervisor when one ends on an error) ----------------
_THREAD_ACTION = "restart the station; if it repeats, call service"
WORKER_CAPTURE = AlarmSpec(
    "WORKER_CAPTURE", Priority.HIGH, Tile.CAMERA,
    "the camera thread stopped: {error}; no parts are captured", _THREAD_ACTION, "STOPPED")
WORKER_INFERENCE = AlarmSpec(
    "WORKER_INFERENCE", Priority.HIGH, Tile.MODEL,
    "the judging thread stopped: {error}; no parts are judged", _THREAD_ACTION, "STOPPED")
WORKER_HOLDS = AlarmSpec(
    "WORKER_HOLDS", Priority.HIGH, None,
    "the HOLD timer stopped: {error}; held parts no longer get the recipe default when their time runs out",
    _THREAD_ACTION)
WORKER_STORE = AlarmSpec(
    "WORKER_STORE", Priority.HIGH, Tile.DISK,
    "the records thread stopped: {error}; nothing is recorded and no verdict reaches the PLC", _THREAD_ACTION,
    "STOPPED")
WORKER_IMAGES = AlarmSpec(
    "WORKER_IMAGES", Priority.HIGH, Tile.DISK,
    "the image thread stopped: {error}; part images are not saved", _THREAD_ACTION, "STOPPED")
WORKER_PLC = AlarmSpec(
    "WORKER_PLC", Priority.HIGH, Tile.PLC,
    "the PLC thread stopped: {error}; the PLC gets no results and rejects every part", _THREAD_ACTION, "STOPPED")
WORKER_RECIPE_REQUESTS = AlarmSpec(
    "WORKER_RECIPE_REQUESTS", Priority.HIGH, None,
    "the thread that follows the PLC's recipe requests stopped: {error}; the PLC can no longer change the recipe",
    _THREAD_ACTION)
WORKER_PLANT = AlarmSpec(
    "WORKER_PLANT", Priority.MEDIUM, None,
    "a plant output stopped (replication, OPC UA or MQTT): {error}; the line runs on, the plant gets nothing new",
    _THREAD_ACTION)
WORKER_OTHER = AlarmSpec(
    "WORKER_OTHER", Priority.HIGH, None,
    "station threads stopped: {error}", _THREAD_ACTION)


def _declared() -> dict[str, AlarmSpec]:
    found = [v for v in globals().values() if isinstance(v, AlarmSpec)]
    codes = [a.code for a in found]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise RuntimeError(f"alarm codes declared twice: {', '.join(duplicates)}")
    return {a.code: a for a in found}


CATALOGUE: dict[str, AlarmSpec] = _declared()
"""Every alarm by code, in the order declared above."""

_WORKER_ALARMS = {"capture": WORKER_CAPTURE, "inference": WORKER_INFERENCE, "holds": WORKER_HOLDS,
                  "store": WORKER_STORE, "images": WORKER_IMAGES, "plc": WORKER_PLC,
                  "recipe requests": WORKER_RECIPE_REQUESTS, "plant database": WORKER_PLANT, "opcua": WORKER_PLANT,
                  "mqtt": WORKER_PLANT}


def worker_alarm(role: str) -> AlarmSpec:
    """The alarm for a stopped thread of this role (WORKER_OTHER for threads not declared here)."""
    return _WORKER_ALARMS.get(role, WORKER_OTHER)


def spec_of(code: str) -> AlarmSpec | None:
    """The declaration of `code`, or None for a code this station version does not raise."""
    return CATALOGUE.get(code)
