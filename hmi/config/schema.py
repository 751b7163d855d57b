"""One declaration per option (type, default, range, description), validated in one place."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError


class Section(BaseModel):
    """Base of every config section: unknown keys are refused, values validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class RoiConfig(Section):
    """Camera-side frame ROI in sensor pixels; width/height 0 means full sensor."""

    x: int = Field(0, ge=0, description="left edge")
    y: int = Field(0, ge=0, description="top edge")
    width: int = Field(0, ge=0, description="width, 0 = full sensor")
    height: int = Field(0, ge=0, description="height, 0 = full sensor")


class CameraConfig(Section):
    """Which camera feeds the station and how it is triggered."""

    kind: Literal["emulated", "pylon", "replay"] = Field(
        "emulated", description="emulated = pylon camera emulation replaying demo images; pylon = a real Basler; replay = folder or video")
    serial: str = Field("", description="Basler serial number; empty = first camera found")
    replay_path: str = Field("", description="folder of images or a video file (kind=replay), or a folder of same-size images for kind=emulated; empty = the demo images")
    trigger: Literal["free_run", "software", "hardware"] = Field("software", description="how exposures start")
    rate_hz: float = Field(0.0, ge=0.0, le=1000.0, description="software trigger rate (paced by the capture thread) or free-run frame rate; 0 = as fast as the station is ready")
    exposure_us: float = Field(5000.0, gt=0, le=10_000_000, description="exposure time in microseconds")
    gain_db: float = Field(0.0, ge=0, le=48, description="analogue gain in dB")
    grab_timeout_ms: int = Field(1000, ge=10, le=60_000, description="how long to wait for a buffer")
    reconnect_s: float = Field(1.0, gt=0, le=60, description="first reconnect delay after the camera is lost (doubles to 10 s)")
    max_image_megapixels: float = Field(
        150.0, gt=0, le=1000, description="largest image (width x height, megapixels) any image file may have: "
                                          "replay, emulated camera, hmi inspect, teach; checked from the header "
                                          "before decoding, larger files are refused")
    roi: RoiConfig = Field(default_factory=RoiConfig)


class InferenceConfig(Section):
    """How the model is run."""

    provider: Literal["auto", "tensorrt", "cuda", "cpu"] = Field(
        "auto", description="auto = TensorRT, then CUDA, then CPU, whichever is available")
    threads: int = Field(0, ge=0, le=64, description="CPU threads for the model; 0 = all cores")
    engine_cache: str = Field("", description="TensorRT engine cache folder; empty = DATA_DIR/engines")
    bank_search: Literal["clusters", "whole"] = Field(
        "clusters", description="how a model taught on the station finds each patch's nearest memory-bank feature on "
                                "the CPU: clusters = the bank's nearest clusters only (faster; docs/performance.md), "
                                "whole = the whole bank; GPUs always search the whole bank")
    warmup_runs: int = Field(3, ge=0, le=100, description="runs on a blank frame after loading")
    batch: int = Field(4, ge=0, le=4, description="tiles per model run for models judged in tiles; 0 = measured "
                                                   "after the warm-up runs, the fastest of 1, 2 and 4 on this "
                                                   "machine (4 when warmup_runs = 0); measuring adds about a second "
                                                   "to every model load on a 2-core CPU")
    tile: bool = Field(False, description="judge frames much larger than the model input as overlapping tiles "
                                          "(models without a taught geometry; taught models always judge at "
                                          "their taught scale in tiles)")


class PipelineConfig(Section):
    """Queue sizes and deadlines; every queue is created from these in one place (hmi/station/queues.py)."""

    frame_queue: int = Field(4, ge=1, le=256, description="frames waiting for the model")
    result_queue: int = Field(256, ge=1, le=100_000,
                              description="verdicts waiting for each output (store, PLC, each added output)")
    deadline_ms: int = Field(2000, ge=10, le=600_000, description="a part not judged within this after capture is NOT_INSPECTED")
    max_in_flight: int = Field(2, ge=1, le=64, description="software trigger waits while this many parts are being judged")
    review_queue: int = Field(1000, ge=1, le=100_000,
                              description="operators' verdicts on HOLD parts waiting for the store, and again for "
                                          "the PLC and for each added output")
    delivery_queue: int = Field(1024, ge=1, le=400_000,
                                description="PLC delivery reports waiting for the store (keep at about 4 x result_queue)")
    audit_queue: int = Field(1000, ge=1, le=100_000, description="audit trail entries waiting for the store")
    store_request_queue: int = Field(256, ge=1, le=100_000,
                                     description="other writes waiting for the store: part number blocks, users, "
                                                 "logins, threshold versions")
    alarm_event_queue: int = Field(1000, ge=1, le=100_000,
                                   description="alarm raises, clears and acknowledgements waiting for the store")
    downstream_defect_queue: int = Field(100, ge=1, le=10_000,
                                         description="defects found downstream waiting for the store")
    image_queue: int = Field(64, ge=1, le=10_000, description="part images waiting to be written to disk")
    image_path_queue: int = Field(4096, ge=1, le=100_000,
                                  description="paths of written images waiting for the store")


class PlcConfig(Section):
    """The Siemens S7 link (DESIGN.md, PLC interface)."""

    # No default: a station file that names no mode must not signal a PLC simulated in-process by mistake.
    mode: Literal["simulated", "s7", "off"] = Field(
        None, validate_default=True,  # left out: refused by _mode_given with what to write
        description="s7 = the line's real PLC; simulated = python-snap7 server on loopback, the line acts on "
                    "nothing (demo; a standing PLC_SIMULATED alarm); off = no PLC (a standing PLC_OFF alarm)")
    host: str = Field("127.0.0.1", description="PLC IP address")
    port: int = Field(102, ge=1, le=65535, description="ISO-on-TCP port (102 on a real PLC)")
    rack: int = Field(0, ge=0, le=7)
    slot: int = Field(1, ge=0, le=31)
    db: int = Field(100, ge=1, le=65535, description="data block number of the vision interface")
    heartbeat_ms: int = Field(250, ge=50, le=10_000, description="vision heartbeat period")
    plc_silent_ms: int = Field(1000, ge=100, le=60_000, description="alarm when the PLC heartbeat has not changed for this long")
    delivery_deadline_ms: int = Field(500, ge=10, le=60_000, description="a result not written by then counts as not delivered (rejected)")
    hold_lane: bool = Field(False, description="the line has a hold lane for HOLD parts (else HOLD parts are rejected)")
    reconnect_max_s: float = Field(5.0, gt=0, le=300, description="longest wait between reconnect attempts")

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_given(cls, mode: object) -> object:
        if mode is None:
            raise PydanticCustomError(
                "plc_mode_missing",
                'not set: write mode = "s7" under [plc] for the line\'s PLC (with its host), "simulated" for a PLC '
                'simulated inside the station (a demo: the line acts on no verdict) or "off" for no PLC')
        return mode


class StoreConfig(Section):
    """Records database and image store under the data directory."""

    ok_image_sample: int = Field(50, ge=0, le=1_000_000, description="keep every N-th OK image; 0 = none")
    image_quota_mb: int = Field(2048, ge=1, description="disk space for part images")
    low_disk_mb: int = Field(500, ge=1, description="alarm (DISK_LOW) when free disk space falls under this; "
                                                    "must be above image_floor_mb")
    image_floor_mb: int = Field(256, ge=0, description="images stop being saved when the disk has less than this "
                                                       "free, so the records keep room; 0 = only when writing fails")
    records_reserve_mb: int = Field(64, ge=0, le=65_536,
                                    description="room kept inside hmi.db for the records of a full disk (every part "
                                                "is then rejected NOT_INSPECTED with a durable record); 0 = none")
    keep_days: int = Field(0, ge=0, le=36_500, description="records retention: OK parts older than this are exported "
                                                           "and purged (docs/database.md); 0 = keep every part")
    keep_gb: float = Field(0.0, ge=0.0, le=100_000.0,
                           description="records retention by size: while the records hold more than this, the "
                                       "oldest OK parts are exported and purged; 0 = no limit")
    purge_export_dir: str = Field("", description="folder for the exports of purged parts (gzip CSV); "
                                                  "empty = DATA_DIR/purged")

    @model_validator(mode="after")
    def _alarm_before_images_stop(self) -> "StoreConfig":
        if self.image_floor_mb >= self.low_disk_mb:
            raise ValueError(f"store.low_disk_mb ({self.low_disk_mb}) must be above store.image_floor_mb "
                             f"({self.image_floor_mb}): the DISK_LOW alarm must come before images stop")
        return self


SIGN_REASONS = ("Product change", "New lot", "False rejects", "Escapes", "Maintenance", "Correction")


class UiConfig(Section):
    """The touchscreen."""

    panel_dpi: float = Field(96.0, ge=50, le=600, description="pixels per inch of the panel; touch targets are sized from it")
    min_touch_mm: float = Field(9.0, ge=9, le=40, description="smallest edge of any touch target in millimetres")
    min_primary_mm: float = Field(15.0, ge=9, le=40, description="smallest edge of a primary action (Good/Defect, "
                                  "Log in, navigation, keypads) in millimetres; not below min_touch_mm")
    refresh_hz: float = Field(25.0, ge=5, le=120, description="how often the live view pulls the newest part")
    idle_lock_s: int = Field(300, ge=30, le=86_400, description="lock the screen after this long without a touch")
    fullscreen: bool = Field(False, description="kiosk mode")
    sign_reasons: list[str] = Field(
        default_factory=lambda: list(SIGN_REASONS), max_length=6,
        description="reasons offered on every signature, tapped to pick (a screen's own come first); free text may follow")

    @model_validator(mode="after")
    def _primary_not_smaller(self) -> "UiConfig":
        if self.min_primary_mm < self.min_touch_mm:
            raise ValueError(f"ui.min_primary_mm ({self.min_primary_mm}) is below ui.min_touch_mm ({self.min_touch_mm}): "
                             "a primary action may not be smaller than any other target")
        return self

    @field_validator("sign_reasons")
    @classmethod
    def _short_reasons(cls, reasons: list[str]) -> list[str]:
        reasons = [r.strip() for r in reasons]
        if any(not 1 <= len(r) <= 40 for r in reasons):
            raise ValueError("each of ui.sign_reasons needs 1 to 40 characters (it is a button's label)")
        return reasons


class ShiftDefinition(Section):
    """One shift of the plant's day, by wall-clock times in the plant's time zone; may cross midnight."""

    name: str = Field(..., min_length=1, max_length=32, description="shift name as people say it (Early, Late, Night)")
    start: str = Field(..., pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="start time HH:MM")
    end: str = Field(..., pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="end time HH:MM; earlier than start = ends the next day")

    @model_validator(mode="after")
    def _not_empty(self) -> "ShiftDefinition":
        if self.start == self.end:
            raise ValueError(f"shift '{self.name}' starts and ends at {self.start}: give it a length")
        return self


def _default_shifts() -> list[ShiftDefinition]:
    return [ShiftDefinition(name="Early", start="06:00", end="14:00"),
            ShiftDefinition(name="Late", start="14:00", end="22:00"),
            ShiftDefinition(name="Night", start="22:00", end="06:00")]


class ShiftsConfig(Section):
    """The plant's shifts and time zone; records stay in UTC, reports cut them by these shifts."""

    timezone: str = Field("UTC", description="IANA time zone of the plant, e.g. Europe/Berlin")
    shifts: list[ShiftDefinition] = Field(default_factory=_default_shifts, min_length=1)

    @model_validator(mode="after")
    def _valid(self) -> "ShiftsConfig":
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time zone '{self.timezone}' is unknown; use an IANA name such as Europe/Berlin") from None
        names = [s.name.casefold() for s in self.shifts]
        if len(set(names)) != len(names):
            raise ValueError("two shifts have the same name")
        return self


class ExportTargetConfig(Section):
    """A place the reports screen may write exports to besides the station's own disk (a mounted share)."""

    name: str = Field(..., min_length=1, max_length=32, description="what the screen calls it, e.g. Quality share")
    path: str = Field(..., min_length=1, pattern=r"^/", description="absolute folder, e.g. /mnt/quality/exports")


class ReportsConfig(Section):
    """Where shift reports can be exported to: the station's disk, configured shares, removable drives."""

    export_targets: list[ExportTargetConfig] = Field(default_factory=list, max_length=8,
                                                     description="configured shares offered on the reports screen")
    removable_media: list[str] = Field(default_factory=lambda: ["/media", "/run/media"],
                                       description="folders under which mounted USB drives are looked for")


class StationSection(Section):
    """Identity and operating mode of this station."""

    name: str = Field("Station 1", min_length=1, max_length=64)
    line: str = Field("Line 1", min_length=1, max_length=64)
    mode: Literal["production", "setup"] = Field(
        "production", description="production = every frame is a part; setup = free-run, newest frame wins")
    recipe: str = Field("demo", min_length=1, description="active recipe name (file recipes/NAME.toml)")


class PlantConfig(Section):
    """The plant database this station replicates its records to (PostgreSQL); empty `database` = none."""

    database: str = Field("", description="PostgreSQL URL, e.g. postgresql://hmi@plant-db:5432/quality; no password in it")
    password_env: str = Field("HMI_PLANT_PASSWORD", description="environment variable holding the database password")
    password_file: str = Field("", description="file holding the database password, readable by the station only (mode 0600)")
    station_id: str = Field("", max_length=64, pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                            description="this station's id in the plant, unique per station (a station replicates only "
                                        "with one; an office PC running plant reports needs none)")
    line: str = Field("", max_length=64, description="the line in the plant's reports; empty = [station] line")
    batch_size: int = Field(500, ge=1, le=50_000, description="records sent to the plant in one transaction")
    interval_s: float = Field(1.0, gt=0, le=600, description="how often new records are sent")
    retry_max_s: float = Field(30.0, gt=0, le=3600, description="longest wait between reconnects while the plant server is away")
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="how long one connection attempt may take")

    @model_validator(mode="after")
    def _postgresql_url(self) -> "PlantConfig":
        if self.database and not self.database.startswith(("postgresql://", "postgres://")):
            raise ValueError("plant.database must be a PostgreSQL URL (postgresql://user@host:5432/dbname)")
        return self


class OpcuaConfig(Section):
    """The OPC UA server (OPC 40100 machine vision) the plant's MES and SCADA read results from."""

    enabled: bool = Field(False, description="serve OPC UA")
    host: str = Field("0.0.0.0", description="address to listen on")
    port: int = Field(4840, ge=1, le=65535, description="TCP port (4840 is OPC UA's own)")
    security: Literal["none", "basic256sha256"] = Field(
        "basic256sha256", description="basic256sha256 = signed and encrypted, users from the station's users; "
                                      "none = anyone on the network may read (shown as a warning on every screen)")
    results_kept: int = Field(100, ge=1, le=10_000, description="newest results kept in the result management")


class MqttConfig(Section):
    """MQTT: one JSON message per part and a retained station state; empty `url` = none."""

    url: str = Field("", description="broker, e.g. mqtt://broker:1883 or mqtts://broker:8883")
    topic_prefix: str = Field("hmi", min_length=1, max_length=128, pattern=r"^[^#+]*[^#+/]$",
                              description="topics are PREFIX/STATION/result and PREFIX/STATION/state")
    client_id: str = Field("", max_length=64, description="MQTT client id; empty = hmi-STATION")
    username: str = Field("", description="broker user; empty = none")
    password_env: str = Field("HMI_MQTT_PASSWORD", description="environment variable holding the broker password")
    password_file: str = Field("", description="file holding the broker password, readable by the station only (mode 0600)")
    ca_file: str = Field("", description="CA certificate for mqtts://; empty = the system's")
    cert_file: str = Field("", description="client certificate for mqtts:// (optional)")
    key_file: str = Field("", description="client key for mqtts:// (optional)")
    buffer_limit: int = Field(100_000, ge=10, le=10_000_000,
                              description="messages kept while the broker is away; beyond it they are counted and alarmed")

    @model_validator(mode="after")
    def _url_scheme(self) -> "MqttConfig":
        if self.url and not self.url.startswith(("mqtt://", "mqtts://")):
            raise ValueError("mqtt.url must start with mqtt:// or mqtts:// (e.g. mqtt://broker:1883)")
        return self


class UsersConfig(Section):
    """Logins at the station (users themselves live in the records database)."""

    min_pin_length: int = Field(6, ge=6, le=12,
                                description="fewest characters of a new or reset PIN or password (the touchscreen "
                                            "keypad takes up to 12 digits); PINs already set keep working")


class StationConfig(Section):
    """The whole station file (station.toml)."""

    station: StationSection = Field(default_factory=StationSection)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    plc: PlcConfig = Field(default_factory=dict, validate_default=True)  # no [plc]: refused for want of plc.mode
    store: StoreConfig = Field(default_factory=StoreConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    users: UsersConfig = Field(default_factory=UsersConfig)
    shifts: ShiftsConfig = Field(default_factory=ShiftsConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    plant: PlantConfig = Field(default_factory=PlantConfig)
    opcua: OpcuaConfig = Field(default_factory=OpcuaConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)


class RecipeModel(Section):
    """The model a recipe uses, named by folder and pinned by the ONNX file's SHA-256."""

    name: str = Field(..., min_length=1, description="model folder name under models/")
    sha256: str = Field("", pattern=r"^([0-9a-f]{64})?$", description="expected SHA-256 of model.onnx; empty = accept and record")


class RecipeThresholds(Section):
    """The recipe's threshold set (see hmi.decision.policy.ThresholdSet)."""

    version: int = Field(1, ge=1)
    score: float = Field(..., allow_inf_nan=False,
                         description="score at or above which a part is a defect; a finite number inside the "
                                     "model's score range (checked when the model is loaded)")
    hold_below: float = Field(0.0, ge=0, allow_inf_nan=False)
    hold_above: float = Field(0.0, ge=0, allow_inf_nan=False)
    min_defect_area_px: int = Field(0, ge=0)


class InspectionRoi(Section):
    """Region of interest: only pixels inside count; rectangles and polygons in frame pixels."""

    rectangles: list[tuple[int, int, int, int]] = Field(default_factory=list, description="x, y, width, height")
    polygons: list[list[tuple[int, int]]] = Field(default_factory=list, description="lists of x, y points")


class LightingReference(Section):
    """Brightness the recipe was set up with; production compares every N-th frame with it."""

    mean: float = Field(0.0, ge=0, le=255, description="mean grey level of the reference frame; 0 = not set")
    limit_pct: float = Field(15.0, gt=0, le=100, description="lighting-drift alarm beyond this deviation")
    every_n: int = Field(10, ge=1, le=10_000, description="check every N-th part")
    grid: list[Annotated[float, Field(gt=0, le=255)]] = Field(
        default_factory=list, max_length=49,
        description="each cell's brightness as a share of the frame's mean (5 x 5, row by row) when the reference "
                    "was saved; the camera screen's evenness check compares with it; empty = against the centre")


class JudgingTargets(Section):
    """What the recipe asks of its thresholds: good parts rejected and held at most, and what an escape costs."""

    false_reject: float = Field(0.01, gt=0, lt=0.5, description="share of good parts the taught threshold may reject")
    hold_share: float = Field(0.05, ge=0, lt=0.5, description="share of good parts the HOLD band may send to review")
    false_reject_cost: float = Field(1.0, gt=0, description="cost of rejecting one good part")
    escape_cost: float = Field(20.0, gt=0, description="cost of passing one defective part, on the same scale")


Backbone = Literal["float", "int8"]
BACKBONES: tuple[str, ...] = get_args(Backbone)  # the backbone precisions teach offers


class RecipeTeach(Section):
    """How the station teaches this product's models."""

    backbone: Backbone = Field(
        "float", description="the backbone's precision: int8 judges about twice as fast on a CPU station; teach keeps "
                             "it only where the held-out good parts show that it holds the accuracy, else teaches "
                             "float and says why")


class HoldPolicy(Section):
    """What happens to a HOLD part nobody reviews in time."""

    timeout_s: int = Field(300, ge=5, le=86_400)
    default: Literal["OK", "NG"] = "NG"


class Recipe(Section):
    """A product recipe (recipes/NAME.toml)."""

    name: str = Field(..., min_length=1, max_length=64)
    description: str = ""
    model: RecipeModel
    thresholds: RecipeThresholds
    roi: InspectionRoi = Field(default_factory=InspectionRoi)
    exposure_us: float | None = Field(None, gt=0, description="camera exposure for this product; empty = station default")
    gain_db: float | None = Field(None, ge=0, le=48)
    defect_types: list[str] = Field(default_factory=lambda: ["scratch", "dent", "crack", "contamination", "missing material"])
    hold: HoldPolicy = Field(default_factory=HoldPolicy)
    targets: JudgingTargets = Field(default_factory=JudgingTargets)
    teach: RecipeTeach = Field(default_factory=RecipeTeach)
    lighting: LightingReference = Field(default_factory=LightingReference)
    plc_recipe_number: int = Field(0, ge=0, le=255)
    reject_rate_limit: float = Field(0.2, ge=0, le=1, description="alarm when the share of rejects over the last 100 parts exceeds this")

    @model_validator(mode="after")
    def _defect_types_unique(self) -> "Recipe":
        if len(set(self.defect_types)) != len(self.defect_types):
            raise ValueError("defect_types has a name twice")
        return self
