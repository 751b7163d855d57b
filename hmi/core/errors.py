"""Errors an operator, technician or integrator may see: what happened and what to do next."""

from __future__ import annotations


class StationError(Exception):
    """Base of every error shown to people; carries plain words and the next step."""

    def __init__(self, what: str, todo: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.todo = todo

    def __str__(self) -> str:
        return f"{self.what} — {self.todo}" if self.todo else self.what


class ConfigError(StationError):
    """A station or recipe file, or a --set override, that does not validate."""


class CameraError(StationError):
    """The camera could not be opened, configured or grabbed from."""


class CameraLost(CameraError):
    """The camera vanished (cable, power); the source will try to reconnect."""


class ImageError(StationError):
    """An image file that cannot be read or has the wrong size or type."""


class ModelError(StationError):
    """A model package that is missing, altered, or does not fit the station."""


class PlcError(StationError):
    """The PLC link is down or answered something unexpected."""


class StoreError(StationError):
    """The records database or image store refused a read or write."""


class PermissionDenied(StationError):
    """The logged-in user's role does not allow this action."""
