"""The teaching child process: builds a model with hmi.inference.teach away from the station's process.

A model build holds the GIL in long calls and runs NumPy and ONNX Runtime threads; in its own process at
lowered priority with one thread of each, the touchscreen and the line keep their pace while it works.
`teach_in_child` is the child's entry function (multiprocessing 'spawn'); it sends `TeachMessage`s back to
the station's teach thread over a one-way pipe: progress while it works, then exactly one outcome.
This module imports only the standard library (and hmi.pipeline.priority, itself standard library only) at
import time, so the child can limit its threads before NumPy and ONNX Runtime load.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hmi.pipeline.priority import lower_this_thread

# Thread pools of the numerical libraries, read once when each library loads.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")
PROGRESS_EVERY_S = 0.05        # the screen reads progress ten times a second: send no more often than this

# Message kinds, child -> station.
PROGRESS = "progress"          # fraction, text
DONE = "done"                  # report (hmi.inference.teach.TeachReport)
CANCELLED = "cancelled"        # what, todo
FAILED = "failed"              # error class name, what, todo; trace only for an unexpected error (for the log)


@dataclass(frozen=True)
class TeachOrder:
    """What the child is to teach: the images, the model folder to create, and how hard it may work."""

    images: tuple[Path, ...]
    model_dir: Path
    name: str
    input_size: int
    threads: int = 1
    nice: int = 10                 # the nice value the child runs at (not an increment)
    false_reject: float = 0.01     # share of good parts the default threshold may reject
    hold_share: float = 0.05       # share of good parts the HOLD band may send to review
    backbone: str = "float"        # the backbone's precision (the recipe's teach.backbone)


@dataclass(frozen=True)
class TeachMessage:
    """One message from the child: its kind (PROGRESS, DONE, CANCELLED, FAILED) and what goes with it."""

    kind: str
    fraction: float = 0.0
    text: str = ""
    report: Any = None
    error: str = ""
    what: str = ""
    todo: str = ""
    trace: str = ""


class StopSignal(Protocol):
    """The station's cancel flag (a multiprocessing Event)."""

    def is_set(self) -> bool:
        """True once the station asked the child to stop."""


class Sender(Protocol):
    """The child's end of the pipe to the station."""

    def send(self, obj: Any) -> None:
        """Send one message."""


class _Stop:
    """Cancel as hmi.inference.teach checks it: asked by the station, or the station is gone."""

    def __init__(self, asked: StopSignal) -> None:
        import multiprocessing

        self._asked = asked
        self._parent = multiprocessing.parent_process()

    def is_set(self) -> bool:
        return self._asked.is_set() or (self._parent is not None and not self._parent.is_alive())


class _Progress:
    """Forwards teach's progress to the station, at most every PROGRESS_EVERY_S (and always a new stage's first)."""

    def __init__(self, out: Sender) -> None:
        self._out = out
        self._sent = 0.0
        self._stage = ""

    def __call__(self, text: str, fraction: float) -> None:
        now = time.monotonic()
        stage = text.split(" ", 1)[0]
        if now - self._sent >= PROGRESS_EVERY_S or stage != self._stage or fraction >= 1.0:
            self._sent, self._stage = now, stage
            self._out.send(TeachMessage(PROGRESS, fraction=fraction, text=text))


def limit_threads(nice: int) -> None:
    """One thread per numerical library and nice value `nice` (never higher priority than now); before NumPy loads.

    The child's main thread is lowered before any other thread starts, so every thread it starts inherits it.

    Ctrl+C in a terminal reaches the whole process group: the station stops the child itself (cancel, then
    terminate), so the child ignores it rather than die half-way with a traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    lower_this_thread(nice)  # where that is not permitted, the child teaches at the priority it has


def _send(out: Sender, message: TeachMessage) -> None:
    """Send an outcome; a station that is gone has nobody to tell."""
    try:
        out.send(message)
    except OSError:
        pass


def teach_in_child(order: TeachOrder, stop: StopSignal, out: Sender) -> None:
    """The child's entry: teach `order`, sending progress and then one outcome message on `out`."""
    limit_threads(order.nice)
    try:
        from hmi.core.errors import StationError
        from hmi.inference.teach import TeachCancelled, teach
    except BaseException as exc:  # noqa: BLE001 - a broken install: say so, with the trace for the log
        _send(out, TeachMessage(FAILED, error="ModelError", what=f"the teaching program could not start ({exc})",
                                todo="reinstall the station software; if it repeats, send the station log to "
                                     "support", trace=traceback.format_exc()))
        return
    try:
        out.send(TeachMessage(PROGRESS, fraction=0.0, text="Reading images"))
        report = teach(list(order.images), order.model_dir, name=order.name, input_size=order.input_size,
                       progress=_Progress(out), cancel=_Stop(stop), threads=order.threads,
                       false_reject=order.false_reject, hold_share=order.hold_share, backbone=order.backbone)
    except TeachCancelled as exc:
        _send(out, TeachMessage(CANCELLED, what=exc.what, todo=exc.todo))
    except StationError as exc:
        _send(out, TeachMessage(FAILED, error=type(exc).__name__, what=exc.what, todo=exc.todo))
    except BaseException as exc:  # noqa: BLE001 - reported in plain words; the trace goes to the station log
        _send(out, TeachMessage(FAILED, error="ModelError",
                                what=f"teaching model {order.name} failed unexpectedly ({type(exc).__name__}: {exc})",
                                todo="try again; if it repeats, send the station log to support",
                                trace=traceback.format_exc()))
    else:
        _send(out, TeachMessage(DONE, fraction=1.0, text="Model saved", report=report))


__all__ = ["CANCELLED", "DONE", "FAILED", "PROGRESS", "TeachMessage", "TeachOrder", "limit_threads",
           "teach_in_child"]
