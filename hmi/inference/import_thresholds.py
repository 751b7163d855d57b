"""`hmi model import --good DIR`: the station's own default thresholds for an imported anomaly model.

The imported model scores the good parts in DIR, and the tail fit that `hmi teach` uses on its held-out good
parts (hmi.inference.teach_thresholds.calibrate) sets the threshold, the HOLD band under it and the region
threshold, on the model's own score scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hmi.core.errors import ModelError
from hmi.core.image_files import list_images
from hmi.inference.inspector import Inspector, read_image
from hmi.inference.package import Manifest, ModelPackage, score_range
from hmi.inference.teach_thresholds import calibrate, heldout_needed

MIN_GOOD = 5


def good_scores(package: ModelPackage, folder: Path) -> np.ndarray:
    """The package's scores of the image files in `folder` (ModelError when there are too few to fit)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"--good folder {folder} does not exist", "give a folder of images of good parts")
    files = list_images(folder).files
    if len(files) < MIN_GOOD:
        raise ModelError(f"--good folder {folder} holds {len(files)} images; at least {MIN_GOOD} are needed",
                         f"add images of good parts ({heldout_needed()} or more give a reliable threshold)")
    inspector = Inspector(package, provider="cpu")
    return np.array([inspector.inspect(read_image(p)).score for p in files], np.float64)


def fit_to_good_parts(package: ModelPackage, folder: Path) -> Manifest:
    """The package's manifest with default thresholds fitted to the good parts in `folder`."""
    scores = good_scores(package, folder)
    low, _ = score_range(package.manifest)
    floored = int(np.sum(scores <= low))
    if floored > len(scores) // 2:
        raise ModelError(f"{floored} of the {len(scores)} good parts score {low:g}, the lowest score the model gives "
                         "(anomalib's normalisation clips them there), so their spread is lost and no threshold can "
                         "be fitted to them", "leave out --good: anomalib's own threshold (0.5) is kept")
    cal = calibrate(scores)
    m = package.manifest
    extra = dict(m.extra)
    extra["thresholds_from"] = (f"tail fit on {len(scores)} good parts ({Path(folder).name}): at most "
                                f"{cal.false_reject:.0%} rejected, about {cal.hold_share:.0%} held")
    extra["anomalib_threshold"] = 0.5
    training = m.training.model_copy(update={"heldout_images": len(scores),
                                             "heldout_scores": [round(float(s), 6) for s in scores]})
    return m.model_copy(update={"thresholds": cal.thresholds, "region_threshold": cal.region_threshold,
                                "extra": extra, "training": training})
