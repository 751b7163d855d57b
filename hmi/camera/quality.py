"""Image checks for setting up camera and lighting, and auto-exposure to a target brightness.

Pure NumPy/OpenCV: the camera screen measures the newest frame with `measure`, and drives the
camera's exposure with `AutoExposure`, which only sees two callables (write an exposure, measure
the mean of a frame taken with it), so the same controller runs against the station's camera and
against a model of one in the tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from hmi.core.errors import CameraError, StationError
from hmi.core.part import Part

GRID_CELLS = 5
MAX_GREY = 255


@dataclass(frozen=True)
class ImageQuality:
    """What a technician checks on one frame: brightness, clipping, focus and evenness of the light."""

    mean: float
    histogram: np.ndarray = field(repr=False)   # 256 pixel counts, one per grey level
    dark_pct: float                             # share of pixels at 0 (clipped black), in %
    bright_pct: float                           # share of pixels at the maximum (clipped white), in %
    focus: float                                # variance of the Laplacian: higher is sharper
    uniformity: np.ndarray = field(repr=False)  # cell against the reference (or the centre cell), rows x columns
    against_reference: bool = False             # True: against the lighting reference's grid, else the centre

    @property
    def clipped_pct(self) -> float:
        """Share of pixels clipped at either end, in %."""
        return self.dark_pct + self.bright_pct

    @property
    def worst_cell_pct(self) -> float:
        """The largest deviation of a grid cell from the reference (or the centre cell), in % (signed)."""
        deviation = (self.uniformity - 1.0) * 100.0
        flat = deviation.ravel()
        return float(flat[int(np.argmax(np.abs(flat)))])


def grey(image: np.ndarray) -> np.ndarray:
    """The frame as one uint8 grey plane (RGB is converted, Mono8 passes as it is)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"image checks need 8-bit pixels, not {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"image of shape {img.shape} is not a frame")
    return img


def histogram(image: np.ndarray) -> np.ndarray:
    """Pixel count per grey level 0..255 (int64, 256 entries)."""
    return np.bincount(grey(image).ravel(), minlength=256).astype(np.int64)


def frame_mean(image: np.ndarray) -> float:
    """Mean grey level of the frame."""
    return float(grey(image).mean())


def clipped_shares(image: np.ndarray) -> tuple[float, float]:
    """(% of pixels at 0, % of pixels at 255): light the camera can no longer tell apart."""
    counts = histogram(image)
    total = float(counts.sum())
    return 100.0 * counts[0] / total, 100.0 * counts[MAX_GREY] / total


def focus_score(image: np.ndarray) -> float:
    """Variance of the Laplacian: grows with sharp edges, falls when the lens is out of focus.

    Only comparable between frames of the same scene and lighting: turn the focus ring for the
    highest value, not towards a fixed number.
    """
    return float(cv2.Laplacian(grey(image), cv2.CV_64F, ksize=3).var())


def cell_means(image: np.ndarray, cells: int = GRID_CELLS) -> np.ndarray:
    """Mean grey of each cell of a `cells` x `cells` grid over the frame."""
    img = grey(image).astype(np.float64)
    h, w = img.shape
    if h < cells or w < cells:
        raise ValueError(f"a {w}x{h} frame is too small for a {cells}x{cells} grid")
    ys = np.linspace(0, h, cells + 1).round().astype(int)
    xs = np.linspace(0, w, cells + 1).round().astype(int)
    return np.array([[img[ys[r]:ys[r + 1], xs[c]:xs[c + 1]].mean() for c in range(cells)] for r in range(cells)])


def uniformity_grid(image: np.ndarray, cells: int = GRID_CELLS) -> np.ndarray:
    """Mean of each cell of a `cells` x `cells` grid divided by the centre cell's mean (1.0 = as bright)."""
    if cells < 1 or cells % 2 == 0:
        raise ValueError("the uniformity grid needs an odd number of cells, so that it has a centre cell")
    means = cell_means(image, cells)
    centre = means[cells // 2, cells // 2]
    # A black centre cell makes every ratio meaningless; say "no light" as 0 rather than infinity.
    return means / centre if centre > 0 else np.zeros_like(means)


def light_grid(image: np.ndarray, cells: int = GRID_CELLS) -> np.ndarray:
    """Each cell's mean as a share of the frame's mean (1.0 = average): the light pattern a reference keeps."""
    means = cell_means(image, cells)
    whole = float(means.mean())
    return means / whole if whole > 0 else np.zeros_like(means)


def measure(image: np.ndarray, cells: int = GRID_CELLS, reference: Sequence[float] = ()) -> ImageQuality:
    """Every check on one frame; evenness against the lighting reference's grid when one of this size is given.

    Against the centre cell, a part with a dark bore in the middle looks like uneven light everywhere;
    against the same good part's pattern kept with the lighting reference, only a change of the light
    (a lamp failing on one side) or of the part stands out.
    """
    img = grey(image)
    counts = histogram(img)
    total = float(counts.sum())
    kept = np.asarray(reference, np.float64)
    if kept.size == cells * cells and np.all(kept > 0):
        uniformity, against = light_grid(img, cells) / kept.reshape(cells, cells), True
    else:
        uniformity, against = uniformity_grid(img, cells), False
    return ImageQuality(mean=float(img.mean()), histogram=counts, dark_pct=100.0 * counts[0] / total,
                        bright_pct=100.0 * counts[MAX_GREY] / total, focus=focus_score(img),
                        uniformity=uniformity, against_reference=against)


# --- auto-exposure ----------------------------------------------------------------------------------
def next_exposure(current_us: float, mean: float, target: float, *, min_us: float, max_us: float,
                  max_ratio: float = 4.0, response: float = 1.0) -> float:
    """The exposure that should bring `mean` to `target`, assuming mean ~ exposure ** `response`.

    `response` is 1 for a linear sensor; the controller measures it between steps, so a camera
    with a gamma curve is not overshot. One step changes the exposure by at most `max_ratio` either
    way (a black or clipped frame says little about how far off it is), and the result stays within
    the camera's range.
    """
    if current_us <= 0 or min_us <= 0 or max_us < min_us or response <= 0:
        raise ValueError("exposures, their range and the response must be positive")
    ratio = (target / max(mean, 0.5)) ** (1.0 / response)
    ratio = min(max(ratio, 1.0 / max_ratio), max_ratio)
    return float(min(max(current_us * ratio, min_us), max_us))


@dataclass(frozen=True)
class ExposureStep:
    """One exposure tried and the mean grey level of a frame taken with it."""

    exposure_us: float
    mean: float


@dataclass(frozen=True)
class AutoExposureResult:
    """How an auto-exposure run ended: the exposure left in force, and why when it did not reach the target."""

    converged: bool
    exposure_us: float
    mean: float
    target: float
    steps: tuple[ExposureStep, ...]
    problem: str = ""

    @property
    def words(self) -> str:
        """The outcome in one sentence for the screen."""
        if self.converged:
            return (f"Auto exposure reached mean {self.mean:.0f} (target {self.target:.0f}) at "
                    f"{self.exposure_us:.0f} µs in {len(self.steps) - 1} step(s)")
        return self.problem


class AutoExposure:
    """Steps the exposure until a frame's mean grey level is within `tolerance` of `target_mean`.

    Each step writes the proportional estimate (`next_exposure`) and measures a frame taken with
    it. The run stops when the target is reached, when the exposure is at the end of its range and
    still too dark or too bright, when the image does not follow the exposure at all (two steps in a
    row without a change of brightness: a fixed test image, a frozen camera), after `max_steps`, or
    when cancelled. A run that does not reach the target writes the starting exposure back, so a
    failed attempt leaves the camera as it was.
    """

    def __init__(self, target_mean: float, *, tolerance: float = 4.0, min_us: float = 20.0,
                 max_us: float = 100_000.0, max_steps: int = 8) -> None:
        if not 5.0 <= target_mean <= 250.0:
            raise StationError(f"a target brightness of {target_mean:.0f} grey levels cannot be reached reliably",
                               "choose a target between 5 and 250 (about 100 to 140 suits most parts)")
        if tolerance <= 0 or max_steps < 1 or min_us <= 0 or max_us < min_us:
            raise ValueError("tolerance, steps and exposure range must be positive")
        self.target = float(target_mean)
        self.tolerance = float(tolerance)
        self.min_us = float(min_us)
        self.max_us = float(max_us)
        self.max_steps = int(max_steps)

    def reached(self, mean: float) -> bool:
        """True when `mean` is within the tolerance of the target."""
        return abs(mean - self.target) <= self.tolerance

    def run(self, start_us: float, set_exposure: Callable[[float], float], measure_mean: Callable[[], float],
            cancelled: Callable[[], bool] = lambda: False) -> AutoExposureResult:
        """Drive the exposure from `start_us` (the value in force); `set_exposure` returns what the camera accepted."""
        exposure = float(start_us)
        mean = float(measure_mean())
        steps = [ExposureStep(exposure, mean)]
        flat_steps = 0
        response = 1.0
        problem = ""
        while not self.reached(mean):
            if cancelled():
                problem = "Auto exposure was cancelled"
                break
            if len(steps) > self.max_steps:
                problem = (f"Auto exposure did not reach mean {self.target:.0f} in {self.max_steps} steps "
                           f"(last {mean:.0f}): the brightness does not follow the exposure steadily; check for "
                           "flickering light, then set the exposure by hand")
                break
            wanted = next_exposure(exposure, mean, self.target, min_us=self.min_us, max_us=self.max_us,
                                   response=response)
            if math.isclose(wanted, exposure, rel_tol=1e-3):
                problem = self._at_limit(exposure, mean)
                break
            accepted = float(set_exposure(wanted))
            new_mean = float(measure_mean())
            steps.append(ExposureStep(accepted, new_mean))
            changed_a_lot = max(accepted, exposure) / max(min(accepted, exposure), 1e-9) >= 1.2
            # Saturated frames do not change either; only a mid-grey frame that ignores the exposure says
            # the image does not come through the sensor.
            on_the_rails = new_mean <= 2.0 or new_mean >= MAX_GREY - 2.0
            if changed_a_lot and abs(new_mean - mean) < 1.0 and not on_the_rails:
                flat_steps += 1
            else:
                flat_steps = 0
            response = self._response(response, exposure, mean, accepted, new_mean)
            exposure, mean = accepted, new_mean
            if flat_steps >= 2:
                problem = (f"The image brightness does not follow the exposure (mean stays at {mean:.0f} from "
                           f"{steps[-3].exposure_us:.0f} to {exposure:.0f} µs): the camera may show a fixed test "
                           "image, or the frames are not coming from the sensor; set the exposure by hand")
                break
        if not problem:
            return AutoExposureResult(True, exposure, mean, self.target, tuple(steps))
        restored = float(set_exposure(start_us)) if not math.isclose(exposure, start_us, rel_tol=1e-6) else exposure
        return AutoExposureResult(False, restored, steps[0].mean, self.target, tuple(steps),
                                  f"{problem}. The exposure was set back to {restored:.0f} µs.")

    @staticmethod
    def _response(last: float, e0: float, m0: float, e1: float, m1: float) -> float:
        """How brightness grows with exposure (log-log slope of the last step), kept within 0.3 .. 3."""
        if min(m0, m1) <= 2.0 or max(m0, m1) >= MAX_GREY - 2.0 or abs(math.log(e1 / e0)) < 0.05:
            return last  # a clipped or tiny step says nothing about the curve
        slope = math.log(m1 / m0) / math.log(e1 / e0)
        return min(max(slope, 0.3), 3.0)

    def _at_limit(self, exposure: float, mean: float) -> str:
        if mean < self.target:
            return (f"The image is still too dark (mean {mean:.0f}, target {self.target:.0f}) at the longest "
                    f"exposure allowed, {self.max_us:.0f} µs: add light, open the aperture, or raise the gain")
        return (f"The image is still too bright (mean {mean:.0f}, target {self.target:.0f}) at the shortest "
                f"exposure allowed, {self.min_us:.0f} µs: reduce the light or close the aperture")


def next_frame(peek: Callable[[], tuple[int, Part | None]], since_version: int, *,
               accept: Callable[[Part], bool] = lambda part: True, skip: int = 1, timeout_s: float = 3.0,
               poll_s: float = 0.01, cancelled: Callable[[], bool] = lambda: False) -> Part:
    """The first part with an image that arrived after `since_version` and after `skip` further parts.

    For measuring a setting just written: `since_version` is the newest slot's version when it was
    written, `skip` drops frames that may have been exposed before, and `accept` checks the settings
    the part carries. Blocks (a background thread's job); CameraError when no such part comes in time.
    """
    deadline = time.monotonic() + timeout_s
    seen = since_version
    passed = 0
    while time.monotonic() < deadline and not cancelled():
        version, part = peek()
        if version != seen and part is not None:
            seen = version
            if part.image is not None and accept(part):
                if passed >= skip:
                    return part
                passed += 1
        time.sleep(poll_s)
    raise CameraError(f"no new image came from the camera within {timeout_s:.0f} s",
                      "check that the line is running (parts are being triggered) and the camera alarm; "
                      "then try again")


__all__ = ["AutoExposure", "AutoExposureResult", "ExposureStep", "ImageQuality", "clipped_shares", "focus_score",
           "frame_mean", "grey", "histogram", "measure", "next_exposure", "next_frame", "uniformity_grid"]
