"""The plant's shifts on the calendar: 'current', 'previous' or 'YYYY-MM-DD NAME' as a UTC time window."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hmi.config.schema import ShiftDefinition, ShiftsConfig
from hmi.core.errors import ConfigError
from hmi.store.database import iso_utc

_DATE_NAME = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[\sT/_]+(.+?)\s*$")


@dataclass(frozen=True)
class ShiftWindow:
    """One worked shift: its name, the local date it started on, and its [start, end) in UTC."""

    name: str
    day: date
    start: datetime
    end: datetime
    timezone: str

    @property
    def key(self) -> str:
        """'2024-05-01 Early': the text `ShiftCalendar.resolve` turns back into this window."""
        return f"{self.day.isoformat()} {self.name}"

    @property
    def hours(self) -> float:
        """Length in hours (7 or 9 on the nights the clocks change)."""
        return (self.end - self.start).total_seconds() / 3600.0

    @property
    def label(self) -> str:
        """'Early 2024-05-01, 06:00–14:00 Europe/Berlin' in the plant's local time."""
        tz = ZoneInfo(self.timezone)
        a, b = self.start.astimezone(tz), self.end.astimezone(tz)
        return f"{self.name} {self.day.isoformat()}, {a:%H:%M}–{b:%H:%M} {self.timezone}"

    @property
    def start_text(self) -> str:
        """Start as stored in the records (ISO-8601 UTC with milliseconds and Z), for range queries."""
        return iso_utc(self.start)  # type: ignore[return-value]

    @property
    def end_text(self) -> str:
        """End as stored in the records, for range queries (exclusive)."""
        return iso_utc(self.end)  # type: ignore[return-value]

    def local(self, moment: datetime) -> datetime:
        """`moment` in the plant's time zone."""
        return moment.astimezone(ZoneInfo(self.timezone))


def _hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


class ShiftCalendar:
    """Turns the configured shifts into UTC windows; a shift across midnight belongs to the date it starts.

    Local wall-clock times are converted with zoneinfo, so a night shift over a clock change is an
    hour shorter or longer, as it was worked. A start time that does not exist on that day (inside the
    spring-forward gap) is taken as the same wall time before the change (zoneinfo's fold=0 rule).
    """

    def __init__(self, config: ShiftsConfig) -> None:
        self.config = config
        self.tz = ZoneInfo(config.timezone)
        self.shifts: tuple[ShiftDefinition, ...] = tuple(config.shifts)

    @property
    def names(self) -> list[str]:
        """The shift names in configured order."""
        return [s.name for s in self.shifts]

    def window(self, day: date, name: str) -> ShiftWindow:
        """The shift `name` that starts on local date `day`; ConfigError for a name not configured."""
        shift = self._shift(name)
        start_t, end_t = _hhmm(shift.start), _hhmm(shift.end)
        end_day = day + timedelta(days=1) if end_t <= start_t else day
        start = datetime.combine(day, start_t, tzinfo=self.tz).astimezone(timezone.utc)
        end = datetime.combine(end_day, end_t, tzinfo=self.tz).astimezone(timezone.utc)
        return ShiftWindow(shift.name, day, start, end, self.config.timezone)

    def _shift(self, name: str) -> ShiftDefinition:
        wanted = name.strip().casefold()
        for s in self.shifts:
            if s.name.casefold() == wanted:
                return s
        raise ConfigError(f"there is no shift called '{name.strip()}'",
                          f"use one of the configured shifts: {', '.join(self.names)}")

    def between(self, start: datetime, end: datetime) -> list[ShiftWindow]:
        """Every shift that starts in [start, end), in time order."""
        first = start.astimezone(self.tz).date() - timedelta(days=1)
        last = end.astimezone(self.tz).date()
        found = []
        day = first
        while day <= last:
            for s in self.shifts:
                w = self.window(day, s.name)
                if start <= w.start < end:
                    found.append(w)
            day += timedelta(days=1)
        return sorted(found, key=lambda w: w.start)

    def _around(self, now: datetime) -> list[ShiftWindow]:
        return self.between(now - timedelta(days=3), now + timedelta(days=1))

    def current(self, now: datetime | None = None) -> ShiftWindow:
        """The shift in progress at `now`; between shifts, the one that ended last."""
        now = _aware(now)
        windows = self._around(now)
        running = [w for w in windows if w.start <= now < w.end]
        if running:
            return running[-1]
        return [w for w in windows if w.end <= now][-1]

    def previous(self, now: datetime | None = None) -> ShiftWindow:
        """The shift before the current one."""
        now = _aware(now)
        current = self.current(now)
        earlier = [w for w in self._around(now) if w.start < current.start]
        return earlier[-1]

    def resolve(self, text: str, now: datetime | None = None) -> ShiftWindow:
        """'current', 'previous' or 'YYYY-MM-DD NAME' as a window; ConfigError in plain words otherwise."""
        spoken = (text or "").strip()
        if spoken.casefold() == "current":
            return self.current(now)
        if spoken.casefold() == "previous":
            return self.previous(now)
        m = _DATE_NAME.match(spoken)
        if not m:
            raise ConfigError(f"'{spoken}' is not a shift",
                              f"say 'current', 'previous', or a date and shift name such as "
                              f"'2024-05-01 {self.names[0]}'")
        try:
            day = date.fromisoformat(m.group(1))
        except ValueError:
            raise ConfigError(f"'{m.group(1)}' is not a calendar date",
                              "write the date as YYYY-MM-DD, e.g. 2024-05-01") from None
        return self.window(day, m.group(2))

    def containing(self, moment: datetime) -> ShiftWindow | None:
        """The shift whose window holds `moment`, or None when it falls between shifts."""
        moment = _aware(moment)
        hits = [w for w in self.between(moment - timedelta(days=2), moment + timedelta(days=1))
                if w.start <= moment < w.end]
        return hits[-1] if hits else None


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
