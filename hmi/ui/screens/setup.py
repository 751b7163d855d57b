"""Setup (technicians and admins): the setup in force, read from the station; operators are kept out by the window."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QPushButton, QWidget

from hmi.config.schema import Recipe, StationConfig
from hmi.decision.policy import ThresholdSet, area_words, hold_words, score_text
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import fill_table, label, panel, read_only_table

# The technician tools the setup screen opens, in the order a product is set up.
TOOLS = {
    "camera": ("Camera and lighting", "exposure, gain, focus, uniformity, lighting reference"),
    "roi": ("Inspection area", "rectangles and polygons the model judges"),
    "thresholds": ("Thresholds", "score limits with their consequences, signed"),
    "teach": ("Teach", "a model from good parts; activate or go back to an earlier one"),
    "recipes": ("Recipes", "products: create, copy, edit, change over"),
}

# The one signature policy, as hmi.changes.setup enforces it; the setup screen says it in these words.
SIGNATURE_POLICY = ("Signed with a technician's PIN and a reason, in the audit trail: thresholds, inspection area, "
                    "model, camera exposure and gain, recipe changeover. Recipe edits and the lighting reference "
                    "need a technician and are audited with their name.")


def threshold_words(t: ThresholdSet) -> str:
    """The set in force as the setup screen says it: NG limit first."""
    return f"version {t.version}: NG from score {score_text(t.ng_from)}, {hold_words(t)}{area_words(t)}"


def setup_fields(cfg: StationConfig, recipe: Recipe, setup, backend: str) -> list[tuple[str, str]]:
    """The settings a technician checks before changing any: recipe, model, thresholds, camera, PLC, holds."""
    t = setup.thresholds
    roi = recipe.roi
    ins = setup.inspector
    return [
        ("Recipe", f"{recipe.name} — {recipe.description}" if recipe.description else recipe.name),
        ("Model", f"{recipe.model.name}" + (f" ({ins.package.sha256[:12]})" if ins is not None else
                                            f" — NOT LOADED: {setup.problem}")),
        ("Inference backend", backend),
        ("Threshold set", threshold_words(t)),
        ("Defect outlines from", f"map level {score_text(ins.region_threshold)}" if ins is not None else "—"),
        ("Inspection area", f"{len(roi.rectangles)} rectangles, {len(roi.polygons)} polygons"
                            if (roi.rectangles or roi.polygons) else "whole frame"),
        ("Defect types", ", ".join(recipe.defect_types)),
        ("HOLD review", f"within {recipe.hold.timeout_s} s, else {recipe.hold.default}"),
        ("Reject-rate alarm", f"above {recipe.reject_rate_limit * 100:.0f} % of the last 100 parts"),
        ("Camera", f"{cfg.camera.kind}, trigger {cfg.camera.trigger}, "
                   f"exposure {recipe.exposure_us or cfg.camera.exposure_us:.0f} µs, "
                   f"gain {recipe.gain_db if recipe.gain_db is not None else cfg.camera.gain_db:.1f} dB"),
        ("PLC", f"{cfg.plc.mode}, {cfg.plc.host}:{cfg.plc.port}, DB {cfg.plc.db}, "
                f"hold lane {'yes' if cfg.plc.hold_lane else 'no'}"),
        ("Station mode", cfg.station.mode),
        ("Touch panel", f"{cfg.ui.panel_dpi:.0f} dpi, targets ≥ {cfg.ui.min_touch_mm:.0f} mm "
                        f"(main actions ≥ {cfg.ui.min_primary_mm:.0f} mm), "
                        f"auto-lock after {cfg.ui.idle_lock_s} s"),
    ]


class SetupScreen(QWidget):
    """The setup in force, for technicians; changes go through the technician tools, signed and audited."""

    tool_requested = Signal(str)

    def __init__(self, touch: TouchSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = read_only_table(["Setting", "In force"])
        box, col = panel("Setup in force")
        col.addWidget(label(f"What the station judges by right now. {SIGNATURE_POLICY}", "dim", wrap=True))
        col.addWidget(self.table, 1)
        tools, tools_col = panel("Technician tools")
        grid = QGridLayout()
        tools_col.addLayout(grid)
        self.tool_buttons: dict[str, QPushButton] = {}
        for i, (name, (title, what)) in enumerate(TOOLS.items()):
            b = button(title, touch, tall=1.3)
            b.setToolTip(what)
            b.clicked.connect(lambda _=False, n=name: self.tool_requested.emit(n))
            self.tool_buttons[name] = b
            grid.addWidget(b, i, 0)
            grid.addWidget(label(what, "dim", wrap=True), i, 1)
        tools_col.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(box, 3)
        row.addWidget(tools, 2)

    def show_setup(self, fields: list[tuple[str, str]]) -> None:
        """Fill the table."""
        fill_table(self.table, fields)

    def show_tools(self, allowed: dict[str, bool]) -> None:
        """Enable the tools the logged-in user may use."""
        for name, b in self.tool_buttons.items():
            b.setEnabled(allowed.get(name, False))
