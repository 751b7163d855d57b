"""The capture thread: owns the frame source, numbers every part, and never lets one vanish."""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable

from hmi.camera.source import FrameSource, Grab, TriggerMode
from hmi.core.alarm_catalogue import CAMERA_LOST, INSPECTION_DISABLED, PART_NUMBERS
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import CameraError, CameraLost, StoreError
from hmi.core.part import UNNUMBERED, CameraSettings, Decision, Part, utc_now
from hmi.core.setup import SetupInForce
from hmi.core.verdict import Verdict
from hmi.pipeline.metrics import RecentDurations, StageMetrics
from hmi.pipeline.outlet import VerdictOutlet
from hmi.pipeline.queues import BoundedQueue, NewestSlot
from hmi.pipeline.worker import Worker

log = logging.getLogger(__name__)

# Frames are triggered to land as the model frees up, allowing for a grab as slow as this quantile of recent ones.
GRAB_QUANTILE = 0.9
RECHECK_S = 0.02  # how often a planned trigger asks the model's free time again



class CaptureWorker(Worker):
    """Grabs frames and turns each into a numbered Part for the inference thread.

    Production mode: every frame is a part. A part whose frame failed, or that finds the
    inference queue full, or that is triggered while the camera is lost, is decided
    NOT_INSPECTED right here and published, so it is rejected and recorded, never dropped.
    In software-trigger mode the next trigger waits for a free slot among `max_in_flight`
    parts (the `credits` semaphore), like a line whose PLC advances a part when the station is
    ready. Setup mode: free-run, the newest frame replaces an unread one (drops counted).
    While the PLC has inspection disabled (the INSPECTION_DISABLED alarm, raised by the PLC thread from
    its command bit) production triggers no part; a frame the camera takes anyway (hardware trigger,
    free run) is let go, counted in `ignored_while_disabled`, and becomes no part.
    """

    role = "capture"

    def __init__(self, source: FrameSource, frames: BoundedQueue[Part] | NewestSlot[Part], outlet: VerdictOutlet,
                 next_seq: Callable[[], int], in_force: Callable[[], SetupInForce], alarms: AlarmBoard,
                 metrics: StageMetrics, *, trigger: TriggerMode, production: bool,
                 credits: threading.Semaphore | None = None, rate_hz: float = 0.0, grab_timeout_s: float = 1.0,
                 reconnect_s: float = 1.0, max_parts: int = 0,
                 model_free_at: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.source = source
        self.frames = frames
        self.outlet = outlet
        self.next_seq = next_seq
        self.in_force = in_force  # the setup in force, carried by a part rejected here unjudged
        self.alarms = alarms
        self.metrics = metrics
        self.trigger = trigger
        self.production = production
        self.credits = credits if trigger is TriggerMode.SOFTWARE else None
        self.period = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self.grab_timeout_s = grab_timeout_s
        self.reconnect_s = reconnect_s
        self.max_parts = max_parts
        self.model_free_at = model_free_at
        self._grab_times = RecentDurations()  # trigger-to-frame times
        self.parts = 0
        self.unnumbered = 0  # parts the records could not number (the store did not answer in time)
        self.ignored_while_disabled = 0  # frames let go while the PLC had inspection disabled
        self.done = threading.Event()
        self._next_trigger = 0.0
        self._lost_since: float | None = None
        self._retry_at = 0.0
        self._retry_delay = reconnect_s
        self._commands: queue.SimpleQueue[tuple[Callable[[FrameSource], Any], Future]] = queue.SimpleQueue()

    def call(self, command: Callable[[FrameSource], Any], timeout_s: float = 3.0) -> Any:
        """Run `command(source)` on the capture thread between two grabs and return its result.

        The capture thread is the camera's one owner: settings written from the screens go through
        here, so a node write never races a grab. Raises CameraError when the thread does not answer.
        """
        if not self.alive:
            return command(self.source)  # not started (or stopped): nobody else is using the camera
        future: Future = Future()
        self._commands.put((command, future))
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError:
            raise CameraError(f"the capture thread did not take the camera command within {timeout_s:.0f} s",
                              "check the camera alarm and the station status, then try again") from None

    def _run_commands(self) -> None:
        if self._commands.empty():  # the usual case, once per grab: no exception raised and caught
            return
        while True:
            try:
                command, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(command(self.source))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller, who reports it
                future.set_exception(exc)

    def setup(self) -> None:
        """Open the source; a camera that cannot be opened raises the camera alarm and is retried."""
        try:
            self.source.open()
        except CameraError as exc:
            self._mark_lost(exc)

    def teardown(self) -> None:
        """Answer waiting camera commands, then close the source."""
        self._run_commands()
        self.source.close()

    # --- one step ----------------------------------------------------------------------------
    def loop_once(self) -> None:
        """Trigger (when ready), grab, and hand on one part."""
        self._run_commands()
        if self.max_parts and self.parts >= self.max_parts:
            self.done.set()
            self.wait(0.05)
            return
        if self.production and self.alarms.is_active(INSPECTION_DISABLED):
            self._while_disabled()
            return
        if self.credits is not None and not self.credits.acquire(timeout=0.1):
            return
        if self.period:
            delay = self._next_trigger - time.monotonic()
            if delay > 0 and self.wait(delay):
                self._release()
                return
            self._next_trigger = max(self._next_trigger + self.period, time.monotonic())
        if self._lost_since is not None:
            self._while_lost()
            return
        if self.credits is not None and not self.period and self.model_free_at is not None:
            # As fast as the station is ready: time the exposure so the frame lands as the model frees up,
            # rather than waiting in the queue (latency) or after the model idles (throughput); a slow grab
            # (high quantile) is allowed for, as the model's early finish is (hmi.inference.worker).
            # Planned again after RECHECK_S at most (camera commands served between): a part judged sooner than
            # planned frees the model sooner, and the first part's judging time is known only once it ends.
            delay = self.model_free_at() - self._grab_times.quantile(GRAB_QUANTILE) - time.monotonic()
            if delay > 0:
                self.wait(min(delay, RECHECK_S))
                self._release()
                return
        t0 = time.monotonic()
        try:
            grab = self.source.grab(self.grab_timeout_s)
        except CameraLost as exc:
            self._mark_lost(exc)
            self._while_lost(reconnect=False)
            return
        except CameraError as exc:
            self._reject_unjudged(str(exc))
            return
        if grab is not None and grab.error is None:
            self._grab_times.add(time.monotonic() - t0)
        if grab is None:
            if self.trigger is TriggerMode.SOFTWARE:
                self._reject_unjudged(f"camera gave no frame within {self.grab_timeout_s * 1000:.0f} ms of the trigger")
            else:
                self._release()
            return
        self._hand_on(grab)

    def _while_disabled(self) -> None:
        """The PLC disabled inspection: no trigger; a frame that comes anyway is let go, never made a part."""
        if self.trigger is TriggerMode.SOFTWARE or self._lost_since is not None:
            self.wait(0.05)
            return
        try:
            grab = self.source.grab(min(self.grab_timeout_s, 0.05))
        except CameraError:
            self.wait(0.05)
            return
        if grab is not None:
            self.ignored_while_disabled += 1

    # --- helpers -----------------------------------------------------------------------------
    def _new_part(self, grab: Grab | None, error: str | None) -> Part:
        self.parts += 1
        setup = self.in_force()
        seq, error = self._number(error)
        if grab is not None:
            return Part(seq=seq, captured_at=grab.captured_at, captured_mono=grab.captured_mono,
                        camera=grab.settings, recipe=setup.recipe, image=grab.image, capture_error=error, setup=setup)
        return Part(seq=seq, captured_at=utc_now(), captured_mono=time.monotonic(),
                    camera=self._settings_or_blank(), recipe=setup.recipe, capture_error=error, setup=setup)

    def _number(self, error: str | None) -> tuple[int, str | None]:
        """The part's number; UNNUMBERED, with the reason as its capture error, when the records gave none in time."""
        try:
            seq = self.next_seq()
        except StoreError as exc:
            self.unnumbered += 1
            if self.unnumbered == 1:  # once: a log line per part would be file I/O on the capture thread
                log.error("capture: parts cannot be numbered (%s); each is rejected until the store answers", exc)
            self.alarms.raise_(PART_NUMBERS, problem=exc.what,
                               count=self.unnumbered)
            return UNNUMBERED, f"no part number: {exc}"
        if self.unnumbered and self.alarms.is_active(PART_NUMBERS):
            self.alarms.clear(PART_NUMBERS)
        return seq, error

    def _settings_or_blank(self) -> CameraSettings:
        try:
            return self.source.settings()
        except Exception:  # noqa: BLE001 - a lost camera cannot report its settings
            return CameraSettings(source=self.source.name, exposure_us=0.0, gain_db=0.0)

    def _hand_on(self, grab: Grab) -> None:
        self.metrics.record()
        if grab.error is not None:
            self._publish_unjudged(self._new_part(grab, grab.error), grab.error)
            return
        part = self._new_part(grab, None)
        if part.seq == UNNUMBERED:
            self._publish_unjudged(part, part.capture_error or "no part number")
            return
        if isinstance(self.frames, NewestSlot):
            self.frames.put(part)
            self._release()
            return
        if not self.frames.offer(part):
            self.metrics.drop()
            self._publish_unjudged(part, "inspection queue full: the model is not keeping up with the line")

    def _reject_unjudged(self, reason: str) -> None:
        """A triggered part with no usable frame: NOT_INSPECTED, published at once."""
        self._publish_unjudged(self._new_part(None, reason), reason)

    def _publish_unjudged(self, part: Part, reason: str) -> None:
        if part.seq == UNNUMBERED and part.capture_error:
            reason = part.capture_error
        if self.production:
            now = time.monotonic()
            decision = Decision(Verdict.NOT_INSPECTED, reason, 0, utc_now(), now)
            self.outlet.publish(part.decided(decision))
        self._release()

    def _release(self) -> None:
        if self.credits is not None:
            self.credits.release()

    def _mark_lost(self, exc: Exception) -> None:
        if self._lost_since is None:
            self._lost_since = time.monotonic()
            self._retry_delay = self.reconnect_s
            self._retry_at = self._lost_since + self._retry_delay
            self.alarms.raise_(CAMERA_LOST, problem=getattr(exc, "what", str(exc)))
            log.warning("camera lost: %s", exc)

    def _while_lost(self, reconnect: bool = True) -> None:
        """While the camera is gone: try to reconnect on a backoff; each triggered part is NOT_INSPECTED."""
        now = time.monotonic()
        if reconnect and now >= self._retry_at:
            if self.source.reconnect():
                log.info("camera back after %.1f s", now - (self._lost_since or now))
                self._lost_since = None
                self.alarms.clear(CAMERA_LOST)
                self._release()
                return
            self._retry_delay = min(self._retry_delay * 2, 10.0)
            self._retry_at = now + self._retry_delay
        if self.trigger is TriggerMode.SOFTWARE and self.production:
            self._reject_unjudged("camera lost: no image taken")
            # without a line rate, pace the unjudged parts so the records are not flooded
            if not self.period:
                self.wait(0.1)
        else:
            self._release()
            self.wait(0.1)
