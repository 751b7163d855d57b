"""Basler cameras through pypylon (the only module importing it), including pylon's camera emulation.

pylon's camera emulation (the demo camera) is switched on by the PYLON_CAMEMU environment variable,
which pylon reads at every device enumeration: setting it any time before `open()` is enough.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import time
from pathlib import Path

import numpy as np
from pypylon import genicam, pylon

from hmi.camera.replay import IMAGE_SUFFIXES, read_mono8
from hmi.camera.source import FrameRoi, FrameSource, Grab, TriggerMode
from hmi.core.errors import CameraError, CameraLost, ImageError
from hmi.core.image_files import MAX_IMAGE_PIXELS, special_kind, to_8bit
from hmi.core.part import CameraSettings, utc_now

log = logging.getLogger(__name__)

EMULATOR_DEVICE_CLASS = "BaslerCamEmu"
EMULATOR_SERIAL = "0815-0000"   # pylon names emulated cameras 0815-0000, 0815-0001, ...
CAMEMU_ENV = "PYLON_CAMEMU"

# Unpacked deeper-than-8-bit mono formats: their bits per pixel. Their frames are shifted to their upper 8 bits
# (hmi.core.image_files.to_8bit), the rule 16-bit image files follow too; packed ones go through pylon's
# converter, which keeps the same upper bits.
_DEEP_MONO = {pylon.PixelType_Mono10: 10, pylon.PixelType_Mono12: 12, pylon.PixelType_Mono16: 16}

_LOST_TODO = ("check the camera's cable and power; the station reconnects by itself when the camera is back, "
              "and parts are not inspected until then")


def enable_emulation(devices: int = 1) -> None:
    """Make pylon list at least `devices` emulated cameras (takes effect at the next enumeration)."""
    try:
        current = int(os.environ.get(CAMEMU_ENV, "0"))
    except ValueError:
        current = 0
    if current < devices:
        os.environ[CAMEMU_ENV] = str(devices)


class PylonCamera(FrameSource):
    """A Basler camera (or pylon's emulated one) configured from the station file and grabbed by one thread.

    Opens the camera with the given serial number, or else the first real camera found (an emulated
    camera only when asked for by serial or through `emulated`). `open` applies pixel format Mono8,
    frame ROI, exposure, gain and trigger mode; `reconnect` finds the same camera again after it was
    lost and applies the same settings, including changes made through `set_exposure`/`set_gain`.
    `rate_hz` limits the camera's own frame rate in free-run (0 = as fast as it can); software
    triggers are paced by the capture thread, one frame per `grab`. `pixel_format` asks for another
    format than Mono8 (e.g. Mono12); every frame reaches the station as Mono8 all the same.
    """

    def __init__(self, serial: str = "", *, trigger: TriggerMode = TriggerMode.SOFTWARE,
                 exposure_us: float = 5000.0, gain_db: float = 0.0, roi: FrameRoi = FrameRoi(),
                 rate_hz: float = 0.0, emulator_images: Path | None = None, pixel_format: str = "",
                 max_pixels: int = MAX_IMAGE_PIXELS) -> None:
        self.serial = serial.strip()
        self.pixel_format = pixel_format
        self.max_pixels = max_pixels  # for the emulator's image files
        self.trigger = TriggerMode(trigger)
        self.exposure_us = float(exposure_us)
        self.gain_db = float(gain_db)
        self.roi = roi
        self.rate_hz = float(rate_hz)
        self.emulator_images = Path(emulator_images) if emulator_images is not None else None
        self.name = f"Basler {self.serial or 'camera'}"
        self._bound_serial = ""           # serial of the camera first opened; reconnect looks for it
        self._lost = False                # lost and not back yet: grabbing reports CameraLost, not "not open"
        self._camera: pylon.InstantCamera | None = None
        self._exposure_node: str = ""
        self._gain_node: str = ""
        self._converter: pylon.ImageFormatConverter | None = None
        self._frames = 0
        self._settings: CameraSettings | None = None

    @classmethod
    def emulated(cls, image_dir: Path, *, serial: str = EMULATOR_SERIAL,
                 trigger: TriggerMode = TriggerMode.SOFTWARE, exposure_us: float = 5000.0,
                 gain_db: float = 0.0, roi: FrameRoi = FrameRoi(), rate_hz: float = 0.0, pixel_format: str = "",
                 max_pixels: int = MAX_IMAGE_PIXELS) -> "PylonCamera":
        """pylon's emulated camera replaying the images in `image_dir` (sorted by name, looping): the demo camera."""
        return cls(serial, trigger=trigger, exposure_us=exposure_us, gain_db=gain_db, roi=roi,
                   rate_hz=rate_hz, emulator_images=Path(image_dir), pixel_format=pixel_format,
                   max_pixels=max_pixels)

    @property
    def is_open(self) -> bool:
        """True between a successful `open` and `close`."""
        return self._camera is not None

    # --- FrameSource ---------------------------------------------------------------------------
    def open(self) -> None:
        """Find and open the camera, apply every setting and start grabbing; CameraError in plain words."""
        self.close()
        image_size = None
        if self.emulator_images is not None:
            image_size = _emulator_image_size(self.emulator_images, self.max_pixels)
            if not self._bound_serial:  # first open only: a reconnect must not conjure the camera back
                enable_emulation(_emulator_index(self.serial) + 1)
        camera = self._create_camera()
        self._camera = camera
        try:
            self._configure(camera, image_size)
            camera.StartGrabbing(pylon.GrabStrategy_LatestImageOnly if self.trigger is TriggerMode.FREE_RUN
                                 else pylon.GrabStrategy_OneByOne)
            self._settings = self._read_settings(camera)
        except CameraError:
            self.close()
            raise
        except genicam.GenericException as exc:
            self.close()
            raise CameraError(f"camera {self.name} refused its settings ({_plain(exc)})",
                              "check the camera settings in the station file, then press Reconnect") from exc
        self._frames = 0
        self._lost = False
        log.info("camera opened: %s, %s trigger, %dx%d, exposure %.0f us, gain %.2f dB", self.name,
                 self.trigger.value, self._settings.width, self._settings.height,
                 self._settings.exposure_us, self._settings.gain_db)

    def close(self) -> None:
        """Stop grabbing and destroy the device object; safe to call twice, and after the camera vanished."""
        camera, self._camera = self._camera, None
        self._settings = None
        if camera is None:
            return
        for step in (camera.StopGrabbing, camera.Close, camera.DestroyDevice):
            try:
                step()
            except genicam.GenericException as exc:  # a vanished device refuses; nothing left to release
                log.debug("camera %s: %s during close: %s", self.name, step.__name__, _plain(exc))

    def grab(self, timeout_s: float) -> Grab | None:
        """Wait up to `timeout_s` for the next buffer, sending the software trigger first in that mode.

        A failed or incomplete buffer comes back as a Grab with `error` and no image. In software
        trigger mode, a trigger that brings no image within `timeout_s` also gives a Grab with
        `error` (the part was there); a camera not ready for the trigger gives None.
        """
        camera = self._require_open()
        timeout_ms = max(0, int(timeout_s * 1000))
        triggered = False
        try:
            self._check_present(camera)
            if self.trigger is TriggerMode.SOFTWARE:
                self._discard_late_frames(camera)
                if not camera.WaitForFrameTriggerReady(timeout_ms, pylon.TimeoutHandling_Return):
                    return None
                camera.ExecuteSoftwareTrigger()
                triggered = True
            result = camera.RetrieveResult(timeout_ms, pylon.TimeoutHandling_Return)
        except genicam.GenericException as exc:
            raise self._failure(camera, exc) from exc
        captured_mono = time.monotonic()
        captured_at = utc_now()
        assert self._settings is not None
        if not result.IsValid():
            self._check_present(camera)
            if not triggered:
                return None
            self._frames += 1
            return Grab(captured_at=captured_at, captured_mono=captured_mono, settings=self._settings,
                        error=f"camera sent no image within {timeout_ms} ms of the software trigger",
                        frame_id=self._frames)
        try:
            self._frames += 1
            if not result.GrabSucceeded():
                self._check_present(camera)
                error = (f"camera buffer failed: {result.GetErrorDescription()} "
                         f"(code 0x{result.GetErrorCode() & 0xFFFFFFFF:08X})")
                log.warning("%s: %s", self.name, error)
                return Grab(captured_at=captured_at, captured_mono=captured_mono, settings=self._settings,
                            error=error, frame_id=self._frames)
            image = self._mono8(result)
        except genicam.GenericException as exc:
            raise self._failure(camera, exc) from exc
        finally:
            result.Release()
        return Grab(captured_at=captured_at, captured_mono=captured_mono, settings=self._settings,
                    image=image, frame_id=self._frames)

    def settings(self) -> CameraSettings:
        """Exposure, gain and frame size read back from the camera's nodes now."""
        camera = self._require_open()
        try:
            self._settings = self._read_settings(camera)
        except genicam.GenericException as exc:
            raise self._failure(camera, exc) from exc
        return self._settings

    def set_exposure(self, exposure_us: float) -> float:
        """Write the exposure time (µs) to the camera; return the value it accepted (also kept for reconnects)."""
        camera = self._require_open()
        node = camera.GetNodeMap().GetNode(self._exposure_node)
        accepted = self._write_float(camera, node, float(exposure_us), "exposure time", "µs")
        self.exposure_us = accepted
        self.settings()
        log.info("%s: exposure set to %.1f us", self.name, accepted)
        return accepted

    def set_gain(self, gain_db: float) -> float:
        """Write the gain (dB) to the camera; return the value it accepted (also kept for reconnects)."""
        camera = self._require_open()
        if not self._gain_node:
            raise CameraError(f"camera {self.name} sets gain only in raw units, not in dB",
                              "set the gain in pylon Viewer and save it as the camera's startup user set")
        node = camera.GetNodeMap().GetNode(self._gain_node)
        accepted = self._write_float(camera, node, float(gain_db), "gain", "dB")
        self.gain_db = accepted
        self.settings()
        log.info("%s: gain set to %.2f dB", self.name, accepted)
        return accepted

    def reconnect(self) -> bool:
        """Drop the lost device, look for the same camera (same serial) again and reapply the settings."""
        self.close()
        try:
            self.open()
        except CameraError as exc:
            self._lost = True
            log.info("%s not back yet: %s", self.name, exc)
            return False
        return True

    def buffer_counters(self) -> dict[str, int]:
        """pylon's stream counters since open: buffers in total, failed, and lost for want of a free buffer."""
        camera = self._require_open()
        nodes = camera.GetStreamGrabberNodeMap()
        names = {"total": "Statistic_Total_Buffer_Count", "failed": "Statistic_Failed_Buffer_Count",
                 "underrun": "Statistic_Buffer_Underrun_Count"}
        return {key: int(nodes.GetNode(name).Value) for key, name in names.items()
                if genicam.IsReadable(nodes.GetNode(name))}

    # --- fault drills on the emulated camera (commissioning, training, tests) -------------------
    def inject_failed_buffers(self, count: int = 1) -> None:
        """Make the emulated camera deliver its next `count` buffers as failed (ForceFailedBuffer)."""
        nodes = self._emulator_nodes("failed buffers")
        nodes.GetNode("ForceFailedBufferCount").Value = int(count)
        nodes.GetNode("ForceFailedBuffer").Execute()

    def simulate_removal(self) -> None:
        """Make pylon report the emulated camera as removed, as if its cable were pulled (FirePnPCallback)."""
        self._emulator_nodes("camera removal").GetNode("FirePnPCallback").Execute()

    def _emulator_nodes(self, drill: str):
        camera = self._require_open()
        if camera.GetDeviceInfo().GetDeviceClass() != EMULATOR_DEVICE_CLASS:
            raise CameraError(f"{drill} can only be simulated on pylon's emulated camera, not on {self.name}",
                              "switch camera.kind to emulated for fault drills")
        return camera.GetNodeMap()

    # --- opening and configuring ---------------------------------------------------------------
    def _create_camera(self) -> pylon.InstantCamera:
        factory = pylon.TlFactory.GetInstance()
        wanted = self.serial or self._bound_serial
        try:
            devices = list(factory.EnumerateDevices())
        except genicam.GenericException as exc:
            raise CameraError(f"the list of cameras cannot be read ({_plain(exc)})",
                              "restart the station; if it repeats, reinstall the pylon runtime") from exc
        if wanted:
            matches = [d for d in devices if d.GetSerialNumber() == wanted]
        else:
            # Never pick up pylon's emulator by accident on a real line.
            matches = [d for d in devices if d.GetDeviceClass() != EMULATOR_DEVICE_CLASS]
        if not matches:
            what = f"Basler camera {wanted} not found" if wanted else "no Basler camera found"
            raise CameraError(what, "check the camera's power and cable (for GigE: the network adapter and "
                                    "IP settings), and camera.serial in the station file; then press Reconnect")
        info = matches[0]
        label = f"Basler {info.GetModelName()} {info.GetSerialNumber()}"
        camera = None
        try:
            camera = pylon.InstantCamera(factory.CreateDevice(info))
            _enable_migration_mode(camera)
            camera.Open()
        except genicam.GenericException as exc:
            if camera is not None:
                with contextlib.suppress(genicam.GenericException):
                    camera.DestroyDevice()
            raise CameraError(f"camera {label} cannot be opened ({_plain(exc)})",
                              "close other programs using it (such as pylon Viewer), then press Reconnect") from exc
        self._bound_serial = info.GetSerialNumber()
        self.name = label
        return camera

    def _configure(self, camera: pylon.InstantCamera, image_size: tuple[int, int] | None) -> None:
        nodes = camera.GetNodeMap()
        if self.emulator_images is not None:
            _set(nodes, "TestImageSelector", "Off")
            _set(nodes, "ImageFileMode", "On")
            _set(nodes, "ImageFilename", str(self.emulator_images.resolve()))
        self._set_pixel_format(nodes)
        self._set_roi(nodes, image_size)
        for auto in ("ExposureAuto", "GainAuto"):
            _set(nodes, auto, "Off", required=False)
        _set(nodes, "ExposureMode", "Timed", required=False)
        self._exposure_node = _first_available(nodes, "ExposureTime", "ExposureTimeAbs")
        if not self._exposure_node:
            raise CameraError(f"camera {self.name} offers no exposure time setting",
                              "use a Basler camera model supported by the station")
        self._gain_node = _first_available(nodes, "Gain", "GainAbs")
        self.exposure_us = self._write_float(camera, nodes.GetNode(self._exposure_node), self.exposure_us,
                                             "exposure time", "µs")
        if self._gain_node:
            self.gain_db = self._write_float(camera, nodes.GetNode(self._gain_node), self.gain_db, "gain", "dB")
        else:
            log.warning("%s sets gain only in raw units; the station leaves gain as the camera has it", self.name)
        self._set_trigger(nodes)
        self._set_frame_rate(nodes)

    def _set_pixel_format(self, nodes) -> None:
        node = nodes.GetNode("PixelFormat")
        if not genicam.IsWritable(node):
            return
        formats = list(node.Symbolics)
        if self.pixel_format and self.pixel_format not in formats:
            raise CameraError(f"camera {self.name} offers no pixel format {self.pixel_format} "
                              f"(it offers {', '.join(formats)})", "choose one of the formats it offers")
        mono = self.pixel_format or ("Mono8" if "Mono8" in formats else
                                     next((f for f in formats if f.startswith("Mono")), ""))
        if mono:
            node.Value = mono
        # Mono10/12/16 are shifted to their upper 8 bits per frame (_mono8); anything else (packed, Bayer...)
        # is converted to Mono8 by pylon's converter.
        self._converter = None

    def _set_roi(self, nodes, image_size: tuple[int, int] | None) -> None:
        width, height = nodes.GetNode("Width"), nodes.GetNode("Height")
        offset_x, offset_y = nodes.GetNode("OffsetX"), nodes.GetNode("OffsetY")
        # Offsets to their minimum first, so that any width and height fits while they change.
        for offset in (offset_x, offset_y):
            if genicam.IsWritable(offset):
                offset.Value = offset.Min
        if image_size is not None:
            sensor_w, sensor_h = image_size          # the emulator's "sensor" is the images' size
        else:
            sensor_w = _int_value(nodes, "WidthMax") or int(width.Max)
            sensor_h = _int_value(nodes, "HeightMax") or int(height.Max)
        roi = self.roi
        want_w = roi.width or sensor_w - roi.x
        want_h = roi.height or sensor_h - roi.y
        if roi.x + want_w > sensor_w or roi.y + want_h > sensor_h or want_w <= 0 or want_h <= 0:
            raise CameraError(
                f"frame ROI x={roi.x} y={roi.y} {want_w}x{want_h} does not fit the {sensor_w}x{sensor_h} sensor "
                f"of camera {self.name}", "make the ROI smaller or move it inside the sensor (camera settings, ROI)")
        applied = []
        for node, value in ((width, want_w), (height, want_h), (offset_x, roi.x), (offset_y, roi.y)):
            if genicam.IsWritable(node):
                node.Value = _align(node, value)
            applied.append(int(node.Value))
        if applied != [want_w, want_h, roi.x, roi.y]:
            log.info("%s: ROI %s rounded to the camera's steps: %s", self.name,
                     [want_w, want_h, roi.x, roi.y], applied)

    def _set_trigger(self, nodes) -> None:
        selector = nodes.GetNode("TriggerSelector")
        if not genicam.IsWritable(selector) or "FrameStart" not in selector.Symbolics:
            if self.trigger is TriggerMode.FREE_RUN:
                return
            raise CameraError(f"camera {self.name} has no frame-start trigger",
                              "use free-run mode or a camera model with a trigger input")
        for other in ("AcquisitionStart", "FrameBurstStart"):
            if other in selector.Symbolics:  # would hold frames back until a second trigger
                selector.Value = other
                _set(nodes, "TriggerMode", "Off", required=False)
        selector.Value = "FrameStart"
        _set(nodes, "AcquisitionMode", "Continuous", required=False)
        if self.trigger is TriggerMode.FREE_RUN:
            _set(nodes, "TriggerMode", "Off")
            return
        _set(nodes, "TriggerMode", "On")
        _set(nodes, "TriggerSource", "Software" if self.trigger is TriggerMode.SOFTWARE else "Line1")

    def _set_frame_rate(self, nodes) -> None:
        limit = self.trigger is TriggerMode.FREE_RUN and self.rate_hz > 0
        enable = nodes.GetNode("AcquisitionFrameRateEnable")
        if genicam.IsWritable(enable):
            enable.Value = limit
        if limit:
            name = _first_available(nodes, "AcquisitionFrameRate", "AcquisitionFrameRateAbs")
            if name:
                self._write_float(None, nodes.GetNode(name), self.rate_hz, "frame rate", "Hz")

    def _read_settings(self, camera: pylon.InstantCamera) -> CameraSettings:
        nodes = camera.GetNodeMap()
        gain = float(nodes.GetNode(self._gain_node).Value) if self._gain_node else math.nan
        return CameraSettings(source=self.name, exposure_us=float(nodes.GetNode(self._exposure_node).Value),
                              gain_db=gain, width=int(nodes.GetNode("Width").Value),
                              height=int(nodes.GetNode("Height").Value))

    def _write_float(self, camera: pylon.InstantCamera | None, node, value: float, what: str, unit: str) -> float:
        try:
            low, high = float(node.Min), float(node.Max)
            if not low <= value <= high:
                raise CameraError(f"{what} {value:g} {unit} is outside the range of camera {self.name} "
                                  f"({low:g} to {high:g} {unit})",
                                  f"enter a {what} between {low:g} and {high:g} {unit}")
            node.Value = value
            return float(node.Value)
        except genicam.GenericException as exc:
            if camera is not None and _removed(camera):
                raise CameraLost(f"camera {self.name} was disconnected", _LOST_TODO) from exc
            raise CameraError(f"camera {self.name} refused {what} {value:g} {unit} ({_plain(exc)})",
                              "try another value; if it repeats, press Reconnect") from exc

    # --- grabbing -------------------------------------------------------------------------------
    def _require_open(self) -> pylon.InstantCamera:
        if self._camera is None and self._lost:
            raise CameraLost(f"camera {self.name} is not connected", _LOST_TODO)
        if self._camera is None:
            raise CameraError(f"camera {self.name} is not open", "press Reconnect or restart the station")
        return self._camera

    def _check_present(self, camera: pylon.InstantCamera) -> None:
        if _removed(camera):
            raise CameraLost(f"camera {self.name} was disconnected", _LOST_TODO)

    def _failure(self, camera: pylon.InstantCamera, exc: genicam.GenericException) -> CameraError:
        if _removed(camera) or isinstance(exc, (genicam.RuntimeException, genicam.TimeoutException)):
            return CameraLost(f"camera {self.name} stopped answering ({_plain(exc)})", _LOST_TODO)
        return CameraError(f"camera {self.name} refused a command ({_plain(exc)})",
                           "press Reconnect; if it repeats, restart the station and call service")

    def _discard_late_frames(self, camera: pylon.InstantCamera) -> None:
        """Drop frames of earlier triggers that arrived after their grab gave up, so trigger and frame stay paired."""
        late = 0
        while late < 64:
            result = camera.RetrieveResult(0, pylon.TimeoutHandling_Return)
            if not result.IsValid():
                break
            result.Release()
            late += 1
        if late:
            log.warning("%s: %d late frame(s) discarded (their parts were already reported without image)",
                        self.name, late)

    def _mono8(self, result) -> np.ndarray:
        pixel_type = result.GetPixelType()
        if pixel_type == pylon.PixelType_Mono8:
            image = result.GetArray()           # a copy; the buffer goes back to the camera right after
        elif pixel_type in _DEEP_MONO:          # the bit depth the format declares, never the frame's brightest pixel
            image = to_8bit(result.GetArray(), self.name, _DEEP_MONO[pixel_type])
        else:
            if self._converter is None:
                self._converter = pylon.ImageFormatConverter()
                self._converter.OutputPixelFormat = pylon.PixelType_Mono8
            image = self._converter.Convert(result).GetArray()
        return np.ascontiguousarray(image, dtype=np.uint8)


# --- node helpers -------------------------------------------------------------------------------
def _set(nodes, name: str, value, *, required: bool = True) -> None:
    """Write a node by name; a missing or read-only node is an error only when `required`."""
    node = nodes.GetNode(name)
    if genicam.IsWritable(node):
        node.Value = value
    elif required:
        raise CameraError(f"camera setting {name} cannot be written", "check the camera model and firmware")


def _first_available(nodes, *names: str) -> str:
    """The first of `names` the camera offers for writing, or ''."""
    return next((name for name in names if genicam.IsWritable(nodes.GetNode(name))), "")


def _int_value(nodes, name: str) -> int:
    node = nodes.GetNode(name)
    return int(node.Value) if genicam.IsReadable(node) else 0


def _align(node, value: int) -> int:
    """`value` rounded down to the node's increment and kept within its limits."""
    low, high, step = int(node.Min), int(node.Max), max(1, int(node.Inc))
    value = low + (max(value, low) - low) // step * step
    return min(value, high - (high - low) % step)


def _removed(camera: pylon.InstantCamera) -> bool:
    try:
        return bool(camera.IsCameraDeviceRemoved())
    except genicam.GenericException:
        return True


def _enable_migration_mode(camera: pylon.InstantCamera) -> None:
    """On older (SFNC 1) cameras, let pylon offer the standard names ExposureTime and Gain (dB)."""
    node = camera.GetTLNodeMap().GetNode("MigrationModeEnable")
    if genicam.IsWritable(node):
        node.Value = True


def _plain(exc: BaseException) -> str:
    """pylon's message without the source-file trailer."""
    text = str(exc).strip()
    return re.sub(r"\s*:\s*\w*Exception thrown.*$", "", text, flags=re.S) or type(exc).__name__


def _emulator_index(serial: str) -> int:
    match = re.fullmatch(r"0815-(\d{4})", serial)
    return int(match.group(1)) if match else 0


def _emulator_image_size(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Check every entry pylon's emulator will load from `path` is a readable image of one size; (width, height)."""
    if not path.exists():
        raise CameraError(f"demo image folder {path} does not exist",
                          "reinstall the station, or set camera.replay_path to a folder of images")
    entries = sorted(path.iterdir(), key=lambda p: p.name) if path.is_dir() else [path]
    if not entries:
        raise CameraError(f"demo image folder {path} is empty", "copy PNG, BMP, JPEG or TIFF images into it")
    todo = "the camera emulation replays every entry of the folder: remove or replace it"
    sizes: dict[tuple[int, int], str] = {}
    for entry in entries:
        if not entry.is_file():  # the emulator would open a pipe too, and wait on it for ever
            kind = special_kind(os.stat(entry).st_mode) if entry.exists() else "a link to nothing"
            raise CameraError(f"{entry.name} in {path} is {kind}, not an image file", todo)
        if entry.suffix.lower() not in IMAGE_SUFFIXES:
            raise CameraError(f"{entry.name} in {path} is not a PNG, BMP, JPEG or TIFF image", todo)
        try:
            image = read_mono8(entry, max_pixels)
        except ImageError as exc:
            raise CameraError(f"{exc.what} (in {path})", todo) from exc
        sizes.setdefault((int(image.shape[1]), int(image.shape[0])), entry.name)
    if len(sizes) > 1:
        listed = ", ".join(f"{name} is {w}x{h}" for (w, h), name in sizes.items())
        raise CameraError(f"images in {path} differ in size ({listed})", "use images of one size")
    return next(iter(sizes))
