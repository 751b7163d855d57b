"""Teaching a new model from the station: collect good parts from the line (or take a folder), then teach.

A TeachJob runs on its own thread at lowered priority with one inference thread, so the line and the
touchscreen keep running while it works. It reports (stage, fraction, text) for a progress bar, stops
at the next step when cancelled, and leaves nothing behind when cancelled or failed: the collected
frames are removed and hmi.inference.teach writes the model folder only when it is complete.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from hmi.inference.loading import model_roots
from hmi.core.errors import ModelError, StationError
from hmi.inference.teach import MIN_IMAGES, TeachCancelled, TeachReport, teach

log = logging.getLogger(__name__)

TEACH_DIR = "teach"            # under the data folder: the frames each model was taught on, by model name
IMAGE_SUFFIXES = frozenset({".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"})
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PARTS = 5000
TEACH_NICE = 10                # added to the teach thread's nice value: the verdict path comes first
TEACH_THREADS = 1              # ONNX Runtime threads for teaching: the inference thread keeps the other core
PART_TIMEOUT_S = 60.0          # no new part from the line for this long: stop and say so


class TeachStage(str, Enum):
    """Where a teach run is."""

    STARTING = "starting"
    COLLECTING = "collecting"
    TEACHING = "teaching"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True once the run has ended, one way or the other."""
        return self in (TeachStage.DONE, TeachStage.CANCELLED, TeachStage.FAILED)


@dataclass(frozen=True)
class TeachProgress:
    """What the progress bar shows: the stage, how far through it (0..1), and what is being done."""

    stage: TeachStage
    fraction: float
    text: str


class NewestParts(Protocol):
    """The station's screen slot: (version, newest decided part)."""

    def peek(self) -> tuple[int, Any]:
        """(version, newest part) without waiting."""


def folder_images(folder: Path) -> list[Path]:
    """The image files directly in `folder`, by name; StationError in plain words when there are none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise StationError(f"the folder {folder} does not exist or is not a folder",
                           "type the full path of a folder of good-part images")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if len(images) < MIN_IMAGES:
        raise StationError(f"the folder {folder} holds {len(images)} image(s); teaching needs at least {MIN_IMAGES}",
                           "choose a folder with more good-part images (100 or more give a reliable threshold)")
    return images


def _frame_for_file(image: np.ndarray) -> np.ndarray:
    """A Part's image (Mono8 or RGB) in the channel order OpenCV writes."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 and image.shape[2] == 3 else image


class TeachJob:
    """One teach run: N good parts from the line (or a folder of images), then a new model in models/<name>.

    `progress()` and the outcome (`report` or `error`) may be read from any thread at any time.
    """

    def __init__(self, data_dir: Path, name: str, *, parts: int = 0, folder: Path | None = None,
                 newest: NewestParts | None = None, input_size: int = 256, threads: int = TEACH_THREADS,
                 nice: int = TEACH_NICE, part_timeout_s: float = PART_TIMEOUT_S, poll_s: float = 0.01) -> None:
        self.data_dir = Path(data_dir)
        self.name = name.strip()
        self.parts = parts
        self.folder = Path(folder) if folder else None
        self.newest = newest
        self.input_size = input_size
        self.threads = threads
        self.nice = nice
        self.part_timeout_s = part_timeout_s
        self.poll_s = poll_s
        self.model_dir = self.data_dir / "models" / self.name
        self.report: TeachReport | None = None
        self.error: StationError | None = None
        self.collected: Path | None = None  # where the frames from the line were kept (after success)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._progress = TeachProgress(TeachStage.STARTING, 0.0, "Starting")
        self._thread: threading.Thread | None = None

    # --- control -----------------------------------------------------------------------------
    def start(self) -> "TeachJob":
        """Start the run on its own thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("a teach job runs once")
        self._thread = threading.Thread(target=self._run, name="teach", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the run to stop at its next step; nothing it made is kept."""
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def progress(self) -> TeachProgress:
        """The stage, fraction and text now."""
        with self._lock:
            return self._progress

    @property
    def finished(self) -> bool:
        """True once the run has ended (done, cancelled or failed)."""
        return self.progress().stage.finished

    # --- the run -----------------------------------------------------------------------------
    def _set(self, stage: TeachStage, fraction: float, text: str) -> None:
        with self._lock:
            self._progress = TeachProgress(stage, min(max(fraction, 0.0), 1.0), text)

    def _lower_priority(self) -> None:
        if self.nice and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
            except OSError as exc:  # not permitted here: teach at normal priority
                log.debug("teaching keeps normal priority: %s", exc)

    def _run(self) -> None:
        self._lower_priority()
        staging: Path | None = None
        try:
            self._check()
            if self.folder is not None:
                images = folder_images(self.folder)
            else:
                staging = self._staging_folder()
                images = self._collect(staging)
            self._set(TeachStage.TEACHING, 0.0, "Reading images")
            report = teach(images, self.model_dir, name=self.name, input_size=self.input_size,
                           progress=lambda text, f: self._set(TeachStage.TEACHING, f, text),
                           cancel=self._cancel, threads=self.threads)
            if staging is not None:
                self.collected = self._keep(staging)
                staging = None
            self.report = report
            self._set(TeachStage.DONE, 1.0, f"Model {self.name} taught from {report.images_used} images "
                                            f"in {report.seconds:.1f} s")
            log.info("model %s taught on the station from %d images (%s)", self.name, report.images_used,
                     self.folder or "parts from the line")
        except TeachCancelled as exc:
            self.error = exc
            self._set(TeachStage.CANCELLED, 0.0, "Cancelled: nothing was kept")
        except StationError as exc:
            self.error = exc
            self._set(TeachStage.FAILED, 0.0, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the screen in plain words, logged with its trace
            log.exception("teaching model %s failed", self.name)
            self.error = ModelError(f"teaching model {self.name} failed unexpectedly ({type(exc).__name__}: {exc})",
                                    "try again; if it repeats, send the station log to support")
            self._set(TeachStage.FAILED, 0.0, str(self.error))
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    def _check(self) -> None:
        if not MODEL_NAME.match(self.name):
            raise ModelError(f"'{self.name}' cannot be a model name",
                             "use letters, digits, '-', '_' or '.', up to 64 characters")
        for root in model_roots(self.data_dir):
            if (root / self.name).exists():
                raise ModelError(f"a model called '{self.name}' exists already ({root / self.name})",
                                 "choose another name; the existing model stays selectable")
        if self.folder is None:
            if self.newest is None:
                raise StationError("this station has no line to take parts from", "teach from a folder of images")
            if not MIN_IMAGES <= self.parts <= MAX_PARTS:
                raise StationError(f"{self.parts} parts cannot be taught from",
                                   f"collect between {MIN_IMAGES} and {MAX_PARTS} good parts (100 or more give "
                                   "a reliable threshold)")

    def _staging_folder(self) -> Path:
        root = self.data_dir / TEACH_DIR
        try:
            root.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=f".{self.name}.collecting-", dir=root))
        except OSError as exc:
            raise StationError(f"cannot keep the collected parts in {root} ({exc.strerror or exc})",
                               "check that the data disk is writable and has free space") from None

    def _collect(self, staging: Path) -> list[Path]:
        """Save the next `parts` captured parts' frames into `staging`; every part counts once."""
        assert self.newest is not None
        seen_version, _ = self.newest.peek()
        seen: set[int] = set()
        paths: list[Path] = []
        last_new = time.monotonic()
        self._set(TeachStage.COLLECTING, 0.0, f"Collecting good parts 0/{self.parts}")
        while len(paths) < self.parts:
            if self._cancel.wait(self.poll_s):
                raise TeachCancelled("teaching was cancelled; no model was written", "start teaching again when ready")
            version, part = self.newest.peek()
            if version != seen_version and part is not None and part.seq not in seen:
                seen_version = version
                seen.add(part.seq)
                if part.image is not None and not part.capture_error:
                    path = staging / f"part_{part.seq:08d}.png"
                    if not cv2.imwrite(str(path), _frame_for_file(part.image)):
                        raise StationError(f"the frame of part {part.seq} could not be saved in {staging}",
                                           "check that the data disk is writable and has free space")
                    paths.append(path)
                    last_new = time.monotonic()
                    self._set(TeachStage.COLLECTING, len(paths) / self.parts,
                              f"Collecting good parts {len(paths)}/{self.parts}")
            elif time.monotonic() - last_new > self.part_timeout_s:
                raise StationError(f"no part came from the line for {self.part_timeout_s:.0f} s "
                                   f"({len(paths)} of {self.parts} collected)",
                                   "check that the camera runs and good parts pass it, then start again")
        return paths

    def _keep(self, staging: Path) -> Path:
        """Keep the frames the model was taught on beside the others, under the model's name."""
        kept = self.data_dir / TEACH_DIR / self.name
        try:
            if kept.exists():
                shutil.rmtree(kept)
            os.rename(staging, kept)
        except OSError as exc:
            log.warning("collected frames for %s stay in %s: %s", self.name, staging, exc)
            return staging
        return kept


class Teaching:
    """What the station offers the teach screen (`station.teaching`): one teach run at a time."""

    def __init__(self, data_dir: Path, newest: NewestParts | None, *, threads: int = TEACH_THREADS,
                 nice: int = TEACH_NICE) -> None:
        self.data_dir = Path(data_dir)
        self.newest = newest
        self.threads = threads
        self.nice = nice
        self.job: TeachJob | None = None

    def start(self, name: str, *, parts: int = 0, folder: str = "", input_size: int = 256) -> TeachJob:
        """Start teaching model `name` from the next `parts` parts on the line, or from the images in `folder`."""
        if self.job is not None and not self.job.finished:
            raise StationError(f"model {self.job.name} is being taught already",
                               "wait until it is done, or cancel it first")
        self.job = TeachJob(self.data_dir, name, parts=parts, folder=Path(folder) if folder.strip() else None,
                            newest=self.newest, input_size=input_size, threads=self.threads,
                            nice=self.nice).start()
        return self.job

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel a run still going and wait for it (when the station stops)."""
        if self.job is not None:
            self.job.cancel()
            self.job.join(timeout)


__all__ = ["TeachJob", "TeachProgress", "TeachStage", "Teaching", "folder_images"]
