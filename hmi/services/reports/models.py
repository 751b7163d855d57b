"""Teach-time figures of the model versions the records name, read from their packages' manifests."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import ValidationError

from hmi.config.paths import shipped_models_dir
from hmi.inference.package import MANIFEST, Manifest

log = logging.getLogger(__name__)


class ModelBaselines:
    """Finds a model version's manifest by its SHA-256 in DATA_DIR/models and the shipped models."""

    def __init__(self, data_dir: Path | None, extra_dirs: tuple[Path, ...] = ()) -> None:
        dirs = [*extra_dirs]
        if data_dir is not None:
            dirs.append(Path(data_dir) / "models")
        dirs.append(shipped_models_dir())
        self.dirs = tuple(dirs)
        self._by_sha: dict[str, Manifest] | None = None

    def _scan(self) -> dict[str, Manifest]:
        found: dict[str, Manifest] = {}
        for folder in self.dirs:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob(f"*/{MANIFEST}")):
                try:
                    manifest = Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError, ValidationError) as exc:
                    log.warning("reports: manifest %s skipped (%s)", path, str(exc).splitlines()[0])
                    continue
                found.setdefault(manifest.sha256, manifest)
        return found

    def manifest(self, sha256: str) -> Manifest | None:
        """The manifest of model version `sha256`, or None when no package of it is on this station."""
        if self._by_sha is None:
            self._by_sha = self._scan()
        return self._by_sha.get(sha256)

    def heldout_scores(self, sha256: str) -> list[float]:
        """Scores of the held-out good images the model was taught with ([] when unknown)."""
        manifest = self.manifest(sha256)
        return list(manifest.training.heldout_scores) if manifest is not None else []
