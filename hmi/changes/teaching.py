"""Teaching a new model from the station: collect good parts from the line (or take a folder), then teach.

A TeachJob (a hmi.pipeline.worker.Worker, its thread at nice TEACH_NICE) collects on its own thread (cheap: it
saves the frames of parts the line has judged), then builds the model in a child process
(hmi.changes.teach_process, multiprocessing 'spawn') at lowered priority with one thread per numerical
library: the build holds the GIL in long calls and runs NumPy and ONNX Runtime threads, which in the
station's own process made the touchscreen stutter and the line slow down. The job thread reads the child's
progress (stage, fraction, text) for the progress bar; cancel asks the child to stop at its next step and
terminates it when it has not within CANCEL_GRACE_S. Nothing is left behind when cancelled or failed: the
collected frames are removed, hmi.inference.teach writes the model folder only when it is complete, and what
a terminated child left (its hidden '.NAME.teaching-*' staging folder) is removed here.
"""

from __future__ import annotations

import logging
import multiprocessing
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

from hmi.changes.teach_process import CANCELLED, DONE, FAILED, PROGRESS, TeachMessage, TeachOrder, teach_in_child
from hmi.config.schema import JudgingTargets, RecipeTeach
from hmi.core.errors import ConfigError, ImageError, ModelError, StationError, StoreError
from hmi.inference.loading import model_roots
from hmi.inference.teach import MIN_IMAGES, TeachCancelled, TeachReport
from hmi.pipeline.worker import Worker

log = logging.getLogger(__name__)

TEACH_DIR = "teach"            # under the data folder: the frames each model was taught on, by model name
IMAGE_SUFFIXES = frozenset({".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"})
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PARTS = 5000
TEACH_NICE = 10                # added to the teaching process's nice value: the verdict path comes first
TEACH_THREADS = 1              # ONNX Runtime threads for teaching: the inference thread keeps the other core
PART_TIMEOUT_S = 60.0          # no new part from the line for this long: stop and say so
STOPPED = "stopped"            # text of an outcome the job makes up for a child that sent none
CANCEL_GRACE_S = 3.0           # a teaching process still working this long after cancel is terminated
END_WAIT_S = 5.0               # for a teaching process to exit after its outcome, or after terminate, before kill
# Errors the teaching process may report, by class name; any other comes back as a ModelError.
CHILD_ERRORS = {cls.__name__: cls for cls in (StationError, ModelError, ImageError, ConfigError, StoreError)}


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


def _station_nice() -> int:
    """The station process's own nice value (its main thread's; the teach thread's own is lowered)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, os.getpid()) if hasattr(os, "getpriority") else 0
    except OSError:
        return 0


class TeachJob(Worker):
    """One teach run: N good parts from the line (or a folder of images), then a new model in models/<name>.

    The parts are collected on the job's thread (the worker's, at nice `nice`); the model is built in a
    child process (see the module docstring). `progress()` and the outcome (`report` or `error`) may be
    read from any thread at any time; `cancel` is the worker's `stop`.
    """

    role = "teach"

    def __init__(self, data_dir: Path, name: str, *, parts: int = 0, folder: Path | None = None,
                 newest: NewestParts | None = None, input_size: int = 256, threads: int = TEACH_THREADS,
                 nice: int = TEACH_NICE, part_timeout_s: float = PART_TIMEOUT_S, poll_s: float = 0.01,
                 cancel_grace_s: float = CANCEL_GRACE_S, targets: JudgingTargets | None = None,
                 teach: RecipeTeach | None = None) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.targets = targets or JudgingTargets()
        self.teach = teach or RecipeTeach()
        self.name = name.strip()
        self.parts = parts
        self.folder = Path(folder) if folder else None
        self.newest = newest
        self.input_size = input_size
        self.threads = threads
        self.nice = nice
        self.part_timeout_s = part_timeout_s
        self.poll_s = poll_s
        self.cancel_grace_s = cancel_grace_s
        self.model_dir = self.data_dir / "models" / self.name
        self.report: TeachReport | None = None
        self.collected: Path | None = None  # where the frames from the line were kept (after success)
        self._failure: StationError | None = None
        self._progress = TeachProgress(TeachStage.STARTING, 0.0, "Starting")
        self._progress_lock = threading.Lock()
        self._child_pid: int | None = None

    # --- control -----------------------------------------------------------------------------
    def start(self) -> "TeachJob":
        """Start the run on its own thread (a job runs once); returns self."""
        super().start()
        return self

    def cancel(self) -> None:
        """Ask the run to stop at its next step; nothing it made is kept."""
        self.stop()

    @property
    def error(self) -> BaseException | None:
        """Why the run ended without a model (TeachCancelled when cancelled), in plain words; None otherwise."""
        return self._failure or super().error

    def progress(self) -> TeachProgress:
        """The stage, fraction and text now."""
        with self._progress_lock:
            return self._progress

    @property
    def finished(self) -> bool:
        """True once the run has ended (done, cancelled or failed)."""
        return self.progress().stage.finished

    @property
    def child_pid(self) -> int | None:
        """The process id of the teaching process once it was started (for the log and for tests)."""
        return self._child_pid

    # --- the run -----------------------------------------------------------------------------
    def _set(self, stage: TeachStage, fraction: float, text: str) -> None:
        with self._progress_lock:
            self._progress = TeachProgress(stage, min(max(fraction, 0.0), 1.0), text)

    def run(self) -> None:
        """The whole run, on the worker's thread: collect (or list the folder), teach in the child, keep."""
        staging: Path | None = None
        try:
            self._check()
            if self.folder is not None:
                images = folder_images(self.folder)
            else:
                staging = self._staging_folder()
                images = self._collect(staging)
            report = self._build(images)
            if staging is not None:
                self.collected = self._keep(staging)
                staging = None
            self.report = report
            self._set(TeachStage.DONE, 1.0, f"Model {self.name} taught from {report.images_used} images "
                                            f"in {report.seconds:.1f} s")
            log.info("model %s taught on the station from %d images (%s)", self.name, report.images_used,
                     self.folder or "parts from the line")
        except TeachCancelled as exc:
            self._failure = exc
            self._set(TeachStage.CANCELLED, 0.0, "Cancelled: nothing was kept")
        except StationError as exc:
            self._failure = exc
            self._set(TeachStage.FAILED, 0.0, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the screen in plain words, logged with its trace
            log.exception("teaching model %s failed", self.name)
            self._failure = ModelError(f"teaching model {self.name} failed unexpectedly ({type(exc).__name__}: "
                                       f"{exc})", "try again; if it repeats, send the station log to support")
            self._set(TeachStage.FAILED, 0.0, str(self._failure))
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)

    def _build(self, images: list[Path]) -> TeachReport:
        """Teach `images` in a child process at lowered priority; its progress is ours, its outcome returned."""
        self._set(TeachStage.TEACHING, 0.0, "Starting the teaching process")
        if self.stopping:
            raise TeachCancelled("teaching was cancelled; no model was written", "start teaching again when ready")
        spawn = multiprocessing.get_context("spawn")
        stop = spawn.Event()
        receive, send = spawn.Pipe(duplex=False)
        order = TeachOrder(tuple(images), self.model_dir, self.name, self.input_size, self.threads,
                           nice=_station_nice() + self.nice, false_reject=self.targets.false_reject,
                           hold_share=self.targets.hold_share, backbone=self.teach.backbone)
        child = spawn.Process(target=teach_in_child, args=(order, stop, send), name=f"teach-{self.name}",
                              daemon=True)
        try:
            child.start()
        except OSError as exc:
            raise ModelError(f"the teaching process could not be started ({exc.strerror or exc})",
                             "close programs the station does not need, then try again") from None
        finally:
            send.close()  # the child holds the only writing end now: the pipe ends when the child does
        self._child_pid = child.pid
        log.info("teaching model %s in process %s from %d images", self.name, child.pid, len(images))
        outcome: TeachMessage | None = None
        try:
            outcome = self._follow(child, receive, stop)
        finally:
            receive.close()
            # A child that sent its outcome exits by itself, and teach() has cleaned up after itself.
            self._end(child, reported=outcome is not None and outcome.text != STOPPED)
        if outcome.kind == DONE:
            return outcome.report
        if outcome.kind == CANCELLED:
            raise TeachCancelled(outcome.what, outcome.todo)
        if outcome.trace:
            log.error("teaching model %s failed in process %s:\n%s", self.name, child.pid, outcome.trace)
        raise CHILD_ERRORS.get(outcome.error, ModelError)(outcome.what, outcome.todo)

    def _follow(self, child: Any, receive: Any, stop: Any) -> TeachMessage:
        """Pass the child's progress on until its outcome; ask it to stop on cancel, give up past the grace.

        An outcome made up here because the child did not send one carries text STOPPED, so the caller stops
        the child and removes what it left.
        """
        asked_at: float | None = None
        while True:
            if asked_at is None and self.stopping:
                stop.set()
                asked_at = time.monotonic()
                self._set(TeachStage.TEACHING, self.progress().fraction, "Cancelling")
            if asked_at is not None and time.monotonic() - asked_at > self.cancel_grace_s:
                log.warning("teaching process %s did not stop within %.0f s of cancel: terminating it",
                            child.pid, self.cancel_grace_s)
                return TeachMessage(CANCELLED, text=STOPPED, what="teaching was cancelled; no model was written",
                                    todo="start teaching again when ready")
            try:
                if not receive.poll(0.1):
                    continue
                message: TeachMessage = receive.recv()
            except (EOFError, OSError):  # the child ended without an outcome
                child.join(END_WAIT_S)
                if asked_at is not None:
                    return TeachMessage(CANCELLED, text=STOPPED, what="teaching was cancelled; no model was written",
                                        todo="start teaching again when ready")
                log.error("teaching process %s of model %s ended without a result (exit code %s)",
                          child.pid, self.name, child.exitcode)
                return TeachMessage(FAILED, text=STOPPED, error="ModelError",
                                    what=f"the teaching process stopped unexpectedly (exit code {child.exitcode}); "
                                         "no model was written",
                                    todo="try again; if it repeats, the station may be short of memory: "
                                         "teach from fewer parts, or send the station log to support")
            if message.kind == PROGRESS:
                if asked_at is None:
                    self._set(TeachStage.TEACHING, message.fraction, message.text)
            elif message.kind in (DONE, CANCELLED, FAILED):
                return message

    def _end(self, child: Any, *, reported: bool) -> None:
        """Make sure the child has exited (terminate, then kill); if it sent no outcome, remove what it left."""
        child.join(END_WAIT_S if reported else 0.0)
        if child.is_alive():
            child.terminate()
            child.join(END_WAIT_S)
        if child.is_alive():
            log.warning("teaching process %s ignored terminate: killing it", child.pid)
            child.kill()
            child.join(END_WAIT_S)
        if not reported:
            for staging in self.model_dir.parent.glob(f".{self.name}.teaching-*"):
                log.info("removing %s, left by the stopped teaching process", staging)
                shutil.rmtree(staging, ignore_errors=True)
            if self.model_dir.exists():  # renamed into place in the instant before it was stopped: complete
                log.warning("teaching process %s was stopped after it saved model %s; the model stays selectable",
                            child.pid, self.model_dir)
        if not child.is_alive():
            child.close()

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
            if self.wait(self.poll_s):
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

    def start(self, name: str, *, parts: int = 0, folder: str = "", input_size: int = 256,
              targets: JudgingTargets | None = None, teach: RecipeTeach | None = None) -> TeachJob:
        """Start teaching model `name` from the next `parts` parts on the line, or from the images in `folder`.

        `targets` (the recipe's) set the default thresholds: good parts rejected and held at most; `teach` (the
        recipe's) how the model is taught.
        """
        if self.job is not None and not self.job.finished:
            raise StationError(f"model {self.job.name} is being taught already",
                               "wait until it is done, or cancel it first")
        self.job = TeachJob(self.data_dir, name, parts=parts, folder=Path(folder) if folder.strip() else None,
                            newest=self.newest, input_size=input_size, threads=self.threads,
                            nice=self.nice, targets=targets, teach=teach).start()
        return self.job

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel a run still going and wait for it (when the station stops)."""
        if self.job is not None:
            self.job.cancel()
            self.job.join(timeout)


__all__ = ["TeachJob", "TeachProgress", "TeachStage", "Teaching", "folder_images"]
