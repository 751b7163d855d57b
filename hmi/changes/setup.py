"""The one owner of the setup in force: every technician change is checked, saved, put in force and audited here.

The screens (through the station) and the PLC's recipe request call these methods from their own
threads; a lock keeps one change at a time. A change either happens whole — recipe file written,
model loaded, setup swapped for the next part, audit entry queued — or not at all, with a plain
message saying why.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hmi.inference.loading import find_model, judging_setup, load_inspector, model_roots
from hmi.config.loader import RECIPES_DIR, load_recipe, save_recipe
from hmi.config.schema import InspectionRoi, Recipe, RecipeThresholds, StationConfig
from hmi.core.errors import ConfigError, PermissionDenied, StationError
from hmi.core.part import CameraSettings
from hmi.inference.package import ModelPackage, threshold_problem
from hmi.inference.worker import ActiveSetup
from hmi.store.audit import AuditAction
from hmi.store.thresholds import STATION, ThresholdLog
from hmi.store.users import Permission, User, require

log = logging.getLogger(__name__)

RECIPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NO_RECORDS = StationError("this station runs without records, so nobody can sign a change",
                          "restart it in production mode to change the setup")


@dataclass(frozen=True)
class ModelInfo:
    """A model package the station can put in force: where it is and what it was taught on."""

    name: str
    folder: Path
    kind: str
    sha256: str
    input_size: str
    taught_on: str
    images: int
    threshold: float
    shipped: bool
    problem: str = ""
    backbone: str = "float"  # the backbone's precision ("int8" for a model taught and kept in INT8)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise StationError("a change to the setup needs a reason", "say why you change it, then apply again")
    return reason


class CameraTrial:
    """Camera writes under one signature: steps are written and read back, `keep` saves and audits one of them."""

    def __init__(self, write: Callable[[float | None, float | None], CameraSettings],
                 keep: Callable[[CameraSettings], CameraSettings], start: CameraSettings) -> None:
        self._write, self._keep, self.start = write, keep, start

    def write(self, *, exposure_us: float | None = None, gain_db: float | None = None) -> CameraSettings:
        """Write a step to the camera (not yet kept in the recipe); the camera's read-back values."""
        return self._write(exposure_us, gain_db)

    def keep(self, settings: CameraSettings) -> CameraSettings:
        """Keep `settings` in the recipe in force, audited under the signer with the reason."""
        return self._keep(settings)

    def undo(self) -> CameraSettings:
        """Write back the settings the camera had when the trial was signed (nothing kept, nothing audited)."""
        return self._write(self.start.exposure_us, None if self.start.gain_db != self.start.gain_db else self.start.gain_db)


class SetupChanges:
    """Changes thresholds, inspection area, model, camera, lighting reference and recipe of the running station."""

    def __init__(self, cfg: StationConfig, data_dir: Path, recipe: Recipe, active: ActiveSetup, *,
                 audit: Callable[..., None], users: Any | None, threshold_log: ThresholdLog | None,
                 camera: Callable[[Callable[[Any], Any]], Any] | None = None, seals: Any | None = None) -> None:
        self.cfg = cfg
        self.data_dir = data_dir
        self._recipe = recipe
        self.active = active
        self._audit = audit
        self.users = users
        self.threshold_log = threshold_log
        self.camera = camera
        self.seals = seals  # hmi.changes.seals.SettingSeals: recipe files checked and sealed with each change
        self._lock = threading.RLock()
        if threshold_log is not None and (seals is None or seals.recipe_accepted(recipe.name)):
            # The version a recipe file declares is recorded once; a file edited by hand under an old
            # version number is refused here rather than judged by silently.
            threshold_log.ensure(recipe.name, recipe.thresholds.version, self._threshold_values(recipe.thresholds),
                                 f"recipe file {recipe.name}.toml")

    # --- reading -----------------------------------------------------------------------------
    @property
    def recipe(self) -> Recipe:
        """The recipe in force."""
        with self._lock:
            return self._recipe

    def recipe_names(self) -> list[str]:
        """The recipes on this station, by name."""
        folder = self.data_dir / RECIPES_DIR
        return sorted(p.stem for p in folder.glob("*.toml"))

    def load(self, name: str) -> Recipe:
        """A recipe as its file says (ConfigError in plain words when missing or invalid)."""
        return load_recipe(self.data_dir, name)

    def models(self) -> list[ModelInfo]:
        """Every model package the station can use, its own first; a damaged one is listed with its problem."""
        found: list[ModelInfo] = []
        seen: set[str] = set()
        own, shipped = model_roots(self.data_dir)
        for root in (own, shipped):
            if not root.is_dir():
                continue
            for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if folder.name in seen or not (folder / "manifest.json").exists():
                    continue
                seen.add(folder.name)
                found.append(self._model_info(folder, root == shipped))
        return found

    @staticmethod
    def _model_info(folder: Path, shipped: bool) -> ModelInfo:
        try:
            package = ModelPackage.load(folder)
        except StationError as exc:
            return ModelInfo(folder.name, folder, "?", "", "", "", 0, 0.0, shipped, str(exc))
        m = package.manifest
        return ModelInfo(m.name if m.name == folder.name else folder.name, folder, m.kind, package.sha256,
                         (f"scale {m.geometry.scale:.2g}" if m.geometry is not None
                          else f"{m.input.width}x{m.input.height}"), m.training.date, m.training.images,
                         m.thresholds.score, shipped, backbone=m.backbone_precision)

    # --- signatures --------------------------------------------------------------------------
    def sign(self, user: User, secret: str, permission: Permission, meaning: str) -> User:
        """Check the role and the re-entered PIN (electronic signature); PermissionDenied in plain words."""
        require(user, permission)
        if self.users is None:
            raise NO_RECORDS
        signer = self.users.sign(user.name, secret, meaning)
        require(signer, permission)  # the role as stored now, not as it was at login
        return signer

    # --- changes that need a signature -------------------------------------------------------
    def apply_thresholds(self, proposal: RecipeThresholds, user: User, secret: str, reason: str) -> Recipe:
        """Put a new threshold-set version in force (signed, recorded, audited); the next part names it."""
        reason = _reason(reason)
        with self._lock:
            current = self._recipe
            self._refuse_unusable(current, proposal)  # before the signature: nothing is signed for a set never used
            signer = self.sign(user, secret, Permission.THRESHOLDS, f"threshold change on recipe {current.name}")
            version = current.thresholds.version + 1
            if self.threshold_log is not None:
                last = self.threshold_log.latest(current.name)
                version = max(version, (last.version + 1) if last else 1)
            new_t = RecipeThresholds(version=version, score=proposal.score, hold_below=proposal.hold_below,
                                     hold_above=proposal.hold_above, min_defect_area_px=proposal.min_defect_area_px)
            values = self._threshold_values(new_t)
            if self.threshold_log is not None:
                # Recorded and audited (old -> new, reason, signer) in one transaction of the records database.
                self.threshold_log.record(current.name, version, values, signer, reason)
            else:
                self._audit(signer.name, AuditAction.THRESHOLD_CHANGE, f"recipe {current.name}",
                            {"version": current.thresholds.version, **self._threshold_values(current.thresholds)},
                            {"version": version, **values}, reason)
            recipe = current.model_copy(update={"thresholds": new_t})
            self._put_in_force(recipe, reload_model=False)
            log.info("threshold set %d of recipe %s put in force by %s: %s", version, recipe.name, signer.name, values)
            return recipe

    def set_roi(self, roi: InspectionRoi, user: User, secret: str, reason: str) -> Recipe:
        """Put a new inspection area in force (the model is reloaded with its mask); signed and audited."""
        reason = _reason(reason)
        roi = InspectionRoi.model_validate(roi.model_dump())
        with self._lock:
            current = self._recipe
            signer = self.sign(user, secret, Permission.ROI, f"inspection area of recipe {current.name}")
            recipe = current.model_copy(update={"roi": roi})
            self._put_in_force(recipe, reload_model=True)
            self._audit(signer.name, AuditAction.ROI_CHANGE, f"recipe {recipe.name}", current.roi.model_dump(),
                        roi.model_dump(), reason)
            return recipe

    def activate_model(self, name: str, user: User, secret: str, reason: str,
                       thresholds: RecipeThresholds | None = None) -> Recipe:
        """Judge by model `name` from the next part (pinned by its SHA-256); its taught thresholds come with it.

        The previous model's folder is kept, so it stays selectable.
        """
        reason = _reason(reason)
        with self._lock:
            current = self._recipe
            signer = self.sign(user, secret, Permission.MODELS, f"model {name} for recipe {current.name}")
            package = ModelPackage.load(find_model(name, self.data_dir))
            taught = package.manifest.thresholds
            t = thresholds or RecipeThresholds(score=taught.score, hold_below=taught.hold_below,
                                               hold_above=taught.hold_above,
                                               min_defect_area_px=taught.min_defect_area_px)
            version = current.thresholds.version + 1
            if self.threshold_log is not None:
                last = self.threshold_log.latest(current.name)
                version = max(version, (last.version + 1) if last else 1)
            new_t = t.model_copy(update={"version": version})
            recipe = current.model_copy(update={"model": current.model.model_copy(
                update={"name": name, "sha256": package.sha256}), "thresholds": new_t})
            # Load before anything is recorded: a model that does not load changes nothing.
            inspector = load_inspector(self.cfg, self.data_dir, recipe)
            if self.threshold_log is not None:
                self.threshold_log.record(current.name, version, self._threshold_values(new_t), signer,
                                          f"{reason} (model {name})")
            self._put_in_force(recipe, inspector=inspector)
            self._audit(signer.name, AuditAction.MODEL_ACTIVATE, f"recipe {recipe.name}",
                        {"model": current.model.name, "sha256": current.model.sha256},
                        {"model": name, "sha256": package.sha256, "threshold_version": version}, reason)
            return recipe

    # --- camera writes: signed like every change to what parts are judged by ------------------
    def set_camera(self, user: User, secret: str, reason: str, *, exposure_us: float | None = None,
                   gain_db: float | None = None) -> CameraSettings:
        """Write exposure and/or gain to the camera's nodes (signed), read them back, keep them in the recipe, audit."""
        trial = self.camera_trial(user, secret, reason)
        settings = trial.write(exposure_us=exposure_us, gain_db=gain_db)
        return trial.keep(settings)

    def camera_trial(self, user: User, secret: str, reason: str) -> CameraTrial:
        """Sign once for a run of camera writes (auto-exposure's steps); `keep` saves and audits, `undo` restores."""
        reason = _reason(reason)
        if self.camera is None:
            raise StationError("this station has no camera to set", "check the camera settings in the station file")
        signer = self.sign(user, secret, Permission.CAMERA, f"camera settings of recipe {self.recipe.name}")
        return CameraTrial(self._write_camera, lambda settings: self._keep_camera(settings, signer, reason),
                           self.camera_settings())

    def _write_camera(self, exposure_us: float | None, gain_db: float | None) -> CameraSettings:
        def write(source) -> CameraSettings:
            if exposure_us is not None:
                source.set_exposure(float(exposure_us))
            if gain_db is not None:
                source.set_gain(float(gain_db))
            return source.settings()

        try:
            return self.camera(write)
        except NotImplementedError as exc:
            raise StationError(f"this camera cannot be adjusted from the station ({exc})",
                               "set exposure and gain on the camera itself") from None

    def _keep_camera(self, settings: CameraSettings, signer: User, reason: str) -> CameraSettings:
        with self._lock:
            before = self._recipe
            old = {"exposure_us": before.exposure_us, "gain_db": before.gain_db}
            new = {"exposure_us": round(settings.exposure_us, 3), "gain_db": round(settings.gain_db, 3)}
            recipe = before.model_copy(update=new)
            self._save(recipe)
            self._recipe = recipe  # each part carries the camera settings it was exposed with
            self._audit(signer.name, AuditAction.CAMERA_CHANGE, f"camera {settings.source}", old, new,
                        f"{reason} (recipe {before.name})")
            return settings

    def camera_settings(self) -> CameraSettings:
        """Exposure, gain and frame size read back from the camera now."""
        if self.camera is None:
            raise StationError("this station has no camera", "check the camera settings in the station file")
        return self.camera(lambda source: source.settings())

    def save_lighting_reference(self, mean: float, user: User, limit_pct: float | None = None,
                                grid: list[float] | None = None) -> Recipe:
        """Keep `mean` (and the light pattern `grid`) as the recipe's lighting reference; production compares
        every N-th frame's mean with it, the camera screen each cell with the pattern."""
        require(user, Permission.CAMERA)
        if not 0 < mean <= 255:
            raise StationError(f"a lighting reference of {mean:.1f} grey levels is not usable",
                               "light the part so the image is neither black nor clipped, then save again")
        with self._lock:
            current = self._recipe
            update: dict[str, Any] = {"mean": round(float(mean), 2)}
            if grid is not None:
                update["grid"] = [round(float(v), 4) for v in grid]
            if limit_pct is not None:
                update["limit_pct"] = float(limit_pct)
            lighting = current.lighting.model_copy(update=update)
            recipe = current.model_copy(update={"lighting": lighting})
            self._save(recipe)
            judging = self.active.get()  # same model (or none, for the same reason); parts from now on carry it
            self.active.set(judging_setup(recipe, judging.inspector, judging.problem))
            self._recipe = recipe
            self._audit(user.name, AuditAction.LIGHTING_REFERENCE, f"recipe {recipe.name}",
                        current.lighting.model_dump(), lighting.model_dump(), "saved from the camera screen")
            return recipe

    def save_recipe(self, recipe: Recipe, user: User, reason: str) -> Recipe:
        """Create or edit a recipe file; editing the recipe in force puts the change in force too.

        Thresholds are not edited here: they change on the thresholds screen, signed, as a new version.
        """
        require(user, Permission.RECIPES)
        reason = _reason(reason)
        recipe = Recipe.model_validate(recipe.model_dump())
        if not RECIPE_NAME.match(recipe.name):
            raise ConfigError(f"'{recipe.name}' cannot be a recipe name",
                              "use letters, digits, '-', '_' or '.', up to 64 characters")
        with self._lock:
            old = self._file_or_none(recipe.name)
            if old is not None and old.thresholds != recipe.thresholds:
                raise StationError(f"recipe {recipe.name}: thresholds change only on the thresholds screen",
                                   "keep the thresholds here and change them there, with your signature")
            if old is None and recipe.thresholds.version != 1:
                recipe = recipe.model_copy(update={"thresholds": recipe.thresholds.model_copy(update={"version": 1})})
            if recipe.name == self._recipe.name:
                before = self._recipe
                self._put_in_force(recipe, reload_model=(recipe.model != before.model or recipe.roi != before.roi))
                if (recipe.exposure_us, recipe.gain_db) != (before.exposure_us, before.gain_db):
                    self.apply_camera(recipe)
            else:
                find_model(recipe.model.name, self.data_dir)  # refuse a recipe that names no model
                self._save(recipe)
            self._audit(user.name, AuditAction.RECIPE_CHANGE, f"recipe {recipe.name}",
                        old.model_dump(mode="json") if old else None, recipe.model_dump(mode="json"), reason)
            return recipe

    def copy_recipe(self, source: str, name: str, user: User, reason: str) -> Recipe:
        """A new recipe `name` made from `source` (model, camera, ROI, types...), thresholds as version 1."""
        if self._file_or_none(name) is not None:
            raise ConfigError(f"a recipe called '{name}' exists already", "choose another name")
        original = load_recipe(self.data_dir, source)
        copy = original.model_copy(update={"name": name, "description": f"copy of {source}",
                                           "thresholds": original.thresholds.model_copy(update={"version": 1}),
                                           "plc_recipe_number": 0})
        return self.save_recipe(copy, user, reason)

    def changeover(self, name: str, by: User | str, reason: str, secret: str = "") -> Recipe:
        """Put recipe `name` in force: model, thresholds, inspection area, camera settings, holds and alarms.

        `by` is the technician at the screen, who signs (`secret`: the PIN entered again), or a text
        (e.g. "PLC recipe request 3") for the PLC's own request. Nothing changes when the recipe or its
        model cannot be loaded.
        """
        if isinstance(by, User):
            reason = _reason(reason)
            by = self.sign(by, secret, Permission.RECIPES, f"changeover to recipe {name}")
        who = by.name if isinstance(by, User) else STATION
        with self._lock:
            current = self._recipe
            if self.seals is not None:
                self.seals.check_recipe(name)  # a file changed outside the station is not put in force
            recipe = load_recipe(self.data_dir, name)
            inspector = load_inspector(self.cfg, self.data_dir, recipe)
            if self.threshold_log is not None:
                self.threshold_log.ensure(recipe.name, recipe.thresholds.version,
                                          self._threshold_values(recipe.thresholds), f"recipe file {name}.toml")
            self._put_in_force(recipe, inspector=inspector, save=False)
            self.apply_camera(recipe)
            self._audit(who, AuditAction.RECIPE_CHANGE, f"changeover to {recipe.name}",
                        {"recipe": current.name}, {"recipe": recipe.name}, reason if isinstance(by, User)
                        else f"{by}: {reason}")
            log.info("changeover %s -> %s by %s", current.name, recipe.name, who)
            return recipe

    def recipe_for_plc_number(self, number: int) -> str | None:
        """The recipe whose PLC recipe number is `number`, or None."""
        for name in self.recipe_names():
            try:
                if load_recipe(self.data_dir, name).plc_recipe_number == number:
                    return name
            except ConfigError:
                continue
        return None

    # --- helpers -----------------------------------------------------------------------------
    def _file_or_none(self, name: str) -> Recipe | None:
        try:
            return load_recipe(self.data_dir, name)
        except ConfigError:
            if (self.data_dir / RECIPES_DIR / f"{name}.toml").exists():
                raise
            return None

    def apply_camera(self, recipe: Recipe) -> None:
        """Write the recipe's exposure and gain to the camera (a camera that cannot take them is logged)."""
        if self.camera is None or (recipe.exposure_us is None and recipe.gain_db is None):
            return

        def write(source) -> None:
            if recipe.exposure_us is not None:
                source.set_exposure(float(recipe.exposure_us))
            if recipe.gain_db is not None:
                source.set_gain(float(recipe.gain_db))

        try:
            self.camera(write)
        except (StationError, NotImplementedError) as exc:
            log.warning("recipe %s: camera settings not applied: %s", recipe.name, exc)
            return
        log.info("recipe %s: camera exposure %s us, gain %s dB", recipe.name, recipe.exposure_us, recipe.gain_db)

    def _put_in_force(self, recipe: Recipe, *, reload_model: bool = True, inspector=None, save: bool = True) -> None:
        """Save the recipe, then swap the setup in force for the next part (model loaded first if needed)."""
        setup = self.active.get()
        if inspector is None:
            reuse = not reload_model and setup.inspector is not None
            inspector = setup.inspector if reuse else load_inspector(self.cfg, self.data_dir, recipe)
        if save:
            self._save(recipe)
        # One value swapped whole: every part judged from now on carries it to the holds, monitors, records and PLC.
        self.active.set(judging_setup(recipe, inspector))
        self._recipe = recipe

    def _save(self, recipe: Recipe) -> None:
        """Write the recipe's file and seal it; a file changed outside the station and not accepted is kept."""
        if self.seals is not None:
            self.seals.check_recipe(recipe.name)
        save_recipe(self.data_dir, recipe)
        if self.seals is not None:
            self.seals.reseal_recipe(recipe.name, STATION)

    def _refuse_unusable(self, recipe: Recipe, proposal: RecipeThresholds) -> None:
        """StationError when `proposal` is not finite or lies outside the scores the recipe's model gives."""
        inspector = self.active.get().inspector
        package = inspector.package if inspector is not None else ModelPackage.load(
            find_model(recipe.model.name, self.data_dir))
        problem = threshold_problem(proposal.score, proposal.hold_below, proposal.hold_above, package.manifest)
        if problem:
            raise StationError(f"thresholds for recipe {recipe.name} refused: {problem}",
                               "enter a threshold inside the model's score range, then apply again")

    @staticmethod
    def _threshold_values(t: RecipeThresholds) -> dict[str, Any]:
        return {"score": t.score, "hold_below": t.hold_below, "hold_above": t.hold_above,
                "min_defect_area_px": t.min_defect_area_px}


__all__ = ["ModelInfo", "SetupChanges", "PermissionDenied"]
