"""The four verdicts a part can get, with the PLC's numeric codes."""

from __future__ import annotations

from enum import IntEnum


class Verdict(IntEnum):
    """A part's fate; the integer is the code written to the PLC (DESIGN.md, DB 100)."""

    OK = 1
    NG = 2
    HOLD = 3
    NOT_INSPECTED = 4

    @property
    def is_reject(self) -> bool:
        """True when the part must leave the line as bad without review (NG, NOT_INSPECTED)."""
        return self in (Verdict.NG, Verdict.NOT_INSPECTED)

    @property
    def label(self) -> str:
        """Text shown to people: 'NOT INSPECTED' rather than the enum name."""
        return self.name.replace("_", " ")
