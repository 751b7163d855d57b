"""One alarm catalogue: each alarm declared once, raised only from there, on the tile it names; health is read-only."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path
from types import SimpleNamespace

import pytest

import hmi
from hmi.core import alarm_catalogue
from hmi.core.alarm_catalogue import CATALOGUE, WORKER_OTHER, AlarmSpec, Tile, worker_alarm
from hmi.core.alarms import Alarm, AlarmBoard, Priority
from hmi.core.part import utc_now
from hmi.pipeline.supervisor import Supervisor, WorkerHealth
from hmi.pipeline.worker import Worker, WorkerState
from hmi.ui.health import Level, station_health
from tests.support.waiting import wait_for

HMI = Path(hmi.__file__).parent
DOCS = HMI.parent / "docs"


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(HMI.rglob("*.py"))]


def _sample(spec: AlarmSpec) -> dict[str, object]:
    """A value for every field the spec's templates name (a number where it is formatted as one)."""
    facts: dict[str, object] = {}
    for template in (spec.text, spec.action):
        for _, field, fmt, _ in string.Formatter().parse(template):
            if field:
                facts[field] = 0.5 if fmt else "x"
    return facts


def test_every_code_is_declared_once_under_its_own_name():
    tree = ast.parse(Path(alarm_catalogue.__file__).read_text(encoding="utf-8"))
    declared = [(node.targets[0].id, node.value.args[0].value) for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "AlarmSpec"]
    codes = [code for _, code in declared]
    assert len(codes) == len(set(codes)), f"declared twice: {sorted({c for c in codes if codes.count(c) > 1})}"
    assert all(name == code for name, code in declared)
    assert codes == list(CATALOGUE)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", code) for code in codes)


def test_alarms_are_made_only_in_the_catalogue_and_every_raise_names_a_catalogued_alarm():
    made_elsewhere, raised_otherwise = [], []
    for path, tree in _modules():
        where = path.relative_to(HMI.parent)
        catalogued = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                      and node.module == "hmi.core.alarm_catalogue" for a in node.names}
        from_worker_alarm = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                             and isinstance(node.value, ast.Call)
                             and getattr(node.value.func, "id", "") == "worker_alarm"
                             for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            if getattr(node.func, "id", "") == "AlarmSpec" and path.name != "alarm_catalogue.py":
                made_elsewhere.append(f"{where}:{node.lineno}")
            # QWidget.raise_() takes nothing; an alarm's raise_ always names its spec.
            if getattr(node.func, "attr", "") == "raise_" and path.name != "alarms.py" and node.args:
                first = node.args[0]
                if not (isinstance(first, ast.Name) and first.id in catalogued | from_worker_alarm):
                    raised_otherwise.append(f"{where}:{node.lineno}")
    assert not made_elsewhere, f"alarms declared outside the catalogue: {made_elsewhere}"
    assert not raised_otherwise, f"raised with something not from the catalogue: {raised_otherwise}"


def test_each_alarm_says_what_happened_and_what_to_do_and_fills_in():
    for spec in CATALOGUE.values():
        assert spec.text and spec.action, spec.code
        text = spec.message(**_sample(spec))
        assert " — " in text and not text[0].islower(), spec.code
        assert (spec.tile is None) == (spec.tile_word == ""), f"{spec.code}: a tile needs its word, and only a tile"


def test_the_board_takes_code_priority_and_words_from_the_catalogue():
    board = AlarmBoard()
    spec = CATALOGUE["PLC_LINK"]
    board.raise_(spec, address="10.0.0.9:102")
    (alarm,) = board.snapshot()
    assert (alarm.code, alarm.priority) == ("PLC_LINK", Priority.HIGH)
    assert alarm.message == ("PLC 10.0.0.9:102 not answering: parts are being rejected — check the cable and the "
                             "PLC's power; the station reconnects by itself")
    assert board.is_active(spec) and board.is_active("PLC_LINK")
    board.clear(spec)
    assert not board.is_active(spec)


def test_every_alarm_is_in_the_integrators_alarm_list():
    listed = (DOCS / "alarms.md").read_text(encoding="utf-8")
    assert [code for code in CATALOGUE if f"`{code}`" not in listed] == []


# --- the status tiles ------------------------------------------------------------------------------
_ROLES = ("capture", "inference", "plc", "store", "images", "holds", "recipe requests")


def _status(alarms=(), failed=()):
    workers = [WorkerHealth(r, WorkerState.FAILED if r in failed else WorkerState.RUNNING, "") for r in _ROLES]
    return SimpleNamespace(alarms=list(alarms), workers=workers, capture=SimpleNamespace(fps=0.0))


def _tiles(status) -> dict[str, tuple[Level, str]]:
    return {h.name: (h.level, h.text) for h in station_health(status, has_model=True)}


def test_each_alarm_colours_the_tile_the_catalogue_names_and_no_other():
    assert [name for name in _tiles(_status())] == [t.value for t in Tile]
    assert set(_tiles(_status()).values()) == {(Level.OK, "OK")}
    for spec in CATALOGUE.values():
        tiles = _tiles(_status([Alarm(spec.code, spec.priority, "", utc_now())]))
        expected = {t.value: (Level.OK, "OK") for t in Tile}
        if spec.tile is not None:
            level = Level.FAULT if spec.priority is Priority.HIGH else Level.WARN
            expected[spec.tile.value] = (level, spec.tile_word)
        assert tiles == expected, spec.code


def test_a_failed_thread_colours_its_tile_and_the_more_urgent_alarm_wins_a_tile():
    assert _tiles(_status(failed=["plc"]))["PLC"] == (Level.FAULT, "STOPPED")
    assert _tiles(_status(failed=["recipe requests"])) == _tiles(_status())  # on no tile: the alarm zone says it
    low = Alarm("DISK_LOW", Priority.MEDIUM, "", utc_now())
    write = Alarm("STORE_WRITE", Priority.HIGH, "", utc_now())
    assert _tiles(_status([low]))["Disk"] == (Level.WARN, "LOW")
    assert _tiles(_status([low, write]))["Disk"] == (Level.FAULT, "FAULT")


# --- worker alarms, raised by the supervisor's own thread ----------------------------------------
class _Broken(Worker):
    """Fails on its first step."""

    def loop_once(self) -> None:
        raise RuntimeError("wiring fault")



@pytest.mark.expected_errors("failed: wiring fault")
def test_reading_health_raises_nothing_and_the_supervisor_alarms_a_failed_thread_once_with_a_clean_code():
    board = AlarmBoard()
    raised: list[Alarm] = []
    board.subscribe(raised.append)
    sup = Supervisor(board)
    broken = sup.add(_Broken(role="recipe requests"))
    broken.start()
    assert broken.join(5)
    for _ in range(3):
        assert [h.state for h in sup.health()] == [WorkerState.FAILED] and sup.failed()
    assert raised == []  # reading health has no side effect
    sup.check()
    sup.check()
    assert [(a.code, a.priority) for a in raised] == [("WORKER_RECIPE_REQUESTS", Priority.HIGH)]
    assert raised[0].message.startswith("The thread that follows the PLC's recipe requests stopped: recipe requests "
                                        "stopped on an internal error (RuntimeError: wiring fault)")


@pytest.mark.expected_errors("failed: wiring fault")
def test_the_supervisors_thread_alarms_failures_of_its_own_and_of_watched_workers():
    board = AlarmBoard()
    sup = Supervisor(board)
    sup.add(_Broken(role="capture"))
    outside = _Broken(role="label printer")  # a stage that starts its own workers: watched only
    sup.watch(outside)
    sup.start()
    outside.start()
    try:
        wait_for(lambda: board.is_active("WORKER_CAPTURE") and board.is_active(WORKER_OTHER), "both alarms")
    finally:
        sup.stop()
        outside.join(5)
    assert "label printer (label printer stopped on an internal error" in next(a.message for a in board.snapshot()
                                                           if a.code == WORKER_OTHER.code)
    assert worker_alarm("capture").tile is Tile.CAMERA and worker_alarm("label printer") is WORKER_OTHER
    assert worker_alarm("mqtt").priority is Priority.MEDIUM  # a plant output failing never rejects parts
