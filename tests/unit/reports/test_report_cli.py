"""`hmi report` builds on a report thread of its own (nice 19, SCHED_IDLE) and stops it when done."""

from __future__ import annotations

import threading

import pytest

from hmi.cli import report as report_cli
from hmi.cli.entry import build_parser
from hmi.core.errors import StationError
from hmi.services.reports.background import THREAD_NAME


def _report_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_NAME) and t.is_alive()]


def _args(data_dir, shift: str):
    return build_parser().parse_args(["report", "--shift", shift, "--data-dir", str(data_dir)])


def test_the_report_is_built_on_a_report_thread_that_ends_with_the_command(known_shift, monkeypatch, capsys):
    built_on: list[str] = []
    build = report_cli._build

    def watched(args, data_dir):
        built_on.append(threading.current_thread().name)
        return build(args, data_dir)

    monkeypatch.setattr(report_cli, "_build", watched)
    assert report_cli._report(_args(known_shift, "2026-03-02 Early"), known_shift) == 0
    assert built_on == [THREAD_NAME]
    assert "Shift report" in capsys.readouterr().out
    assert _report_threads() == []


def test_a_report_that_fails_says_so_and_leaves_no_thread(known_shift):
    with pytest.raises(StationError):
        report_cli._report(_args(known_shift, "no such shift"), known_shift)
    assert _report_threads() == []
