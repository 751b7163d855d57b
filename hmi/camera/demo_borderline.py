"""The demo camera's occasional borderline part, slipped into the frames of another source."""

from __future__ import annotations

import dataclasses

from hmi.camera.source import FrameSource, Grab, WrappedSource
from hmi.demo.faint import render_borderline
from hmi.demo.stream import DEMO_LINE_SEED, borderline_parts, borderline_seed


class WithBorderlineParts(WrappedSource):
    """`inner` (the emulated camera replaying the demo frames), with a faint-rub part where the plan says.

    Every grab with an image is one part; on the parts `borderline_parts(seed)` names, the frame
    is replaced by a freshly rendered borderline part of the same size (timestamps, frame id and
    settings stay the camera's). Everything else goes to `inner` unchanged.
    """

    def __init__(self, inner: FrameSource, seed: int = DEMO_LINE_SEED) -> None:
        super().__init__(inner)
        self.seed = seed
        self.parts = 0  # grabs with an image so far, over reconnects
        self.borderline = 0  # borderline parts delivered so far
        self._plan = borderline_parts(seed)
        self._next = next(self._plan)

    def grab(self, timeout_s: float) -> Grab | None:
        """The camera's next grab, its image replaced when this part is a borderline one."""
        grab = self.inner.grab(timeout_s)
        if grab is None or grab.image is None:
            return grab
        part, self.parts = self.parts, self.parts + 1
        if part != self._next:
            return grab
        self._next = next(self._plan)
        height, width = grab.image.shape[:2]
        side = max(height, width)
        if side < 64:  # not the demo frames: nothing sensible to draw
            return grab
        image = render_borderline(borderline_seed(self.seed, self.borderline), side).image
        self.borderline += 1
        y0, x0 = (side - height) // 2, (side - width) // 2
        return dataclasses.replace(grab, image=image[y0:y0 + height, x0:x0 + width].copy())
