"""Shift windows: midnight, clock changes, current / previous, and plain-word refusals."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from hmi.config.schema import ShiftsConfig
from hmi.core.errors import ConfigError
from hmi.services.reports.shifts import ShiftCalendar


def berlin() -> ShiftCalendar:
    return ShiftCalendar(ShiftsConfig(timezone="Europe/Berlin"))


def test_night_shift_belongs_to_the_day_it_starts_and_ends_next_morning():
    w = berlin().resolve("2024-05-01 night")
    assert w.name == "Night" and w.day == date(2024, 5, 1)
    assert w.start == datetime(2024, 5, 1, 20, 0, tzinfo=timezone.utc)   # 22:00 CEST
    assert w.end == datetime(2024, 5, 2, 4, 0, tzinfo=timezone.utc)      # 06:00 CEST
    assert w.start_text == "2024-05-01T20:00:00.000Z"
    assert w.label == "Night 2024-05-01, 22:00–06:00 Europe/Berlin"


def test_night_shifts_over_the_clock_changes_are_seven_and_nine_hours():
    cal = berlin()
    assert cal.resolve("2024-03-30 Night").hours == 7.0     # clocks go forward on 31 March
    assert cal.resolve("2024-10-26 Night").hours == 9.0     # and back on 27 October
    assert cal.resolve("2024-10-27 Early").hours == 8.0


def test_current_and_previous_follow_the_clock_across_midnight():
    cal = berlin()
    now = datetime(2024, 5, 2, 1, 30, tzinfo=timezone.utc)  # 03:30 local, inside the night from 1 May
    assert cal.current(now).key == "2024-05-01 Night"
    assert cal.previous(now).key == "2024-05-01 Late"
    assert cal.resolve("current", now).key == "2024-05-01 Night"


def test_between_shifts_current_is_the_one_that_ended_last():
    cal = ShiftCalendar(ShiftsConfig(shifts=[{"name": "Day", "start": "07:00", "end": "15:00"}]))
    now = datetime(2024, 5, 2, 20, 0, tzinfo=timezone.utc)
    assert cal.current(now).key == "2024-05-02 Day"
    assert cal.previous(now).key == "2024-05-01 Day"
    assert cal.containing(now) is None


def test_every_shift_of_a_week_in_order_without_gaps():
    cal = berlin()
    start = datetime(2024, 5, 6, 4, 0, tzinfo=timezone.utc)
    week = cal.between(start, datetime(2024, 5, 13, 4, 0, tzinfo=timezone.utc))
    assert len(week) == 21
    assert all(a.end == b.start for a, b in zip(week, week[1:], strict=False))


@pytest.mark.parametrize("text, words", [("2024-05-01 Lunch", "no shift called 'Lunch'"),
                                         ("2024-02-30 Early", "not a calendar date"),
                                         ("yesterday", "is not a shift")])
def test_unknown_shift_or_bad_date_is_refused_in_plain_words(text, words):
    with pytest.raises(ConfigError) as err:
        berlin().resolve(text)
    assert words in err.value.what and err.value.todo
