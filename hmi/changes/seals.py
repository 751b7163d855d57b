"""Settings changed behind the station's back: found at start against their seals, refused until accepted.

What decides a verdict (station.toml, each recipe file, the users table) is sealed by the station with each
change it makes itself (hmi.store.seals). At start `changes()` compares what is there now with the seals;
a station with unaccepted changes inspects nothing (every part NOT_INSPECTED) until a technician or admin
accepts them with their signature (`accept`), which is audited with the old and new value of every changed key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmi.config.loader import RECIPES_DIR, STATION_FILE, load_recipe, load_station, read_toml, recipe_path
from hmi.core.errors import ConfigError, PermissionDenied, StationError
from hmi.store.audit import AuditAction, AuditRequest
from hmi.store.seals import PIN_KEY, USERS, SealBook, digest, sealed_secret_matches
from hmi.store.thresholds import ThresholdLog
from hmi.store.users import STATION, Permission, Role, User, UserDirectory, require

log = logging.getLogger(__name__)

STATION_SUBJECT = "station.toml"
RECIPE_PREFIX = "recipe "
SIGNERS = (Role.TECHNICIAN.value, Role.ADMIN.value)
ACCEPT_HOW = ("a technician or admin accepts them with their signature on the station's screen (or at the console: "
              "hmi seals accept --user NAME), or put the files back as they were; until then every part is "
              "rejected as NOT INSPECTED")
_GONE = object()


def recipe_subject(name: str) -> str:
    """The seal subject of recipe `name`: 'recipe NAME'."""
    return RECIPE_PREFIX + name


def flatten(content: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as dotted keys: {'plc': {'mode': 'off'}} -> {'plc.mode': 'off'}."""
    flat: dict[str, Any] = {}
    for key, value in content.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _shown(key: str, value: Any) -> Any:
    """A value as the screen and the audit trail show it: a PIN hash never as text."""
    if value is _GONE:
        return None
    return "(PIN hash)" if key.endswith("." + PIN_KEY) else value


@dataclass(frozen=True)
class SettingChange:
    """One sealed subject whose content differs from its seal: old and new values by dotted key."""

    subject: str
    where: str
    old: dict[str, Any]
    new: dict[str, Any]
    kind: str = "changed"  # changed | new (no seal: not made by the station) | removed (sealed, now missing)

    @property
    def keys(self) -> list[str]:
        """The dotted keys whose value differs (added and removed keys too)."""
        return sorted(k for k in {*self.old, *self.new} if self.old.get(k, _GONE) != self.new.get(k, _GONE))

    def summary(self, most: int = 6) -> str:
        """'recipe demo: thresholds.score, thresholds.version' (at most `most` keys named)."""
        if self.kind == "new":
            return f"{self.subject} (a new file the station did not write)"
        if self.kind == "removed":
            return f"{self.subject} (removed)"
        keys = self.keys
        more = f" and {len(keys) - most} more" if len(keys) > most else ""
        return f"{self.subject}: {', '.join(keys[:most])}{more}"

    def values(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(old, new) values of the changed keys only, as the audit trail keeps them."""
        keys = self.keys
        return ({k: _shown(k, self.old.get(k, _GONE)) for k in keys},
                {k: _shown(k, self.new.get(k, _GONE)) for k in keys})

    def lines(self) -> list[str]:
        """One line per changed key: 'thresholds.score: 0.3 → 1000'."""
        old, new = self.values()
        if any(k.endswith("." + PIN_KEY) for k in self.keys):
            old = {k: ("…" if v is not None and k.endswith("." + PIN_KEY) else v) for k, v in old.items()}
            new = {k: ("changed" if v is not None and k.endswith("." + PIN_KEY) else v) for k, v in new.items()}
        return [f"{k}: {'(none)' if old[k] is None else old[k]} → {'(removed)' if new[k] is None else new[k]}"
                for k in self.keys]


class UnacceptedChanges(StationError):
    """Settings changed outside the station wait for a technician's or admin's signature."""

    def __init__(self, changes: list[SettingChange]) -> None:
        self.changes = changes
        super().__init__("settings changed outside the station are not accepted: "
                         + "; ".join(c.summary() for c in changes), ACCEPT_HOW)


class SettingSeals:
    """Checks the station file, the recipes and the users against their seals; seals the station's own changes.

    `after_accept(signer)` (set by the composition root) puts the accepted setting in force.
    """

    def __init__(self, data_dir: Path, book: SealBook, users: UserDirectory | None,
                 threshold_log: ThresholdLog | None = None) -> None:
        self.data_dir = data_dir
        self.book = book
        self.users = users
        self.threshold_log = threshold_log
        self.after_accept: Callable[[User], Any] | None = None

    # --- what is there now -------------------------------------------------------------------
    def found(self) -> dict[str, dict[str, Any]]:
        """The content of every sealable subject as it is now, by subject."""
        found = {STATION_SUBJECT: self._file(self.data_dir / STATION_FILE)}
        folder = self.data_dir / RECIPES_DIR
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            found[recipe_subject(path.stem)] = self._file(path)
        found[USERS] = self.book.users_now()
        return found

    @staticmethod
    def _file(path: Path) -> dict[str, Any]:
        try:
            return read_toml(path)
        except ConfigError as exc:
            return {"(file)": f"cannot be read: {exc.what}"}

    def _where(self, subject: str) -> str:
        if subject == USERS:
            return "the users table of the records database"
        if subject == STATION_SUBJECT:
            return str(self.data_dir / STATION_FILE)
        return str(self.data_dir / RECIPES_DIR / f"{subject[len(RECIPE_PREFIX):]}.toml")

    def changes(self, found: dict[str, dict[str, Any]] | None = None) -> list[SettingChange]:
        """Every subject whose content differs from its seal (none before the station first sealed anything)."""
        if not self.book.ever_sealed():
            return []
        found = self.found() if found is None else found
        seals = self.book.seals()
        out: list[SettingChange] = []
        for subject, content in found.items():
            seal = seals.get(subject)
            if seal is None:
                out.append(SettingChange(subject, self._where(subject), {}, flatten(content), "new"))
            elif seal.sha256 != digest(content):
                out.append(SettingChange(subject, self._where(subject), flatten(seal.content), flatten(content)))
        for subject, seal in seals.items():
            if subject not in found:
                out.append(SettingChange(subject, self._where(subject), flatten(seal.content), {}, "removed"))
        return out

    # --- sealing -----------------------------------------------------------------------------
    def seal_first_start(self) -> bool:
        """On a station that never sealed anything (a new data folder, or the first start of this version),
        seal everything as found, audited as the station's own act; True when it did."""
        if self.book.ever_sealed():
            return False
        found = self.found()
        self.book.seal(found, STATION, (AuditRequest(
            STATION, AuditAction.SETTINGS_SEALED, ", ".join(found), None,
            {subject: digest(content) for subject, content in found.items()},
            "first start with seals: the station file, the recipes and the users sealed as found"),))
        log.info("sealed as found: %s", ", ".join(found))
        return True

    def check_recipe(self, name: str) -> None:
        """UnacceptedChanges when recipe `name`'s file differs from its seal (a file not there yet is fine)."""
        subject = recipe_subject(name)
        path = recipe_path(self.data_dir, name)
        if not self.book.ever_sealed() or (not path.exists() and subject not in self.book.seals()):
            return
        changed = self.changes({subject: self._file(path)} if path.exists() else {})
        mine = [c for c in changed if c.subject == subject]
        if mine:
            raise UnacceptedChanges(mine)

    def recipe_accepted(self, name: str) -> bool:
        """True when recipe `name`'s file matches its seal."""
        try:
            self.check_recipe(name)
        except UnacceptedChanges:
            return False
        return True

    def reseal_recipe(self, name: str, by: str) -> None:
        """Seal recipe `name`'s file as the station has just written it (a signed or audited change of `by`)."""
        if self.book.ever_sealed():
            self.book.seal({recipe_subject(name): self._file(recipe_path(self.data_dir, name))}, by)

    # --- accepting ---------------------------------------------------------------------------
    def accept(self, name: str, secret: str, reason: str) -> list[SettingChange]:
        """Accept every change waiting, signed by `name` with `secret` (technician or admin): audited with the
        old and new values, sealed, then put in force. PermissionDenied / StationError in plain words."""
        reason = (reason or "").strip()
        if not reason:
            raise StationError("accepting a change needs a reason", "say why the change is right, then sign again")
        if self.users is None:
            raise StationError("this station runs without records, so nobody can sign", "start it in production mode")
        found = self.found()
        pending = self.changes(found)
        if not pending:
            raise StationError("nothing waits to be accepted: every setting matches its seal", "carry on")
        signer = self.users.sign(name, secret, "accept " + "; ".join(c.summary(3) for c in pending))
        require(signer, Permission.ACCEPT_CHANGES)
        self._refuse_changed_signer(signer, secret, pending)
        self._refuse_unusable(pending)
        self._record_thresholds(pending, signer, reason)
        audit = tuple(AuditRequest(signer.name, AuditAction.SETTING_ACCEPT, c.subject, *c.values(),
                                   f"{reason} (changed outside the station: {c.where})") for c in pending)
        self.book.seal({c.subject: None if c.kind == "removed" else found[c.subject] for c in pending},
                       signer.name, audit)
        log.info("accepted by %s: %s", signer.name, "; ".join(c.summary() for c in pending))
        if self.after_accept is not None:
            try:
                self.after_accept(signer)
            except StationError as exc:
                raise StationError(f"the changes were accepted, but the recipe could not be put in force: "
                                   f"{exc.what}", exc.todo) from None
        return pending

    def _refuse_changed_signer(self, signer: User, secret: str, pending: list[SettingChange]) -> None:
        """With the users table changed outside the station, only someone it had sealed as a technician or
        admin (with the PIN it had sealed), or an admin restored at the console since, may accept."""
        if not any(c.subject == USERS and c.kind == "changed" for c in pending):
            return
        seal = self.book.seals()[USERS]
        sealed = next((v for k, v in seal.content.items() if k.casefold() == signer.name.casefold()), None)
        trusted = (sealed is not None and sealed.get("role") in SIGNERS and sealed.get("active")
                   and sealed_secret_matches(sealed, secret))
        if not trusted and not self.book.recovered_since(signer.name, seal.audit_id):
            raise PermissionDenied(f"{signer.name}'s own entry in the users table was changed outside the station, "
                                   f"so {signer.name} cannot accept that change",
                                   "ask a technician or admin whose entry was not changed, or restore an admin at "
                                   "the console (hmi users recover-admin NAME --reason TEXT)")

    def _refuse_unusable(self, pending: list[SettingChange]) -> None:
        """StationError (ConfigError) when a changed file would not load: nothing is accepted then."""
        for change in pending:
            if change.kind == "removed":
                continue
            if change.subject == STATION_SUBJECT:
                load_station(self.data_dir)
            elif change.subject.startswith(RECIPE_PREFIX):
                self._refuse_threshold_clash(load_recipe(self.data_dir, change.subject[len(RECIPE_PREFIX):]))

    def _refuse_threshold_clash(self, recipe) -> None:
        if self.threshold_log is None:
            return
        t = recipe.thresholds
        values = t.model_dump(exclude={"version"})
        known = {r.version: r for r in self.threshold_log.history(recipe.name)}
        if t.version in known and known[t.version].values != values:
            raise StationError(f"recipe {recipe.name} declares threshold version {t.version} with values other than "
                               f"those recorded for it ({known[t.version].values})",
                               f"give the file a new version number (above {max(known)}), or put the file back")
        if t.version not in known and known and t.version < max(known):
            raise StationError(f"recipe {recipe.name} declares threshold version {t.version}, older than the "
                               f"recorded version {max(known)}", f"give the file version {max(known) + 1}")

    def _record_thresholds(self, pending: list[SettingChange], signer: User, reason: str) -> None:
        """Record each accepted recipe's threshold version in the signer's name (not the station's)."""
        if self.threshold_log is None:
            return
        for change in pending:
            if change.kind == "removed" or not change.subject.startswith(RECIPE_PREFIX):
                continue
            recipe = load_recipe(self.data_dir, change.subject[len(RECIPE_PREFIX):])
            t = recipe.thresholds
            if not any(r.version == t.version for r in self.threshold_log.history(recipe.name)):
                self.threshold_log.record(recipe.name, t.version, t.model_dump(exclude={"version"}), signer,
                                          f"{reason} (accepted from {change.where})")

    def close(self) -> None:
        """Release the seal book's connections."""
        self.book.close()


__all__ = ["SettingChange", "SettingSeals", "UnacceptedChanges", "flatten", "recipe_subject"]
